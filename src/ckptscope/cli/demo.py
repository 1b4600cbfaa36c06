"""``ckptscope demo``: train the demo suite, sweep it, draw the report."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer

from ckptscope.cli._common import user_errors

#: lighter fits than a research sweep's defaults, so train + sweep + report fit in 5 minutes
DEMO_OPTIONS = {"distribution_max_samples": 4096, "fit_samples": 2048}
#: the shipped reference the demo's report draws beside its own curves (--no-reference: none)
DEMO_REFERENCE = "pythia-2023"


def training_note(preset: str) -> str:
    """How an offline preset was trained, and what that means for reading its figures."""
    from ckptscope.train.config import PRESETS

    tc = PRESETS[preset].train
    return (
        f"This suite was trained offline by ckptscope (preset {preset!r}): {tc.steps} steps of "
        f"{tc.batch_size} x {tc.seq_len} tokens, peak learning rate {tc.lr:g}, weight decay "
        f"{tc.weight_decay:g}. The learning rate and weight decay are higher than Pythia's "
        "(at most 1e-3 and 0.01 x lr) to compress the dynamics the post saw over 143,000 steps "
        "into a few hundred: compare shapes and orders, not step numbers (docs/presets.md)."
    )


@user_errors
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the suite, store and report.")] = Path(
        "runs/demo"
    ),
    preset: Annotated[str, typer.Option(help="Training preset.")] = "demo",
    workers: Annotated[
        int | None,
        typer.Option(help="Processes training, sweeping and drawing (default: one per core)."),
    ] = None,
    reference: Annotated[
        bool,
        typer.Option(help=f"Draw the post's Pythia numbers ({DEMO_REFERENCE}) beside F7-F11."),
    ] = True,
) -> None:
    """Train a small Pythia-like suite offline, sweep every analysis, and draw the report."""
    from ckptscope.cli.sweep import run_with_progress
    from ckptscope.engine import SweepConfig
    from ckptscope.progress import ProgressBar
    from ckptscope.report import ReportOptions, build_report
    from ckptscope.store import Store
    from ckptscope.train import TrainProgress, train_suite
    from ckptscope.train.config import PRESETS

    start = time.perf_counter()
    suite_dir = out / "suite"
    workers = workers or os.cpu_count() or 1
    typer.echo(f"[1/3] training the {preset!r} suite into {suite_dir}")
    cfg = PRESETS.get(preset)  # an unknown preset: train_suite names the known ones
    total = len(cfg.models()) * cfg.train.steps if cfg else None
    steps_done: dict[str, int] = {}
    with ProgressBar("train", unit="step") as bar:

        def show(p: TrainProgress) -> None:
            steps_done[p.model] = p.step
            bar.update(sum(steps_done.values()), total, f"{p.model} step {p.step}")

        train_suite(suite_dir, preset=preset, workers=workers, progress=show)
    trained = time.perf_counter()
    typer.echo(f"      trained in {trained - start:.0f} s")
    typer.echo(f"[2/3] sweeping it into {out / 'store'}")
    config = SweepConfig(
        suite=str(suite_dir),
        out=out / "store",
        executor="process" if workers > 1 else "local",
        workers=workers,
        extra=DEMO_OPTIONS,
    )
    result = run_with_progress(config)
    swept = time.perf_counter()
    typer.echo("[3/3] drawing the report")
    with ProgressBar("report", unit="figure") as bar:
        built = build_report(
            Store(out / "store"),
            out / "report",
            ReportOptions(
                log_steps=True,
                workers=workers,
                reference=DEMO_REFERENCE if reference else None,
                notes=(training_note(preset),),
            ),
            progress=bar.update,
        )
    for line in built.missing:
        typer.echo(f"missing {line}", err=True)
    end = time.perf_counter()
    typer.echo(
        f"done in {end - start:.0f} s (train {trained - start:.0f} s, sweep {swept - trained:.0f} s,"
        f" report {end - swept:.0f} s): {len(built.paths)} figures in {built.out_dir}"
    )
    if built.html is not None:
        typer.echo(f"open the report: {built.html.resolve()}")
    typer.echo(
        f'next: ckptscope query "select model, step, metric, value from scalars where '
        f"component='mlp_in' and metric='norm' limit 10\" --store {out / 'store'}"
    )
    raise typer.Exit(code=result.exit_code)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
