"""Built-in analyses, one module each, registered when imported.

Importing this package imports none of them: ``get_analysis(name)`` imports the module of
that name first (a weights sweep imports neither SciPy nor transformers), and
``available_analyses()`` / ``available_derivations()`` import them all (``load_all``).
"""

import importlib
import pkgutil


def load_all() -> None:
    """Import (and so register) every built-in analysis and derivation module."""
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_") and mod.name != "base":
            importlib.import_module(f"{__name__}.{mod.name}")
