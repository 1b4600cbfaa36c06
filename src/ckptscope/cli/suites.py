"""``ckptscope suites``: what a suite holds (models, steps, tensors), without a sweep."""

from __future__ import annotations

from typing import Annotated

import typer

from ckptscope.cli._common import user_errors

suites_app = typer.Typer(
    help="Inspect checkpoint suites: local folders, hf:org/name, pythia:160m.",
    no_args_is_help=True,
)

Spec = Annotated[str, typer.Argument(help="A suite folder, hf:org/a,org/b or pythia:160m,410m.")]
Offline = Annotated[
    bool, typer.Option("--offline", help="Read the Hugging Face cache only (as HF_HUB_OFFLINE=1).")
]


def _steps_line(steps: list[int]) -> str:
    if len(steps) <= 12:
        return ", ".join(map(str, steps))
    return f"{', '.join(map(str, steps[:6]))}, ..., {', '.join(map(str, steps[-3:]))}"


@suites_app.command("list")
@user_errors
def list_suite(
    spec: Spec,
    steps: Annotated[
        str | None,
        typer.Option("--steps", help="Step selection: 0,1000:143000:1000, log, every:10, last."),
    ] = None,
    offline: Offline = False,
) -> None:
    """List a suite's models and the steps each has (or a selection of them)."""
    from ckptscope.sources import open_suite, select_steps

    suite = open_suite(spec, **({"offline": True} if offline else {}))
    typer.echo(f"suite {suite.name}")
    for model in suite.models():
        chosen = select_steps(steps, suite.steps(model))
        typer.echo(f"  {model}: {len(chosen)} steps: {_steps_line(chosen)}")


@suites_app.command("info")
@user_errors
def info(
    spec: Spec,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model (default: the first).")
    ] = None,
    step: Annotated[
        int | None, typer.Option("--step", "-n", help="Step (default: the last).")
    ] = None,
    offline: Offline = False,
) -> None:
    """List one checkpoint's tensors: raw name, canonical component, shape and dtype."""
    from ckptscope.adapters import get_adapter
    from ckptscope.sources import open_suite

    suite = open_suite(spec, **({"offline": True} if offline else {}))
    model = model or suite.models()[0]
    step = step if step is not None else suite.steps(model)[-1]
    with suite.open(model, step) as ckpt:
        adapter = get_adapter(ckpt.config())
        typer.echo(
            f"{model} step {step}: {adapter.name}, {adapter.n_layers} layers, d_model "
            f"{adapter.d_model}, {adapter.n_heads} heads"
        )
        for t in ckpt.tensors():
            comp = adapter.canonical(t.name)
            label = comp.label() if comp is not None else "(buffer)"
            typer.echo(f"  {t.name:<56} {label:<20} {t.dtype:<9} {list(t.shape)}")


@suites_app.command("verify")
@user_errors
def verify(
    spec: Spec,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model (default: all).")
    ] = None,
    steps: Annotated[
        str | None, typer.Option("--steps", help="Step selection (default: all).")
    ] = None,
    offline: Offline = False,
) -> None:
    """Check checkpoints against their configs and hash them; report identical steps."""
    from ckptscope.adapters import get_adapter
    from ckptscope.sources import open_suite, select_steps
    from ckptscope.sources.integrity import checkpoint_digest

    suite = open_suite(spec, **({"offline": True} if offline else {}))
    for name in [model] if model else suite.models():
        seen: dict[str, int] = {}
        for step in select_steps(steps, suite.steps(name)):
            with suite.open(name, step) as ckpt:
                digest = checkpoint_digest(ckpt, get_adapter(ckpt.config()))
            same = seen.setdefault(digest, step)
            note = f"  identical to step {same}" if same != step else ""
            typer.echo(f"{name} step {step}: ok {digest[:16]}{note}")


def register(app: typer.Typer) -> None:
    app.add_typer(suites_app, name="suites")
