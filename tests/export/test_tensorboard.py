"""TensorBoard export: every scalar and histogram read back with TensorBoard's own reader."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ckptscope.cli.app import app
from ckptscope.errors import UsageError
from ckptscope.export import TensorBoardExporter, export_store
from ckptscope.stats.histogram import UNIVERSAL_GRID
from export.stores import MODELS, STEPS, build_store, expected_histograms, expected_scalars

pytest.importorskip("tensorboard")


def read_run(folder: Path):
    """(scalars: tag -> step -> [values], histograms: tag -> step -> HistogramValue)."""
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(str(folder), size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0})
    acc.Reload()
    scalars: dict[str, dict[int, list[float]]] = {}
    for tag in acc.Tags()["scalars"]:
        for e in acc.Scalars(tag):
            scalars.setdefault(tag, {}).setdefault(e.step, []).append(e.value)
    hists: dict[str, dict[int, object]] = {}
    for tag in acc.Tags()["histograms"]:
        for e in acc.Histograms(tag):
            assert e.step not in hists.get(tag, {}), f"{tag} twice at step {e.step}"
            hists.setdefault(tag, {})[e.step] = e.histogram_value
    return scalars, hists


def assert_run_matches(folder: Path, store, model: str, steps=None) -> None:
    """The run folder holds exactly the store's rows of ``model`` (at ``steps``)."""
    scalars, hists = read_run(folder)
    want = expected_scalars(store, model)
    want_h = expected_histograms(store, model)
    if steps is not None:
        want = {t: {s: v for s, v in d.items() if s in steps} for t, d in want.items()}
        want_h = {t: {s: v for s, v in d.items() if s in steps} for t, d in want_h.items()}
    assert set(scalars) == set(want)
    for tag, by_step in want.items():
        assert set(scalars[tag]) == set(by_step), tag
        for step, values in by_step.items():
            # TensorBoard scalars are float32 (simple_value)
            assert sorted(scalars[tag][step]) == sorted(np.float32(values).tolist()), (tag, step)
    assert set(hists) == set(want_h)
    edges = UNIVERSAL_GRID.edges
    for tag, by_step in want_h.items():
        assert set(hists[tag]) == set(by_step), tag
        for step, counts in by_step.items():
            h = hists[tag][step]
            nz = np.flatnonzero(counts)
            lo, hi = nz[0], nz[-1] + 1
            # the store's own bins, not resampled: bucket i spans [edges[i], edges[i+1])
            np.testing.assert_array_equal(np.asarray(h.bucket), counts[lo:hi])
            np.testing.assert_array_equal(np.asarray(h.bucket_limit), edges[lo + 1 : hi + 1])
            assert h.min == edges[lo] and h.max == edges[hi]
            assert h.num == counts.sum()


def test_export_round_trip_every_row(small_store, tmp_path):
    out = tmp_path / "tb"
    with TensorBoardExporter(out) as exporter:
        done = export_store(small_store, exporter)
    assert done.runs == 2 and done.steps == len(MODELS) * len(STEPS)
    # per model and step: 5 number rows (the label dropped); 3 histograms (the empty one dropped)
    assert done.scalars == 6 * 6 and done.histograms == 3 * 6
    assert sorted(p.name for p in (out / "s").iterdir()) == list(MODELS)
    for model in MODELS:
        assert_run_matches(out / "s" / model, small_store, model)
    scalars, _ = read_run(out / "s" / "a")
    assert {
        "embed/-/norm",
        "mlp_in/1/norm",
        "ln1/0/bias/norm",
        "q/0/h1/norm",
        "model/-/loss",
    } <= set(scalars)


