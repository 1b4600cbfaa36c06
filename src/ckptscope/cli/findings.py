"""``ckptscope findings``: which of the post's findings a store's suite reproduces."""

from __future__ import annotations

from typing import Annotated

import typer

from ckptscope.cli._common import user_errors
from ckptscope.errors import UsageError

FORMATS = ("table", "markdown", "json")


@user_errors
def findings(
    store: Annotated[str, typer.Argument(help="Store folder (or fsspec URL).")],
    models: Annotated[
        str | None, typer.Option(help="Comma-separated models (default: all).")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="table, markdown or json.")] = "table",
) -> None:
    """Print a verdict per finding of the post and model, with its evidence."""
    from ckptscope.findings import findings as run
    from ckptscope.findings.render import as_json, as_markdown, as_text
    from ckptscope.store import Store
    from ckptscope.store.layout import store_location

    if format not in FORMATS:
        raise UsageError(f"--format {format!r}; formats: {', '.join(FORMATS)}")
    chosen = [m.strip() for m in models.split(",") if m.strip()] if models else None
    df = run(Store(store_location(store), create=False), models=chosen)
    render = {"table": as_text, "markdown": as_markdown, "json": as_json}[format]
    typer.echo(render(df), nl=False)


def register(app: typer.Typer) -> None:
    app.command("findings")(findings)
