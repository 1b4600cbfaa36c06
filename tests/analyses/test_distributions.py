"""The distributions analysis, describe_distribution, and the phases derivation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ckptscope.analyses.base import Array, CheckpointContext, Scalar, get_analysis
from ckptscope.analyses.distributions import QQ_FAMILIES, describe_distribution
from ckptscope.analyses.phases import Phases
from ckptscope.records import Bookkeeping, Label
from ckptscope.stats import FAMILIES, QUANTILE_PROBS, UNIVERSAL_GRID, UniversalGrid
from ckptscope.store import Store, TaskKey
from fakes import FakeCheckpoint, ToyAdapter


def toy_context(tensors: dict[str, torch.Tensor], step: int = 0) -> CheckpointContext:
    ckpt = FakeCheckpoint("toy", step, tensors, fail=False)
    return CheckpointContext("s", ckpt, ToyAdapter(ckpt.config()))


def toy_tensors(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {
        "embed.weight": 0.02 * torch.randn(64, 16, generator=g),
        "ln_final.weight": torch.ones(16),
    }
    for b in range(2):
        w = torch.randn(48, 16, generator=g)
        out[f"blocks.{b}.qkv.weight"] = 0.02 * w
        out[f"blocks.{b}.mlp_in.bias"] = torch.zeros(64)
    return out


def test_analysis_writes_every_weight_matrix_and_no_bias_or_norm() -> None:
    records = list(get_analysis("distributions").run(toy_context(toy_tensors())))
    tensors = {(r.component, r.block, r.param) for r in records}
    assert tensors == {
        ("embed", None, "weight"), ("qkv", 0, "weight"), ("qkv", 1, "weight"), ("qkv", None, "weight")
    }  # fmt: skip
    arrays = {(r.component, r.block, r.kind): r for r in records if isinstance(r, Array)}
    pooled = arrays[("qkv", None, "hist_pooled")]
    np.testing.assert_array_equal(
        pooled.values, arrays[("qkv", 0, "hist")].values + arrays[("qkv", 1, "hist")].values
    )
    assert ("qkv", None, "hist") not in arrays and pooled.values.sum() == 2 * 48 * 16
    hist = arrays[("qkv", 0, "hist")]
    assert hist.values.shape == (UNIVERSAL_GRID.n_bins,) and hist.values.sum() == 48 * 16
    assert UniversalGrid.from_json(hist.meta) == UNIVERSAL_GRID
    assert arrays[("qkv", 0, "quantiles")].values.shape == QUANTILE_PROBS.shape
    for kind in [f"qq_{f}" for f in QQ_FAMILIES] + ["qq_power_law"]:
        assert arrays[("qkv", 1, kind)].values.shape[0] == 2
    metrics = {r.metric: r.value for r in records if isinstance(r, Scalar) and r.block == 0}
    for name in ("t_nu", "gennorm_beta", "quartic_g", "fit_power_law_alpha"):
        assert name in metrics
    for family in FAMILIES:
        for q in ("loglik", "aic", "bic", "ks", "loc", "scale"):
            assert f"fit_{family}_{q}" in metrics
    # schema v2: each number once, the winner a label, bookkeeping not a metric
    assert not {"fit_student_t_nu", "fit_gennorm_beta", "fit_quartic_g"} & set(metrics)
    assert not {"n_values", "n_fit", "degenerate", "n_nonfinite", "fit_winner"} & set(metrics)
    (winner,) = [r for r in records if isinstance(r, Label) and r.block == 0]
    assert winner.metric == "fit_winner" and winner.label in FAMILIES
    books = {r.name for r in records if isinstance(r, Bookkeeping) and r.block == 0}
    assert books == {"n_values", "n_fit", "degenerate"}
    assert all(np.isfinite(v) for v in metrics.values())


def test_records_round_trip_through_the_store(tmp_path) -> None:
    store = Store(tmp_path)
    records = list(get_analysis("distributions").run(toy_context(toy_tensors())))
    store.write_task(TaskKey("s", "toy", 0, "distributions"), records)
    hist = store.arrays(kind="hist", component="qkv")
    assert len(hist) == 2 and hist["values"].iloc[0].shape == (UNIVERSAL_GRID.n_bins,)
    assert json.loads(hist["meta"].iloc[0])["grid"] == "asinh"


def test_describe_distribution_tells_heavy_tails_from_gaussian() -> None:
    rng = np.random.default_rng(0)
    gauss = describe_distribution(rng.normal(0, 0.02, 30_000).astype(np.float32))
    heavy = describe_distribution((0.02 * rng.standard_t(3, 30_000)).astype(np.float32))
    assert gauss.fits.winner == "gaussian" and gauss.metrics()["t_nu"] > 50
    assert heavy.fits.winner == "student_t" and heavy.metrics()["t_nu"] < 4
    assert heavy.metrics()["gennorm_beta"] < gauss.metrics()["gennorm_beta"]


def test_describe_distribution_subsamples_with_a_fixed_seed() -> None:
    x = np.random.default_rng(1).logistic(size=(300, 100))
    a = describe_distribution(x, seed=3, max_samples=4000)
    b = describe_distribution(x, seed=3, max_samples=4000)
    assert a.fits.n_fit == 4000 and a.n_values == 30_000 and a.counts.sum() == 30_000
    assert a.metrics() == b.metrics()


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize(
    "values",
    [
        np.zeros((4, 4)),
        np.full(100, 0.25),
        np.array([1.0]),
        np.array([1.0, -1.0, 2.0]),
        np.array([np.nan, np.inf, -np.inf]),
        np.zeros(0),
    ],
    ids=["zeros", "constant", "one", "three", "nonfinite", "empty"],
)
def test_degenerate_tensors_give_a_degenerate_record(values) -> None:
    s = describe_distribution(values)
    m = s.metrics()
    assert m["degenerate"] == 1.0 and s.degenerate
    assert "fit_winner" not in m and "t_nu" not in m
    assert all(np.isfinite(v) for v in m.values())
    recs = s.records("resid", 0, "activation")
    kinds = {r.kind for r in recs if isinstance(r, Array)}
    assert "hist" in kinds
    assert not any(k.startswith("qq_") for k in kinds)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_nonfinite_values_are_dropped_and_counted() -> None:
    x = np.random.default_rng(2).normal(size=1000)
    x[:3] = [np.nan, np.inf, -np.inf]
    m = describe_distribution(x).metrics()
    assert m["n_nonfinite"] == 3 and m["n_values"] == 1000 and m["n_fit"] == 997
    assert m["degenerate"] == 0.0 and np.isfinite(m["t_nu"])


# -- phases ---------------------------------------------------------------------------


STEPS = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 2000, 3000, 4000, 5000]


@pytest.fixture
def phase_store(tmp_path) -> Store:
    store = Store(tmp_path)
    rng = np.random.default_rng(0)
    for i, step in enumerate(STEPS):
        recs = []
        for b in range(2):
            shifted = b == 0 and i >= 8  # block 0 leaves the Gaussian regime at step 128
            recs += [
                Scalar(
                    "qkv", b, "weight", "kurtosis", (2.3 if shifted else 0.05) + rng.normal(0, 0.03)
                ),
                Scalar("qkv", b, "weight", "t_nu", 5.0 if shifted else 1e4),
                Label("qkv", b, "weight", "fit_winner", "student_t" if shifted else "gaussian"),
                Scalar("qkv", b, "weight", "norm", 10 + 0.1 * i),  # smooth: no event
            ]
        recs.append(Scalar("embed", None, "weight", "kurtosis", 0.0 + rng.normal(0, 0.02)))
        # quiet: a zero-initialised bias growing, a LayerNorm gain jumping (norms of
        # non-matrices are not watched), heavy-tailed families swapping places
        recs.append(Scalar("mlp_in", 0, "bias", "norm", 0.0 if step == 0 else 0.1 * i))
        recs.append(Scalar("ln1", 0, "weight", "norm", 4.0 if i < 5 else 12.0))
        recs.append(
            Label("mlp_out", 0, "weight", "fit_winner", "logistic" if i < 8 else "student_t")
        )
        store.write_task(TaskKey("s", "m", step, "weights"), recs)
    return store


def test_phases_reports_one_merged_event_for_a_sudden_shift(phase_store: Store) -> None:
    derived = Phases().derive(phase_store)
    (event,) = derived.events
    assert (event.kind, event.model, event.step, event.component, event.block) == (
        "phase_change",
        "m",
        128,
        "qkv",
        0,
    )
    assert event.metric == "kurtosis"
    assert event.message.startswith("attention qkv block 0 left the Gaussian regime at step 128")
    assert "gaussian -> student_t" in event.message and "Student-t nu" in event.message
    metrics = {d.record.metric for d in derived.scalars}
    assert metrics == {"phase_change_kurtosis", "phase_change_t_nu", "phase_change_fit_winner"}
    phase_store.write_derived("phases", "s", derived)
    assert len(phase_store.events()) == 1
    # rerunning reads its own derived scalars but ignores them
    assert len(Phases().derive(phase_store).events) == 1


def test_phases_on_an_empty_store_is_empty(tmp_path) -> None:
    derived = Phases().derive(Store(tmp_path))
    assert derived.events == [] and derived.scalars == []


def test_phases_no_gaussian_regime_for_layernorm_gains_or_biases(tmp_path) -> None:
    """A LayerNorm gain (all ones at init) or a bias has no Gaussian regime to leave."""
    store = Store(tmp_path)
    for i, step in enumerate(STEPS):
        shifted = i >= 8
        recs = []
        for comp, param in (("ln1", "weight"), ("mlp_in", "bias")):
            recs += [
                Scalar(comp, 0, param, "kurtosis", 2.3 if shifted else 0.05),
                Scalar(comp, 0, param, "t_nu", 5.0 if shifted else 1e4),
                Label(comp, 0, param, "fit_winner", "student_t" if shifted else "gaussian"),
            ]
        store.write_task(TaskKey("s", "m", step, "weights"), recs)
    events = Phases().derive(store).events
    assert {(e.component, e.param) for e in events} == {("ln1", "weight"), ("mlp_in", "bias")}
    for event in events:
        assert "Gaussian" not in event.message and "changed regime at step 128" in event.message
