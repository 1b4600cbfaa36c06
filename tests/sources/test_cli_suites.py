"""``ckptscope suites list`` / ``info`` on a folder suite."""

from __future__ import annotations

from typer.testing import CliRunner

from ckptscope.cli.app import app
from sources.builders import neox_state, write_checkpoint


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


def test_suites_verify_reports_identical_steps(tmp_path):
    same = neox_state(0)
    write_checkpoint(tmp_path / "run" / "step0", seed=0, state=same)
    write_checkpoint(tmp_path / "run" / "step1", seed=0, state=same)
    write_checkpoint(tmp_path / "run" / "step2", seed=2)
    out = CliRunner().invoke(app, ["suites", "verify", str(tmp_path / "run")])
    assert out.exit_code == 0
    lines = out.output.splitlines()
    assert "identical to step 0" in lines[1] and "identical" not in lines[0] + lines[2]
