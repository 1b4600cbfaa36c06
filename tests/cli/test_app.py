"""The ``ckptscope`` command as a user meets it: help, version, exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from ckptscope import __version__
from ckptscope.cli.app import app

runner = CliRunner()
COMMANDS = ("train", "sweep", "report", "query", "suites", "demo", "store", "findings", "reference",
            "experiment")  # fmt: skip


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output, command


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_version_from_a_fresh_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ckptscope", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"ckptscope {__version__}"


def test_unknown_command_is_a_usage_error() -> None:
    result = runner.invoke(app, ["sweeep"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_missing_suite_is_one_line(tmp_path) -> None:
    result = runner.invoke(app, ["sweep", str(tmp_path / "nope"), "--out", str(tmp_path / "s")])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "nope" in lines[0]
