"""Pure linear-algebra functions: batched singular values, ESD statistics, SVD directions.

Names load on first use: ``linalg.esd``'s constants never import torch.
"""

from ckptscope._lazy import lazy_names

#: public name -> the module of this package that defines it
_NAMES = {
    "CUDA_STREAMS": "ckptscope.linalg.spectra",
    "EsdPowerLawFit": "ckptscope.linalg.esd",
    "METHODS": "ckptscope.linalg.spectra",
    "SOLVERS": "ckptscope.linalg.spectra",
    "default_method": "ckptscope.linalg.spectra",
    "default_solver": "ckptscope.linalg.spectra",
    "effective_rank": "ckptscope.linalg.esd",
    "eigvalsh_batched": "ckptscope.linalg.spectra",
    "eigvalsh_tridiag": "ckptscope.linalg.tridiag",
    "exact_match": "ckptscope.linalg.closeness",
    "fit_esd_power_law": "ckptscope.linalg.esd",
    "gram": "ckptscope.linalg.spectra",
    "mp_edge": "ckptscope.linalg.esd",
    "mp_outliers": "ckptscope.linalg.esd",
    "nonfinite_counts": "ckptscope.linalg.spectra",
    "product_left_vectors": "ckptscope.linalg.spectra",
    "product_singular_values": "ckptscope.linalg.spectra",
    "set_overlap": "ckptscope.linalg.closeness",
    "singular_values_batched": "ckptscope.linalg.spectra",
    "singular_values_grouped": "ckptscope.linalg.spectra",
    "singular_values_stacks": "ckptscope.linalg.spectra",
    "spectral_metrics": "ckptscope.linalg.esd",
    "stable_rank": "ckptscope.linalg.esd",
    "token_table": "ckptscope.linalg.directions",
    "top_left_vectors": "ckptscope.linalg.directions",
    "top_right_vectors": "ckptscope.linalg.directions",
    "tridiagonal_eigvalsh": "ckptscope.linalg.tridiag",
    "tridiagonalize": "ckptscope.linalg.tridiag",
}

__all__ = sorted(_NAMES)


__getattr__, __dir__ = lazy_names(__name__, _NAMES)
