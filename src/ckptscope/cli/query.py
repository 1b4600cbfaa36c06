"""``ckptscope query``: SQL over a store's tables."""

from __future__ import annotations

from typing import Annotated

import typer

from ckptscope.cli._common import user_errors


@user_errors
def query(
    sql: Annotated[str, typer.Argument(help="SQL over scalars, arrays, events, failures, tasks.")],
    store: Annotated[
        str, typer.Option("--store", "-s", help="Store folder or fsspec URL.")
    ] = "store",
    csv: Annotated[bool, typer.Option(help="Print CSV instead of a table.")] = False,
    reference: Annotated[
        str | None, typer.Option(help="Query a shipped dataset (pythia-2023) instead.")
    ] = None,
) -> None:
    """Query a store with DuckDB SQL, e.g. "select * from scalars where metric='norm'"."""
    import pandas as pd

    from ckptscope.store import Store
    from ckptscope.store.layout import store_location

    if reference is not None:
        from ckptscope.references import reference as open_reference

        df = open_reference(reference).query(sql)
    else:
        df = Store(store_location(store), create=False).query(sql)
    if csv:
        typer.echo(df.to_csv(index=False), nl=False)
    else:
        with pd.option_context("display.max_rows", 200, "display.width", 160):
            typer.echo(df.to_string(index=False))


def register(app: typer.Typer) -> None:
    app.command("query")(query)
