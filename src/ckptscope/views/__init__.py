"""Views computed from a store's scalars at drawing time, as tidy DataFrames.

One module per view: per-head metrics ranked with outlier heads marked (``heads``), the
correlation structure of update sizes (``update_structure``), and weight norms
extrapolated from the early steps (``extrapolation``). Figures draw these frames
(:mod:`ckptscope.figures.views`); nothing here draws or writes to the store.
"""

from ckptscope.views.extrapolation import extrapolate_norms, norm_extrapolation, norm_rows
from ckptscope.views.heads import head_rows, mark_heads, rank_heads
from ckptscope.views.update_structure import pearson, update_correlations, update_rows

__all__ = [
    "extrapolate_norms",
    "head_rows",
    "mark_heads",
    "norm_extrapolation",
    "norm_rows",
    "pearson",
    "rank_heads",
    "update_correlations",
    "update_rows",
]
