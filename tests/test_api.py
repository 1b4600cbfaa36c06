"""``import ckptscope as cs``: the top-level API, loaded lazily, running a real sweep."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ckptscope as cs


def test_import_is_light() -> None:
    code = (
        "import sys, ckptscope as cs; cs.__version__; "
        "print(sorted(m for m in ('torch', 'matplotlib', 'duckdb', 'pandas', 'importlib.metadata')"
        " if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_version_is_the_installed_packages() -> None:
    """``__version__`` is a literal that ``pyproject.toml`` reads: the installed metadata
    says the same."""
    from importlib.metadata import version

    assert cs.__version__ == version("ckptscope") != "0.0.0"


def test_names_resolve() -> None:
    from ckptscope.engine.sweep import SweepConfig
    from ckptscope.store import Store

    assert cs.Store is Store and cs.SweepConfig is SweepConfig
    assert set(cs.__all__) <= set(dir(cs))
    try:
        cs.nope  # noqa: B018
    except AttributeError as err:
        assert "nope" in str(err)
    else:
        raise AssertionError("cs.nope resolved")


def test_sweep_from_python(neox_folder_suite: Path, tmp_path: Path, capsys) -> None:
    result = cs.sweep(neox_folder_suite, tmp_path / "store", analyses="weights", steps="0,8")
    assert result.exit_code == 0 and result.written == 4  # 2 models x 2 steps
    df = cs.Store(tmp_path / "store").scalars(metric="norm", component="embed")
    assert sorted(df.step.unique()) == [0, 8] and sorted(df.model.unique()) == ["tiny-a", "tiny-b"]
    assert "sweep" in capsys.readouterr().err  # the progress bar, on stderr
    again = cs.sweep(neox_folder_suite, tmp_path / "store", analyses=["weights"], steps="0,8",
                     progress=False)  # fmt: skip
    assert again.written == 0 and again.skipped_done == 4


def test_findings_is_callable_however_it_was_imported() -> None:

    df = cs.findings(cs.reference("pythia-2023"), models=["pythia-160m"])
    assert set(df.model) <= {"pythia-160m", "(all sizes)"} and len(df)
    assert cs.figure is __import__("ckptscope.figures", fromlist=["figure"]).figure
