"""The analysis and derivation registries load only what they need, and miss nothing."""

from __future__ import annotations

import subprocess
import sys

from ckptscope.analyses import DERIVATION_MODULES, load_all
from ckptscope.analyses.base import _DERIVATIONS, available_derivations


def test_derivation_modules_list_every_built_in_derivation() -> None:
    load_all()
    modules = {cls.__module__.rsplit(".", 1)[-1] for cls in _DERIVATIONS.values()}
    assert modules == set(DERIVATION_MODULES)
    assert {d.name for d in available_derivations()} == set(_DERIVATIONS)


def test_a_weights_sweep_and_its_derivations_import_no_fits_or_transformers() -> None:
    """(numba itself imports SciPy; the distribution fits and transformers stay out.)"""
    code = (
        "import sys\n"
        "from ckptscope.engine.sweep import resolve_analyses\n"
        "from ckptscope.analyses.base import available_derivations\n"
        "resolve_analyses(('weights',)); available_derivations()\n"
        "print(sorted(m for m in ('ckptscope.stats.fits', 'transformers', 'ckptscope.analyses.spectra')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
