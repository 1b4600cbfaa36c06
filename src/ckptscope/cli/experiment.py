"""``ckptscope experiment``: training experiments the post proposes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ckptscope.cli._common import user_errors

experiment_app = typer.Typer(
    help="Training experiments: retrain a suite's model from other inits and compare.",
    no_args_is_help=True,
)


@experiment_app.command("init-from-final")
@user_errors
def init_from_final(
    suite: Annotated[Path, typer.Argument(help="A suite trained by `ckptscope train`.")],
    model: Annotated[str, typer.Option(help="The suite's model whose final weights to use.")],
    seeds: Annotated[str, typer.Option(help="Seeds, comma-separated (2 or more).")] = "0,1",
    out: Annotated[
        Path | None,
        typer.Option(
            help="Experiment folder: store/, suite/, summary.md/.html, loss_curves.png "
            "(default: <SUITE>-init-from-final-<MODEL> beside the suite)."
        ),
    ] = None,
    steps: Annotated[
        int | None, typer.Option(help="Training steps (default: the suite's).")
    ] = None,
    checkpoints: Annotated[
        int, typer.Option(help="Evenly spaced checkpoints (held-out evaluations).")
    ] = 30,
    target: Annotated[
        float | None,
        typer.Option(help="Target loss (default: 1.05 x standard init's final held-out loss)."),
    ] = None,
    smooth: Annotated[int, typer.Option(help="Steps in the train loss's trailing mean.")] = 20,
    analyses: Annotated[
        str, typer.Option(help="Sweep analyses over the checkpoints ('' for none).")
    ] = "weights,distributions",
    workers: Annotated[int, typer.Option(help="Models trained at once (processes).")] = 1,
    device: Annotated[str, typer.Option(help="Torch device: cpu, cuda.")] = "cpu",
) -> None:
    """Train standard, sampled-from-final and permuted-final inits; compare loss curves."""
    from ckptscope.cli.train import parse_seeds
    from ckptscope.experiments import InitFromFinalConfig, run_init_from_final

    config = InitFromFinalConfig(
        suite=suite,
        model=model,
        seeds=tuple(parse_seeds(seeds)),
        out=out,
        steps=steps,
        checkpoints=checkpoints,
        target=target,
        smooth=smooth,
        analyses=tuple(a.strip() for a in analyses.split(",") if a.strip()),
        workers=workers,
        device=device,
    )
    result = run_init_from_final(config, progress=lambda line: typer.echo(f"  {line}"))
    typer.echo(f"target loss {result.target:.4f} ({result.target_rule})")
    for row in result.rows:
        typer.echo(
            f"{row.init:>9}: steps to target {row.heldout_steps.text()} (held-out), "
            f"{row.train_steps.text()} (train); final held-out {row.final_heldout.text(4)}"
        )
    for init, verdict in result.verdicts.items():
        typer.echo(f"{init}: {verdict}")
    typer.echo(f"summary: {result.markdown} and {result.html}; store: {result.store}")


def register(app: typer.Typer) -> None:
    """Add the ``experiment`` command group."""
    app.add_typer(experiment_app, name="experiment")
