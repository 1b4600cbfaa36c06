"""``ckptscope export``: a store's scalars and histograms to TensorBoard or W&B (offline)."""

from __future__ import annotations

from typing import Annotated

import typer

from ckptscope.cli._common import user_errors
from ckptscope.errors import UsageError

#: --to choices
TARGETS = ("tensorboard", "wandb")


def _names(text: str | None, option: str) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError(f"{option}: no names in {text!r}")
    return names


@user_errors
def export(
    store: Annotated[str, typer.Argument(metavar="STORE", help="Store folder or fsspec URL.")],
    dest: Annotated[
        str | None,
        typer.Argument(
            metavar="DIR",
            help="Output folder: TensorBoard log dir (needed), or where W&B puts wandb/ "
            "(default: the current folder).",
        ),
    ] = None,
    to: Annotated[str, typer.Option("--to", help="tensorboard or wandb.")] = "tensorboard",
    models: Annotated[
        str | None, typer.Option(help="Comma-separated models to export (default: all).")
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option(help="Comma-separated metrics and histogram kinds (e.g. norm,hist)."),
    ] = None,
    suite: Annotated[str | None, typer.Option(help="Export this suite only.")] = None,
    project: Annotated[str, typer.Option(help="W&B project name.")] = "ckptscope",
) -> None:
    """Write every scalar and histogram of STORE as TensorBoard events or offline W&B runs.

    One run per model (DIR/<suite>/<model> for TensorBoard, run <suite>/<model> for W&B),
    tags component/block/metric (mlp_in/3/norm, embed/-/norm, ln1/2/bias/norm), step =
    the training step. W&B runs are offline: upload them with `wandb sync DIR/wandb/*`.
    """
    if to not in TARGETS:
        raise UsageError(f"--to: unknown target {to!r}; choose one of {', '.join(TARGETS)}")
    if to == "tensorboard" and dest is None:
        raise UsageError("--to tensorboard needs DIR, the TensorBoard log folder")
    from ckptscope.export.base import export_store
    from ckptscope.outputs import output_dir
    from ckptscope.store import Store
    from ckptscope.store.layout import store_location

    if to == "tensorboard":
        from ckptscope.export.tensorboard import TensorBoardExporter, require_tensorboard

        require_tensorboard()
    else:
        from ckptscope.export.wandb import WandbExporter, require_wandb

        require_wandb()
    out = output_dir(dest or ".", "DIR")
    opened = Store(store_location(store), create=False)
    model_list, metric_list = _names(models, "--models"), _names(metrics, "--metrics")
    # an exporter writes nothing until its first step; export_store refuses bad filters first
    exporter = (
        TensorBoardExporter(out) if to == "tensorboard" else WandbExporter(out, project=project)
    )
    with exporter:
        done = export_store(opened, exporter, model_list, metric_list, suite)
    if to == "wandb":
        from ckptscope.export.wandb import stop_wandb_service

        stop_wandb_service()  # the offline files are whole when the command returns
    where = f"{out}" if to == "tensorboard" else f"{out / 'wandb'} (offline; `wandb sync` it)"
    typer.echo(
        f"exported {done.runs} run(s), {done.steps} steps: {done.scalars} scalars, "
        f"{done.histograms} histograms to {where}"
    )


def register(app: typer.Typer) -> None:
    app.command("export")(export)
