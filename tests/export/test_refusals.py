"""Bad input to ``ckptscope export``: one line, exit 1, nothing written."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ckptscope.cli.app import app
from ckptscope.errors import UsageError
from ckptscope.export import TensorBoardExporter, WandbExporter, plan_export
from ckptscope.records import Scalar
from ckptscope.store import TaskKey
from export.stores import build_store

pytest.importorskip("tensorboard")


def _refused(args, expect: str) -> None:
    res = CliRunner().invoke(app, ["export", *args])
    assert res.exit_code == 1, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert expect in lines[0], lines[0]


def test_cli_refusals_before_any_work(small_store, tmp_path):
    store = str(small_store.root)
    out = tmp_path / "out"
    _refused([store, str(out), "--to", "mlflow"], "--to: unknown target 'mlflow'")
    _refused([store, "--to", "tensorboard"], "--to tensorboard needs DIR")
    _refused([str(tmp_path / "nowhere"), str(out)], "no ckptscope store at")
    _refused([store, str(out), "--models", "a,zzz"], "--models: no model 'zzz' in the store")
    _refused([store, str(out), "--metrics", "nrom"], "--metrics: no metric 'nrom' in the store")
    _refused([store, str(out), "--suite", "t"], "--suite: no suite 't' in the store")
    _refused([store, str(out), "--models", " , "], "--models: no names in")
    for to in ("tensorboard", "wandb"):
        _refused([store, str(out), "--to", to, "--models", "zzz"], "no model 'zzz'")
    assert not out.exists()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for to in ("tensorboard", "wandb"):
        _refused([store, str(a_file), "--to", to], f"DIR {a_file} exists and is not a folder")
    _refused([store, str(a_file / "sub"), "--to", "tensorboard"], "is not a folder")
    assert a_file.read_text() == "x"


def test_exporters_refuse_a_file_and_a_non_writer(tmp_path):
    a_file = tmp_path / "f"
    a_file.write_text("")
    with pytest.raises(UsageError, match="is not a folder"):
        TensorBoardExporter(a_file)
    with pytest.raises(UsageError, match="has no add_scalar"):
        TensorBoardExporter(object())
    with pytest.raises(UsageError, match="has no log"):
        WandbExporter(42)


def test_tags_that_collide_are_refused(tmp_path):
    store = build_store(tmp_path / "store", models=("a",), steps=(0,))
    # "x/y" and "x_y" both become the tag part "x_y"
    store.write_task(
        TaskKey("s", "a", 0, "extra"),
        [Scalar("embed", None, "weight", "x/y", 1.0), Scalar("embed", None, "weight", "x_y", 2.0)],
    )
    with pytest.raises(UsageError, match="would share the tag 'embed/-/x_y'"):
        plan_export(store)
    _refused([str(store.root), str(tmp_path / "tb")], "would share the tag")
    assert not (tmp_path / "tb").exists()
    # the live path refuses them as well, before writing the step
    exporter = TensorBoardExporter(tmp_path / "live")
    with pytest.raises(UsageError, match="would share the tag"):
        exporter.write_step(store, "a", 0)
    exporter.close()
    assert not (tmp_path / "live").exists()


def test_runs_that_collide_are_refused(tmp_path):
    store = build_store(tmp_path / "store", models=("m:1", "m?1"), steps=(0,))
    with pytest.raises(UsageError, match="would share the run folder s/m_1"):
        plan_export(store)
