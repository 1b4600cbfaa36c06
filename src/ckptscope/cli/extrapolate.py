"""``ckptscope extrapolate``: weight norms fitted on the early steps, errors on the rest."""

from __future__ import annotations

from typing import Annotated

import typer

from ckptscope.cli._common import user_errors


@user_errors
def extrapolate(
    store: Annotated[str, typer.Argument(help="Store folder (or fsspec URL) with weights rows.")],
    fit_fraction: Annotated[
        float, typer.Option(help="Share of the training steps fitted; the rest is predicted.")
    ] = 0.5,
    models: Annotated[
        str | None, typer.Option(help="Comma-separated models (default: all).")
    ] = None,
    csv: Annotated[bool, typer.Option(help="Print CSV instead of a table.")] = False,
) -> None:
    """Fit each weight-matrix norm on its early steps and print the error of the prediction."""
    import pandas as pd

    from ckptscope.errors import UsageError
    from ckptscope.store import Store
    from ckptscope.store.layout import store_location
    from ckptscope.views.extrapolation import check_fraction, norm_extrapolation

    check_fraction(fit_fraction)
    chosen = [m.strip() for m in models.split(",") if m.strip()] if models else None
    table = norm_extrapolation(Store(store_location(store), create=False), fit_fraction, chosen)
    if table.empty:
        raise UsageError(f"store {store}: no weight-norm rows; run `ckptscope sweep SUITE "
                         f"--analyses weights --out {store}`")  # fmt: skip
    if csv:
        typer.echo(table.to_csv(index=False), nl=False)
        return
    shown = table.drop(columns=["param", "family"])
    with pd.option_context("display.max_rows", 500, "display.width", 200,
                           "display.float_format", "{:.4g}".format):  # fmt: skip
        typer.echo(shown.to_string(index=False))
    ok = table[table.status.str.startswith("ok")]
    bound = int((ok.status != "ok").sum())
    if len(ok):
        typer.echo(f"{len(ok)} of {len(table)} fitted ({bound} with a parameter at its bound); "
                   f"relative error at the last step: median {ok.rel_error_last.median():.1%}, "
                   f"worst {ok.rel_error_last.max():.1%}")  # fmt: skip


def register(app: typer.Typer) -> None:
    app.command("extrapolate")(extrapolate)
