"""The report: every catalogue figure as files, and one interactive HTML page."""

from ckptscope.report.build import BuiltReport, ReportOptions, build_report

__all__ = ["BuiltReport", "ReportOptions", "build_report"]
