"""Exporters from a store to experiment trackers: TensorBoard event files and W&B runs."""

from ckptscope.export.base import Exporter, ExportPlan, ExportSummary, export_store, plan_export
from ckptscope.export.rows import HistogramPoint, ScalarPoint, StepRows, tag_of
from ckptscope.export.tensorboard import TensorBoardExporter
from ckptscope.export.wandb import WandbExporter

__all__ = [
    "ExportPlan",
    "ExportSummary",
    "Exporter",
    "HistogramPoint",
    "ScalarPoint",
    "StepRows",
    "TensorBoardExporter",
    "WandbExporter",
    "export_store",
    "plan_export",
    "tag_of",
]
