"""``ckptscope compare`` and ``ckptscope groups``: runs grouped by seed, two groups compared."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ckptscope.cli._common import GroupsFile, user_errors


@user_errors
def compare(
    store: Annotated[str, typer.Argument(help="Store folder (or fsspec URL).")],
    a: Annotated[
        str, typer.Option("--a", help="Group a: suite/label, or a label (`ckptscope groups`).")
    ],
    b: Annotated[str, typer.Option("--b", help="Group b, compared with a (b - a).")],
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric", help="Scalar metric to compare (repeatable; default: all shared)."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for a PNG per metric: panels of a, b and b - a.")
    ] = None,
    groups_file: GroupsFile = None,
) -> None:
    """Where groups a and b differ beyond their seed spread: |mean b - mean a| > max(spread a,
    spread b), spread = highest minus lowest seed at a step (docs/comparisons.md). When a
    group has one seed it says so: every difference is listed, none weighed against noise."""
    import pandas as pd

    from ckptscope.groups import compare as run
    from ckptscope.outputs import output_dir
    from ckptscope.plots.style import safe_name, save
    from ckptscope.report.comparisons import seed_caveat
    from ckptscope.store import Store
    from ckptscope.store.layout import store_location

    if out is not None:
        out = output_dir(out, "--out")  # refused before the comparison is computed
    c = run(Store(store_location(store), create=False), a, b, metrics=metric,
            groups_file=groups_file)  # fmt: skip
    typer.echo(f"a: {c.a} (seeds: {', '.join(c.seeds_a)})")
    typer.echo(f"b: {c.b} (seeds: {', '.join(c.seeds_b)})")
    compared = c.diff.groupby(["component", "block", "param", "metric"], dropna=False).ngroups
    caveat = seed_caveat(c.a, c.b, len(c.seeds_a), len(c.seeds_b))
    if caveat is not None:
        typer.echo(f"note: {caveat}")
    beyond = "" if caveat else " beyond the seed spread"  # one seed: no spread to weigh by
    if c.summary.empty:
        typer.echo(f"no difference{beyond} in {compared} tensor metrics compared")
    else:
        with pd.option_context("display.max_rows", None, "display.width", 200):
            typer.echo(c.summary.to_string(index=False))
        typer.echo(f"{len(c.summary)} step ranges differ{beyond} "
                   f"({compared} tensor metrics compared)")  # fmt: skip
    if out is not None:
        for m in c.metrics():
            for path in save(
                c.figure(m), out / f"compare_{safe_name(c.a)}_vs_{safe_name(c.b)}_{safe_name(m)}"
            ):
                typer.echo(f"wrote {path}")


@user_errors
def groups(
    store: Annotated[str, typer.Argument(help="Store folder (or fsspec URL).")],
    groups_file: GroupsFile = None,
) -> None:
    """Every model of a store with its suite, size, variant, seed and group."""
    from ckptscope.groups import group_table
    from ckptscope.store import Store
    from ckptscope.store.layout import store_location

    df = group_table(Store(store_location(store), create=False), groups_file)
    typer.echo(df.to_string(index=False) if len(df) else "the store holds no models")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
    app.command("groups")(groups)
