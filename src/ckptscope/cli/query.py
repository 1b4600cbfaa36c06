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
    from ckptscope.store import Store
    from ckptscope.store.layout import store_location

    if reference is not None:
        from ckptscope.references import reference as open_reference

        columns, rows = open_reference(reference).query_rows(sql)
    else:
        columns, rows = Store(store_location(store), create=False).query_rows(sql)
    typer.echo(as_csv(columns, rows) if csv else as_table(columns, rows), nl=not csv)


def _cell(value: object) -> str:
    """A value as the table shows it: floats to 6 significant digits, NULL as NaN/None."""
    if isinstance(value, float):
        return "NaN" if value != value else f"{value:.6g}"
    return str(value)


def as_table(columns: list[str], rows: list[tuple[object, ...]]) -> str:
    """Rows as an aligned text table, every column right-aligned under its name."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = [[c.rjust(w) for c, w in zip(columns, widths, strict=True)]]
    lines += [[v.rjust(w) for v, w in zip(row, widths, strict=True)] for row in cells]
    return "\n".join(" ".join(line) for line in lines) if columns else "(no columns)"


def as_csv(columns: list[str], rows: list[tuple[object, ...]]) -> str:
    """Rows as CSV with a header line (floats at full precision, NULL as an empty field)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return out.getvalue()


def register(app: typer.Typer) -> None:
    app.command("query")(query)
