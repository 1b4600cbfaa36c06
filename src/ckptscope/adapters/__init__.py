"""Architecture adapters, one module each; importing this package registers them all."""

import importlib
import pkgutil

from ckptscope.adapters.base import (
    Adapter,
    Component,
    HeadWeights,
    get_adapter,
    register_adapter,
    supported_model_types,
)

for _mod in pkgutil.iter_modules(__path__):
    if not _mod.name.startswith("_") and _mod.name != "base":
        importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = [
    "Adapter",
    "Component",
    "HeadWeights",
    "get_adapter",
    "register_adapter",
    "supported_model_types",
]