def test_report_store_round_trip_via_cli(report_store, tmp_path):
    """Every kind of row the report draws; a suite name with unsafe characters."""
    out = tmp_path / "tb"
    res = CliRunner().invoke(
        app, ["export", str(report_store.root), "--to", "tensorboard", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "exported 2 run(s), 10 steps" in res.output
    (suite_dir,) = out.iterdir()
    assert suite_dir.name == "suite___"  # "suite<&>" made safe
    for model in ("tiny", "small"):
        assert_run_matches(suite_dir / model, report_store, model)


def test_filters(small_store, tmp_path):
    out = tmp_path / "tb"
    res = CliRunner().invoke(
        app,
        ["export", str(small_store.root), str(out), "--to", "tensorboard", "--models", "b",
         "--metrics", "norm,hist_pooled"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert [p.name for p in (out / "s").iterdir()] == ["b"]
    scalars, hists = read_run(out / "s" / "b")
    assert set(scalars) == {"embed/-/norm", "ln1/0/bias/norm", "q/0/h1/norm", "mlp_in/0/norm",
                            "mlp_in/1/norm"}  # fmt: skip
    assert set(hists) == {"mlp_in/-/hist_pooled"}


def test_write_step_forwards_one_step(small_store, tmp_path):
    out = tmp_path / "live"
    exporter = TensorBoardExporter(out)
    exporter.write_step(small_store, "a", 5)
    exporter.write_step(small_store, "a", 10)
    exporter.close()
    assert_run_matches(out / "s" / "a", small_store, "a", steps={5, 10})
    assert not (out / "s" / "b").exists()


def test_write_step_into_a_summary_writer(small_store, tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path / "sw"))
    exporter = TensorBoardExporter(writer)
    for step in STEPS:
        exporter.write_step(small_store, "b", step)
    with pytest.raises(UsageError, match="logs one model"):
        exporter.write_step(small_store, "a", 0)
    exporter.close()
    writer.close()
    assert_run_matches(tmp_path / "sw", small_store, "b")


def test_missing_tensorboard_is_one_line(small_store, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "tensorboard" or m.startswith("tensorboard.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard -> ImportError
    msg = "tensorboard export needs the tensorboard package: pip install 'ckptscope[tensorboard]'"
    with pytest.raises(UsageError) as err:
        TensorBoardExporter(tmp_path / "tb")
    assert str(err.value) == msg
    res = CliRunner().invoke(app, ["export", str(small_store.root), "--to", "tensorboard", "x"])
    assert res.exit_code == 1
    assert res.output.strip() == f"error: {msg}"
    assert not (tmp_path / "tb").exists()


def test_unsafe_names_stay_inside_dir(tmp_path):
    store = build_store(tmp_path / "store", models=("../up", "x/y\nz"), steps=(0,), suite="...")
    out = tmp_path / "tb"
    res = CliRunner().invoke(app, ["export", str(store.root), "--to", "tensorboard", str(out)])
    # the suite "..." cannot name a folder: refused, nothing written
    assert res.exit_code == 1 and "suite '...' cannot name a run folder" in res.output
    assert not out.exists()
    store = build_store(tmp_path / "store2", models=("../up", "x/y\nz"), steps=(0,), suite="s")
    res = CliRunner().invoke(app, ["export", str(store.root), "--to", "tensorboard", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (out / "s").iterdir()) == [".._up", "x_y_z"]
    assert [p.name for p in tmp_path.iterdir() if p.name == "up"] == []
    scalars, _ = read_run(out / "s" / "x_y_z")
    assert "embed/-/norm" in scalars


def test_an_exporters_own_metric_filter(small_store, tmp_path):
    with TensorBoardExporter(tmp_path / "tb", metrics=["loss", "hist"]) as exporter:
        export_store(small_store, exporter, models=["a"])
        exporter.write_step(small_store, "b", 5)
    scalars, hists = read_run(tmp_path / "tb" / "s" / "a")
    assert set(scalars) == {"model/-/loss"} and set(hists) == {"mlp_in/0/hist", "mlp_in/1/hist"}
    scalars, hists = read_run(tmp_path / "tb" / "s" / "b")
    assert set(scalars) == {"model/-/loss"} and {s for t in hists for s in hists[t]} == {5}
