"""Each check returns the known verdict on a planted store, with evidence naming the step."""

from __future__ import annotations

import numpy as np

from ckptscope.findings import ALL_SIZES, findings
from findings.conftest import STEPS, peaked, rising


def verdicts(df, finding: str) -> dict[str, str]:
    part = df[df.finding == finding]
    return dict(zip(part.model, part.verdict, strict=True))


def evidence(df, finding: str, model: str) -> str:
    part = df[(df.finding == finding) & (df.model == model)]
    return str(part.evidence.iloc[0])


def test_f7_rise_peak_decline_against_rise_only(planted) -> None:
    rows = {}
    for b in range(4):
        for comp in ("mlp_in", "mlp_out"):
            rows[("pythia-160m", comp, b, "weight", "norm")] = peaked(peak=4)
            rows[("pythia-410m", comp, b, "weight", "norm")] = rising()
    df = findings(planted(rows))
    assert verdicts(df, "F7") == {"pythia-160m": "reproduced", "pythia-410m": "not_reproduced"}
    ev = evidence(df, "F7", "pythia-160m")
    assert f"peak 12 at step {STEPS[4]}" in ev and "8 of 8 MLP matrices" in ev
    assert "0 of 8" in evidence(df, "F7", "pythia-410m")
    # One model peaks: a size comparison needs two that do.
    assert verdicts(df, "F7-size") == {ALL_SIZES: "inconclusive"}


def test_f7_size_trend(planted) -> None:
    rows = {}
    for model, drop in (("pythia-70m", 0.3), ("pythia-160m", 0.2), ("pythia-410m", 0.1)):
        curve = [10, 11, 12, 13, 14, 14 * (1 - drop / 2), 14 * (1 - drop), 14 * (1 - drop)]
        rows[(model, "mlp_in", 0, "weight", "norm")] = curve
    df = findings(planted(rows))
    assert verdicts(df, "F7-size") == {ALL_SIZES: "reproduced"}  # smaller decline when larger
    assert "rank correlation with size -1.00" in evidence(df, "F7-size", ALL_SIZES)


def test_f6_inverted_u_over_six_blocks_against_monotone(planted) -> None:
    u = [23.9, 30.1, 37.2, 51.0, 66.2, 23.8]  # the shape measured at width 512
    mono = [10, 20, 30, 40, 50, 60]
    rows = {}
    for b in range(6):
        rows[("w512", "resid", b, "", "max_abs_ever")] = [u[b]] * len(STEPS)
        rows[("w1024", "resid", b, "", "max_abs_ever")] = [mono[b]] * len(STEPS)
    df = findings(planted(rows))
    assert verdicts(df, "F6") == {"w512": "reproduced", "w1024": "not_reproduced"}
    assert "peak at block 4" in evidence(df, "F6", "w512")


def test_f6_needs_blocks(planted) -> None:
    rows = {("w64", "resid", b, "", "max_abs_ever"): [1.0 + b] * len(STEPS) for b in range(2)}
    df = findings(planted(rows))
    assert verdicts(df, "F6") == {"w64": "inconclusive"}
    assert "2 blocks" in evidence(df, "F6", "w64")


def test_f1_heavy_tails_appear_at_a_known_step(planted) -> None:
    jump = [0.0, 0.0, 0.1, 0.1, 4.0, 5.0, 6.0, 6.0]  # heavy from index 4
    flat = [0.0, 0.05, 0.0, 0.02, 0.1, 0.0, 0.05, 0.1]
    rows = {}
    for b in range(2):
        for comp in ("qkv", "mlp_in", "mlp_out"):
            rows[("heavy", comp, b, "weight", "kurtosis")] = jump
            rows[("gauss", comp, b, "weight", "kurtosis")] = flat
        rows[("heavy", "attn_out", b, "weight", "kurtosis")] = flat
        rows[("gauss", "attn_out", b, "weight", "kurtosis")] = flat
    rows[("qkv-only", "qkv", 0, "weight", "kurtosis")] = jump  # the QKV claim, not the MLP one
    rows[("qkv-only", "mlp_in", 0, "weight", "kurtosis")] = flat
    rows[("qkv-only", "attn_out", 0, "weight", "kurtosis")] = flat
    df = findings(planted(rows))
    want = {"heavy": "reproduced", "gauss": "not_reproduced", "qkv-only": "reproduced"}
    assert verdicts(df, "F1") == want
    assert verdicts(df, "F1-mlp") == {**want, "qkv-only": "not_reproduced"}
    assert f"qkv 6.00 (above 1 from step {STEPS[4]})" in evidence(df, "F1", "heavy")
    assert "attn_out 0.10" in evidence(df, "F1", "heavy")
    assert f"mlp 6.00 (above 1 from step {STEPS[4]})" in evidence(df, "F1-mlp", "heavy")


