"""Figures and the report, drawn from a store."""

from ckptscope.report.figures import (
    FIGURES,
    FigureResult,
    FigureSpec,
    ReportOptions,
    draw_figures,
    register_figure,
)

__all__ = [
    "FIGURES",
    "FigureResult",
    "FigureSpec",
    "ReportOptions",
    "draw_figures",
    "register_figure",
]
