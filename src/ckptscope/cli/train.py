"""``ckptscope train``: train the offline Pythia-like checkpoint suite."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ckptscope.cli._common import user_errors
from ckptscope.errors import UsageError

if TYPE_CHECKING:  # the trainer imports torch and transformers: only when a command runs
    from ckptscope.train import ModelSize, TrainProgress


def parse_sizes(text: str) -> list[ModelSize]:
    """Parse ``64x2,128x4`` (width x blocks) into model sizes."""
    from ckptscope.train import ModelSize

    sizes = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            width, layers = (int(x) for x in part.lower().split("x"))
        except ValueError:
            raise UsageError(f"bad size {part!r}: expected WIDTHxBLOCKS, e.g. 128x2") from None
        sizes.append(ModelSize(width, layers))
    if not sizes:
        raise UsageError(f"no sizes in {text!r}")
    return sizes


def parse_seeds(text: str) -> list[int]:
    """Parse ``0,1,2`` into seeds."""
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"bad seeds {text!r}: expected integers like 0,1") from None


@user_errors
def train(
    out_dir: Annotated[Path, typer.Argument(help="Suite folder to create or resume.")],
    preset: Annotated[
        str, typer.Option(help="Preset: tiny (seconds), demo (~2 min), small (~20 min on 2 cores).")
    ] = "demo",
    sizes: Annotated[
        str | None, typer.Option(help="Model sizes WIDTHxBLOCKS, comma-separated: 64x2,128x2.")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps per model.")] = None,
    seeds: Annotated[str | None, typer.Option(help="Seeds, comma-separated: 0,1.")] = None,
    corpus: Annotated[
        Path | None, typer.Option(help="Own corpus (.txt or .txt.xz) instead of the shipped one.")
    ] = None,
    device: Annotated[str, typer.Option(help="Torch device: cpu, cuda, cuda:1.")] = "cpu",
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
    workers: Annotated[
        int, typer.Option(help="Models trained at once, each in its own process (CPU).")
    ] = 1,
    watch: Annotated[
        Path | None,
        typer.Option(help="Store to analyse each model into while it trains (as a sweep would)."),
    ] = None,
    watch_budget: Annotated[
        float, typer.Option(help="Share of training time the --watch analyses may take.")
    ] = 0.05,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Train a Pythia-like suite of sizes and seeds, checkpointed; resumes if interrupted."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ckptscope.train import resolve_config, train_suite

    watching = None
    if watch is not None:
        from ckptscope.watch.training import TrainWatch

        watching = TrainWatch(watch, budget=watch_budget)
    elif watch_budget != 0.05:
        raise UsageError("--watch-budget goes with --watch STORE")
    cfg = resolve_config(
        preset,
        sizes=parse_sizes(sizes) if sizes else None,
        steps=steps,
        seeds=parse_seeds(seeds) if seeds else None,
    )
    with Progress(
        TextColumn("{task.description:>16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        disable=quiet,
    ) as bar:
        tasks = {
            name: bar.add_task(name, total=cfg.train.steps, info="") for name, _, _ in cfg.models()
        }

        def show(p: TrainProgress) -> None:
            info = None
            if p.event == "checkpoint" and p.heldout_loss is not None:
                info = f"held-out loss {p.heldout_loss:.3f} at step {p.step}"
            elif p.event == "skip":
                info = "already trained"
            kwargs = {"info": info} if info else {}
            bar.update(tasks[p.model], completed=p.step, **kwargs)

        path = train_suite(
            out_dir,
            config=cfg,
            corpus=corpus,
            device=device,
            threads=threads,
            progress=show,
            workers=workers,
            watch=watching,
        )
    typer.echo(f"suite written to {path}")
    if watch is not None:
        typer.echo(f"watched into {watch}: `ckptscope report {watch}` draws it")


def register(app: typer.Typer) -> None:
    """Add the ``train`` command."""
    app.command("train")(train)