def test_too_few_checkpoints_is_inconclusive(planted) -> None:
    rows = {("w64", "mlp_in", b, "weight", "norm"): peaked(n=3, peak=1) for b in range(4)}
    df = findings(planted(rows, steps=STEPS[:3]))
    assert verdicts(df, "F7") == {"w64": "inconclusive"}
    assert "only 3 checkpoints" in evidence(df, "F7", "w64")


def test_missing_rows_are_no_data_naming_the_analysis(planted) -> None:
    rows = {("w64", "mlp_in", 0, "weight", "norm"): rising()}
    df = findings(planted(rows))
    assert verdicts(df, "F5") == {"w64": "no_data"}
    assert "--analyses activations" in evidence(df, "F5", "w64")
    assert verdicts(df, "F14") == {"w64": "no_data"}  # norm rows exist, no embedding


def test_ln_bias_depth_order(planted) -> None:
    final = [4.23, 2.80, 1.12, 1.86, 2.14, 2.02, 1.64, 1.78, 2.19, 2.83, 3.23, 4.30]  # 160m
    rows = {
        ("pythia-160m", "ln1", b, "bias", "norm"): list(np.linspace(0.0, v, len(STEPS)))
        for b, v in enumerate(final)
    }
    df = findings(planted(rows))
    assert verdicts(df, "F10") == {"pythia-160m": "reproduced"}  # rises monotonically
    assert verdicts(df, "F10-depth") == {"pythia-160m": "not_reproduced"}
    assert "block 11 4.3, block 0 4.23" in evidence(df, "F10-depth", "pythia-160m")


def test_models_filter(planted) -> None:
    rows = {(m, "embed", None, "weight", "norm"): peaked() for m in ("w32", "w64")}
    df = findings(planted(rows), models=["w64"])
    assert set(df.model) <= {"w64", ALL_SIZES}
    assert verdicts(df, "F14") == {"w64": "reproduced"}


def test_per_head_rows_are_left_out(tmp_path) -> None:
    from ckptscope.records import Scalar
    from ckptscope.store import Store, TaskKey

    store = Store(tmp_path / "heads")
    for i, step in enumerate(STEPS):
        recs = [Scalar("qkv", b, "weight", "mp_outliers", 0.0) for b in range(2)]
        # per-head slices (head set) that grow: not the post's qkv matrices
        recs += [Scalar("q", b, "weight", "mp_outliers", float(i), head=h)
                 for b in range(2) for h in range(2)]  # fmt: skip
        store.write_task(TaskKey("s", "w64", step, "spectra"), recs)
    df = findings(store)
    assert verdicts(df, "F15-outliers") == {"w64": "not_reproduced"}
    assert "0 of 2 attention qkv matrices" in evidence(df, "F15-outliers", "w64")


def test_non_finite_points_are_left_out(planted) -> None:
    nan = float("nan")
    rows = {("w64", "mlp_in", b, "weight", "norm"): [nan] * len(STEPS) for b in range(2)}
    rows[("w64", "mlp_out", 0, "weight", "norm")] = [nan, *peaked()[1:]]  # a failed first point
    df = findings(planted(rows))  # no crash on an all-NaN curve
    ev = evidence(df, "F7", "w64")
    assert "1 of 1 MLP matrices" in ev and "nan" not in ev.lower()


def test_depth_claims_with_four_blocks_can_hold(planted) -> None:
    final = [5.0, 4.0, 1.0, 1.5]  # blocks 0 and 1: the first third of 4 blocks, rounded up
    rows = {
        ("w64", "ln1", b, "bias", "norm"): list(np.linspace(0.0, v, len(STEPS)))
        for b, v in enumerate(final)
    }
    assert verdicts(findings(planted(rows)), "F10-depth") == {"w64": "reproduced"}


def test_sizes_with_equal_values_are_inconclusive(planted, tmp_path) -> None:
    rows = {}
    for model in ("pythia-70m", "pythia-160m"):
        rows[(model, "all", None, "all", "svd_overlap")] = list(np.linspace(0.1, 1.0, len(STEPS)))
    df = findings(planted(rows))
    assert verdicts(df, "F16-size") == {"(all sizes)": "inconclusive"}
    from findings.conftest import write_store

    flat = {("w64", "all", None, "all", "svd_overlap"): [0.4] * len(STEPS)}
    flat_store = write_store(tmp_path / "flat", flat)
    assert verdicts(findings(flat_store), "F16") == {"w64": "inconclusive"}


def test_two_suites_label_models_once(tmp_path) -> None:
    from findings.conftest import write_store

    store = write_store(tmp_path / "s", {("w64", "embed", None, "weight", "norm"): peaked()})
    from ckptscope.records import Scalar
    from ckptscope.store import TaskKey

    for i, step in enumerate(STEPS):
        store.write_task(TaskKey("other", "w64", step, "weights"),
                         [Scalar("embed", None, "weight", "norm", peaked()[i])])  # fmt: skip
    df = findings(store)
    assert set(df[df.finding == "F14"].model) == {"planted/w64", "other/w64"}
    assert set(df[df.finding == "F14"].verdict) == {"reproduced"}
