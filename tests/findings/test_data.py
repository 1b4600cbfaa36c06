"""FindingData: trajectories grouped in one pass equal a naive per-call filter, and the
metrics the checks read are all fetched in the one up-front scan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ckptscope.analyses.base import Scalar
from ckptscope.findings import READS, findings
from ckptscope.findings.data import FindingData
from ckptscope.store import Store
from ckptscope.store.store import TaskKey


def naive_curves(store: Store, model: str, component: str, param: str, metric: str) -> dict:
    """The reference: filter every row of the metric, then average each block's steps."""
    df = store.scalars(metric=metric, head=None)
    df = df[np.isfinite(df["value"].astype(np.float64))]
    df = df[(df["model"] == model) & (df["component"] == component) & (df["param"] == param)]
    out = {}
    for block, rows in df.groupby(df["block"].fillna(-1), sort=True):
        rows = rows.groupby("step", as_index=False)["value"].mean().sort_values("step")
        out[None if block == -1 else int(block)] = (
            rows["step"].to_numpy(np.int64),
            rows["value"].to_numpy(np.float64),
        )
    return out


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Two models, blocks 0-2 and no block, weight and bias, a step swept twice, non-finite
    values, a per-head row and a second metric; steps written out of order."""
    rng = np.random.default_rng(0)
    store = Store(tmp_path / "store")
    for model in ("m-70m", "m-160m"):
        for step in (800, 0, 200, 100):
            recs = []
            for comp, blocks in (("mlp_in", (2, 0, 1)), ("embed", (None,)), ("ln1", (0, 1))):
                for block in blocks:
                    for param in ("weight", "bias"):
                        value = float(rng.normal(10, 1))
                        if (comp, block, step) == ("mlp_in", 1, 200):
                            value = float("nan")  # a failed point: left out
                        recs.append(Scalar(comp, block, param, "norm", value))
                        recs.append(Scalar(comp, block, param, "kurtosis", value / 3))
            recs.append(Scalar("qkv", 0, "weight", "norm", 99.0, head=1))  # a head: left out
            store.write_task(TaskKey("s", model, step, "weights"), recs)
    # the same tensors swept again at one step by another analysis: points averaged
    again = [Scalar("mlp_in", b, "weight", "norm", 1.0 + b) for b in (0, 1, 2)]
    store.write_task(TaskKey("s", "m-70m", 100, "distributions"), again)
    return store


def test_curves_equal_a_naive_filter(store: Store) -> None:
    data = FindingData(store, prefetch=("norm", "kurtosis"))
    asked = 0
    for metric in ("norm", "kurtosis"):
        assert data.models(metric) == ["m-70m", "m-160m"]
        for model in ("m-70m", "m-160m", "absent"):
            for comp in ("mlp_in", "embed", "ln1", "qkv", "absent"):
                for param in ("weight", "bias", ""):
                    got = data.curves(model, comp, param, metric)
                    want = naive_curves(store, model, comp, param, metric)
                    assert list(got) == list(want)  # blocks in order, None first
                    for block, (steps, values) in want.items():
                        np.testing.assert_array_equal(got[block][0], steps)
                        np.testing.assert_allclose(got[block][1], values, rtol=1e-15)
                        asked += 1
    assert asked == 2 * 2 * (3 + 1 + 2) * 2  # every (model, block, param) had a curve
    # the averaged step and the left-out NaN are what the reference says
    steps, values = data.curves("m-70m", "mlp_in", "weight", "norm")[1]
    assert 200 not in steps and list(steps) == [0, 100, 800]
    assert data.curves("m-70m", "qkv", "weight", "norm") == {}  # only a head's row


def test_models_filter_and_unknown_metric(store: Store) -> None:
    data = FindingData(store, models=["m-160m"])
    assert data.models("norm") == ["m-160m"]
    assert data.curves("m-70m", "mlp_in", "weight", "norm") == {}
    assert data.models("no_such_metric") == []
    assert data.frame("no_such_metric").empty


def test_checks_read_only_prefetched_metrics(store: Store, monkeypatch) -> None:
    """Every metric a check asks for was fetched in the up-front scan (none read later)."""
    late: list[list[str]] = []
    real = FindingData._read

    def spy(self: FindingData, metrics: list[str]) -> None:
        if self._frames:  # the prefetch has run: this read is a metric it missed
            late.append(metrics)
        real(self, metrics)

    monkeypatch.setattr(FindingData, "_read", spy)
    df = findings(store)
    assert len(df) > 0 and set(df["model"]) >= {"m-70m", "m-160m"}
    assert late == []
    assert len(set(READS)) == len(READS)


def test_protocol_reader_without_arrow(store: Store) -> None:
    """A reader with only ``scalars`` and ``query`` (no Arrow) gives the same curves."""

    class Plain:
        def scalars(self, **where):
            return store.scalars(**where)

        def query(self, sql: str) -> pd.DataFrame:
            return store.query(sql)

    fast, plain = FindingData(store), FindingData(Plain(), prefetch=("norm",))
    for comp in ("mlp_in", "embed"):
        a = fast.curves("m-70m", comp, "weight", "norm")
        b = plain.curves("m-70m", comp, "weight", "norm")
        assert list(a) == list(b) and len(a) > 0
        for block in a:
            np.testing.assert_array_equal(a[block][0], b[block][0])
            np.testing.assert_array_equal(a[block][1], b[block][1])


def test_rows_without_a_param_match_no_curve(tmp_path: Path) -> None:
    """Only rows whose param is missing: no trajectory, and no error grouping none."""
    import pyarrow as pa

    from ckptscope.findings.data import _trajectories

    df = pd.DataFrame({"model": ["m", "m"], "component": ["resid", "resid"],
                       "param": pa.array([None, None], pa.string()).to_pandas(),
                       "block": [0, 0], "step": [0, 1], "value": [1.0, 2.0]})  # fmt: skip
    assert _trajectories(df) == {}
    df["param"] = ["", ""]
    got = _trajectories(df)["m"][("resid", "")][0]
    np.testing.assert_array_equal(got[0], [0, 1])
    np.testing.assert_array_equal(got[1], [1.0, 2.0])


def test_curves_are_copies(store: Store) -> None:
    data = FindingData(store)
    _, values = data.curves("m-70m", "embed", "weight", "norm")[None]
    values[:] = -1.0
    assert (data.curves("m-70m", "embed", "weight", "norm")[None][1] > 0).all()
