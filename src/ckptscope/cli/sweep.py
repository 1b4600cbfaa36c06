"""``ckptscope sweep``: run analyses over a suite's checkpoints into a store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ckptscope.cli._common import user_errors

if TYPE_CHECKING:
    from ckptscope.engine.sweep import SweepConfig, SweepResult


@user_errors
def sweep(
    suite: Annotated[str, typer.Argument(help="Suite folder, checkpoint folder, or hf:ORG/REPO.")],
    out: Annotated[
        str, typer.Option("--out", "-o", help="Store folder, or fsspec URL (s3://...), created.")
    ],
    models: Annotated[
        str | None, typer.Option(help="Comma-separated models (default: all).")
    ] = None,
    steps: Annotated[
        str | None, typer.Option(help="Steps: '0,1000:143000:1000', 'log', 'every:10', 'last'.")
    ] = None,
    analyses: Annotated[
        str | None, typer.Option(help="Comma-separated analyses (default: all available).")
    ] = None,
    executor: Annotated[str, typer.Option(help="local, process or ray.")] = "local",
    workers: Annotated[
        int, typer.Option(help="Workers: processes for --executor process, CPUs of a local Ray.")
    ] = 1,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    data: Annotated[
        str | None, typer.Option(help="Text or .npy token file for activations and gradients.")
    ] = None,
    max_disk: Annotated[
        str | None, typer.Option(help="Disk budget for Hub streaming, e.g. '20GB'.")
    ] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for subsamples and the data batch.")] = 0,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="Analysis option KEY=VALUE (VALUE as JSON), e.g. --set n_seqs=8."
        ),
    ] = None,
) -> None:
    """Run analyses over every selected checkpoint; resumes where a previous run stopped.

    Exit codes: 0 every task succeeded; 3 some tasks failed (listed, and stored in the
    failures table); 1 bad usage.
    """
    from ckptscope.api import sweep_config

    config = sweep_config(suite, out, models=models, steps=steps, analyses=analyses,
                          executor=executor, workers=workers, device=device, data=data,
                          max_disk=max_disk, address=address, seed=seed,
                          options=parse_options(option or []))  # fmt: skip
    result = run_with_progress(config)
    raise typer.Exit(code=result.exit_code)


def parse_options(pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` pairs; VALUE is parsed as JSON when it can be, else kept as a string."""
    import json

    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def run_with_progress(config: SweepConfig) -> SweepResult:
    """Run a sweep with a progress bar and print its summary."""
    from ckptscope.api import run_sweep_with_progress

    result = run_sweep_with_progress(config)
    typer.echo(
        f"store {result.store}: {result.written} tasks written, {result.skipped_done} already "
        f"there, {len(result.failed)} failed, in {result.seconds:.1f} s"
    )
    for task, err in sorted(result.failed.items()):
        typer.echo(f"failed {task}: {err}", err=True)
    return result


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep)
