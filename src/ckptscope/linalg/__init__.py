"""Pure linear-algebra functions: batched singular values, ESD statistics, SVD directions."""

from ckptscope.linalg.directions import (
    exact_match,
    set_overlap,
    token_table,
    top_left_vectors,
    top_right_vectors,
)
from ckptscope.linalg.esd import (
    EsdPowerLawFit,
    effective_rank,
    fit_esd_power_law,
    mp_edge,
    mp_outliers,
    spectral_metrics,
    stable_rank,
)
from ckptscope.linalg.spectra import (
    CUDA_STREAMS,
    METHODS,
    default_method,
    eigvalsh_batched,
    gram,
    nonfinite_counts,
    product_left_vectors,
    product_singular_values,
    singular_values_batched,
    singular_values_grouped,
    singular_values_stacks,
)

__all__ = [
    "CUDA_STREAMS",
    "METHODS",
    "EsdPowerLawFit",
    "default_method",
    "effective_rank",
    "eigvalsh_batched",
    "exact_match",
    "fit_esd_power_law",
    "gram",
    "mp_edge",
    "mp_outliers",
    "nonfinite_counts",
    "product_left_vectors",
    "product_singular_values",
    "set_overlap",
    "singular_values_batched",
    "singular_values_grouped",
    "singular_values_stacks",
    "spectral_metrics",
    "stable_rank",
    "token_table",
    "top_left_vectors",
    "top_right_vectors",
]
