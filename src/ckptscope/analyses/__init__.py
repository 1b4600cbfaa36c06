"""Built-in analyses, one module each, registered when imported.

Importing this package imports none of them: ``get_analysis(name)`` imports the module of
that name first (a weights sweep imports neither torch nor transformers; its derivations
need neither), ``available_analyses()`` imports them all (``load_all``) and
``available_derivations()`` the modules that define derivations (``load_derivations``; a
test keeps the list whole).
"""

import importlib
import pkgutil


def load_all() -> None:
    """Import (and so register) every built-in analysis and derivation module."""
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_") and mod.name != "base":
            importlib.import_module(f"{__name__}.{mod.name}")


#: The built-in modules that register derivations (run after every sweep)
DERIVATION_MODULES = (
    "integrity",
    "norm_extrap",
    "phases",
    "resid_outliers",
    "svd_closeness",
    "updates",
)


def load_derivations() -> None:
    """Import (and so register) the built-in modules that define derivations."""
    for name in DERIVATION_MODULES:
        importlib.import_module(f"{__name__}.{name}")
