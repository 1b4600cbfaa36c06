"""``ckptscope findings``: which of the post's findings a store's suite reproduces."""

from __future__ import annotations

from typing import Annotated

import typer

from ckptscope.cli._common import GroupsFile, user_errors
from ckptscope.errors import UsageError

FORMATS = ("table", "markdown", "json")


@user_errors
def findings(
    store: Annotated[
        str | None, typer.Argument(help="Store folder (or fsspec URL); or give --reference.")
    ] = None,
    models: Annotated[
        str | None, typer.Option(help="Comma-separated models (default: all).")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="table, markdown or json.")] = "table",
    reference: Annotated[
        str | None, typer.Option(help="A shipped dataset instead of a store: pythia-2023.")
    ] = None,
    groups_file: GroupsFile = None,
) -> None:
    """Print a verdict per finding of the post and model (seed), with its evidence, and per
    group of seeds the share that reproduce each finding."""
    from ckptscope.findings import findings as run
    from ckptscope.findings.render import as_json, as_markdown, as_text
    from ckptscope.store import Store
    from ckptscope.store.layout import store_location

    if format not in FORMATS:
        raise UsageError(f"--format {format!r}; formats: {', '.join(FORMATS)}")
    if (store is None) == (reference is None):
        raise UsageError("give a STORE or --reference NAME (one of them)")
    chosen = [m.strip() for m in models.split(",") if m.strip()] if models else None
    if reference is not None:
        from ckptscope.references import reference as open_reference

        source = open_reference(reference)
    else:
        source = Store(store_location(store), create=False)
    missing = f"the {reference} dataset does not hold them" if reference else None
    df = run(source, models=chosen, missing=missing, groups_file=groups_file)
    render = {"table": as_text, "markdown": as_markdown, "json": as_json}[format]
    typer.echo(render(df), nl=False)


def register(app: typer.Typer) -> None:
    app.command("findings")(findings)
