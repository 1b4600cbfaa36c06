"""``build_report``: every figure into a folder, plus the HTML report where available."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ckptscope.report.figures import ReportOptions, draw_figures
from ckptscope.report.html import write_html_report  # the interactive page (issue 8)
from ckptscope.store import Store


@dataclass
class BuiltReport:
    """Files a report build wrote, and the figures it could not draw (with the fix)."""

    out_dir: Path
    paths: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    html: Path | None = None


def build_report(
    store: Store, out_dir: Path, opts: ReportOptions, ids: Sequence[str] | None = None
) -> BuiltReport:
    """Draw the chosen figures from ``store`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    built = BuiltReport(out_dir)
    for res in draw_figures(store, out_dir, opts, ids):
        built.paths.extend(res.paths)
        if res.missing:
            built.missing.append(res.missing)
    built.html = write_html_report(store, out_dir / "report.html", opts, built.paths)
    return built
