"""Pure linear-algebra functions: batched singular values, ESD statistics, SVD directions.

Names load on first use: ``linalg.esd``'s constants never import torch.
"""

from importlib import import_module
from typing import Any

#: public name -> the module of this package that defines it
_NAMES = {
    "CUDA_STREAMS": "spectra",
    "EsdPowerLawFit": "esd",
    "METHODS": "spectra",
    "default_method": "spectra",
    "effective_rank": "esd",
    "eigvalsh_batched": "spectra",
    "exact_match": "directions",
    "fit_esd_power_law": "esd",
    "gram": "spectra",
    "mp_edge": "esd",
    "mp_outliers": "esd",
    "nonfinite_counts": "spectra",
    "product_left_vectors": "spectra",
    "product_singular_values": "spectra",
    "set_overlap": "directions",
    "singular_values_batched": "spectra",
    "singular_values_grouped": "spectra",
    "singular_values_stacks": "spectra",
    "spectral_metrics": "esd",
    "stable_rank": "esd",
    "token_table": "directions",
    "top_left_vectors": "directions",
    "top_right_vectors": "directions",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(import_module(f"ckptscope.linalg.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'ckptscope.linalg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
