"""The figure catalogue: every figure of the post (F1-F16) and the extras, drawn from a store.

``figure("F7", store)`` returns a :class:`matplotlib.figure.Figure` (``interactive=True``: a
plotly figure) and writes no file; :data:`FIGURES` lists the specs in catalogue order. The
report (:mod:`ckptscope.report.build`) iterates the same specs to write files and the page.
"""

from ckptscope.figures import (  # noqa: F401
    activations,
    distributions,
    embeddings,
    extrapolation,
    heads,
    spectra,
    update_structure,
    weights,
)
from ckptscope.figures.catalogue import (
    SECTIONS,
    FigureSpec,
    NoFigureData,
    Query,
    get,
    ordered,
)
from ckptscope.figures.draw import figure

#: every figure, in catalogue order
FIGURES: dict[str, FigureSpec] = ordered()

__all__ = ["FIGURES", "SECTIONS", "FigureSpec", "NoFigureData", "Query", "figure", "get"]
