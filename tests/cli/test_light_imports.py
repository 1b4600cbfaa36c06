"""Commands import only what they use: the light ones never load torch or numba."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ckptscope.store import Store

HEAVY = ("torch", "numba", "scipy", "scipy.optimize")

#: runs the CLI in-process with argv, then prints which heavy modules it loaded
CODE = """
import sys
from ckptscope.cli.app import app
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
print(sorted(m for m in {heavy!r} if m in sys.modules))
"""


def _loaded(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", CODE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return eval(done.stdout.strip().splitlines()[-1])  # a list of names this test printed


@pytest.mark.parametrize("args", [["--help"], ["suites", "--help"], ["report", "--help"]])
def test_help_loads_nothing_heavy(args: list[str]) -> None:
    assert _loaded(*args) == []


def test_query_and_a_report_load_neither_torch_nor_numba(report_store: Store, tmp_path: Path):
    root = str(report_store.root)
    assert _loaded("query", "--store", root, "SELECT count(*) FROM scalars") == []
    report = [
        "report",
        root,
        "--out",
        str(tmp_path),
        "--figures",
        "F7,F3,F12,F13",
        "--no-animations",
        "--workers",
        "1",
        "--no-progress",
    ]
    loaded = _loaded(*report)
    assert "torch" not in loaded and "numba" not in loaded
    assert (tmp_path / "report.html").is_file()


def test_a_weights_sweep_of_safetensors_loads_no_torch(
    neox_folder_suite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Safetensors read into NumPy, the fused kernels, the store and the derivations; the
    rows are those of the torch path."""
    pytest.importorskip("numba")  # without it (an optional extra) moments use torch
    monkeypatch.delenv("CKPTSCOPE_MOMENTS", raising=False)
    out = tmp_path / "store"
    args = ["sweep", str(neox_folder_suite), "--out", str(out), "--analyses", "weights"]
    loaded = _loaded(*args)
    # too few checkpoints for the norm fits: SciPy's optimisers are not even imported
    assert "torch" not in loaded and "scipy.optimize" not in loaded
    from ckptscope.engine import SweepConfig, run_sweep

    monkeypatch.setenv("CKPTSCOPE_MOMENTS", "torch")  # the same sweep through torch
    run_sweep(SweepConfig(str(neox_folder_suite), tmp_path / "torch", analyses=("weights",)))
    keys = ["model", "step", "component", "block", "param", "metric"]
    got, want = (Store(p).scalars().set_index(keys)["value"] for p in (out, tmp_path / "torch"))
    assert len(got) == len(want) and (got.index.get_level_values("metric") == "dist_init").any()
    assert np.allclose(got.loc[want.index], want, rtol=1e-12, atol=0)
