"""``ckptscope suites list`` / ``info`` on a folder suite."""

from __future__ import annotations

from typer.testing import CliRunner

from ckptscope.cli.app import app
from sources.builders import write_checkpoint


def test_suites_list_and_info(tmp_path):
    for step in (0, 10, 20):
        write_checkpoint(tmp_path / "run" / f"step{step}", seed=step)
    runner = CliRunner()
    out = runner.invoke(app, ["suites", "list", str(tmp_path / "run"), "--steps", "0,last"])
    assert out.exit_code == 0 and "run: 2 steps: 0, 20" in out.output
    out = runner.invoke(app, ["suites", "info", str(tmp_path / "run"), "--step", "10"])
    assert out.exit_code == 0
    assert "gpt_neox, 2 layers" in out.output and "qkv.1.weight" in out.output
    out = runner.invoke(app, ["suites", "list", str(tmp_path / "run"), "--steps", "5"])
    assert out.exit_code == 1 and "error: no checkpoint at step 5" in out.output
