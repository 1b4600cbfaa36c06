"""``ckptscope reference``: the datasets shipped with ckptscope (the post's own numbers)."""

from __future__ import annotations

from typing import Annotated

import typer

from ckptscope.cli._common import user_errors

app = typer.Typer(help="Reference datasets shipped with ckptscope.", no_args_is_help=True)


@app.command("list")
@user_errors
def list_references() -> None:
    """Name, version and description of each shipped dataset."""
    from ckptscope.references import REFERENCES

    for ref in REFERENCES.values():
        typer.echo(f"{ref.name} (version {ref.version}, {ref.licence}): {ref.description}")


@app.command("show")
@user_errors
def show(name: Annotated[str, typer.Argument(help="A dataset name, e.g. pythia-2023.")]) -> None:
    """Where a dataset comes from, what it holds (models, steps, metrics) and its caveats."""
    from ckptscope.references import REFERENCES, reference

    store = reference(name)
    ref = REFERENCES[name]
    typer.echo(f"{ref.name} version {ref.version}: {ref.description}")
    typer.echo(f"source: {ref.source} ({ref.licence} licence)")
    typer.echo(f"notes: {ref.notes}")
    typer.echo(f"store: {store.location} (read-only; query it with ckptscope query "
               f"--reference {name})")  # fmt: skip
    models = store.query("select model, count(distinct step) steps, min(step) first, "
                         "max(step) last from tasks group by model")  # fmt: skip
    order = {m: i for i, m in enumerate(ref.models)}
    models = models.sort_values("model", key=lambda s: s.map(order)).reset_index(drop=True)
    typer.echo(models.to_string(index=False))
    metrics = store.query("select distinct metric from scalars order by metric").metric
    typer.echo(f"metrics: {', '.join(metrics)}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="reference")
