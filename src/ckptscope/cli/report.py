"""``ckptscope report``: draw the figures from a store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ckptscope.cli._common import GroupsFile, user_errors
from ckptscope.errors import UsageError


@user_errors
def report(
    store: Annotated[
        str, typer.Argument(help="Store folder (or fsspec URL) written by `ckptscope sweep`.")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: STORE/report; needed for a URL).")
    ] = None,
    log_steps: Annotated[bool, typer.Option(help="Log-scaled step axis.")] = False,
    figures: Annotated[str | None, typer.Option(help="Comma-separated figure ids.")] = None,
    svg: Annotated[bool, typer.Option(help="Also write SVG.")] = False,
    animations: Annotated[bool, typer.Option(help="Draw GIF/MP4 animations.")] = True,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Processes drawing figures in parallel (default: one per core, up to 4)."
        ),
    ] = None,
    models: Annotated[
        str | None, typer.Option(help="Comma-separated models to draw (default: all).")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    reference: Annotated[
        str | None,
        typer.Option(help="Draw a shipped reference (e.g. pythia-2023) beside F7-F11, normalised."),
    ] = None,
    suites: Annotated[
        str | None, typer.Option(help="Comma-separated suites to draw (default: all).")
    ] = None,
    groups: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated groups to draw (suite/label or label; `ckptscope groups`)."
        ),
    ] = None,
    groups_file: GroupsFile = None,
    band: Annotated[
        str, typer.Option(help="Seed band of line figures: minmax, sd (mean +- 1 sd) or none.")
    ] = "minmax",
) -> None:
    """Draw every figure whose data is in the store; name the analysis for the rest."""
    from ckptscope.progress import ProgressBar
    from ckptscope.references import available
    from ckptscope.report import ReportOptions, build_report
    from ckptscope.report.build import default_workers
    from ckptscope.store import Store
    from ckptscope.store.layout import is_url, store_location

    opts = ReportOptions(
        log_steps=log_steps,
        formats=("png", "svg") if svg else ("png",),
        animations=animations,
        workers=workers or default_workers(),
        models=_names(models),
        reference=reference,
        suites=_names(suites),
        groups=_names(groups),
        groups_file=str(groups_file) if groups_file else None,
        band=band,
    )
    if reference is not None and reference not in available():
        raise UsageError(f"unknown reference {reference!r}; available: {', '.join(available())}")
    ids = [f.strip() for f in figures.split(",")] if figures else None
    if out is None and is_url(store):
        raise UsageError(f"store {store} is a URL: give --out, a local folder for the report")
    out = out or Path(store) / "report"
    with ProgressBar("report", unit="figure", enabled=progress) as bar:
        built = build_report(
            Store(store_location(store), create=False), out, opts, ids, progress=bar.update
        )
    for line in built.missing:
        typer.echo(f"missing {line}", err=True)
    typer.echo(f"{len(built.paths)} files in {built.out_dir}")
    if built.html is not None:
        typer.echo(f"report: {built.html}")


def _names(value: str | None) -> tuple[str, ...] | None:
    names = tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()
    return names or None


def register(app: typer.Typer) -> None:
    app.command("report")(report)
