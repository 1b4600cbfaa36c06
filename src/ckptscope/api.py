"""The Python API at the top level: ``import ckptscope as cs``.

The same objects the command line uses, with progress shown in a terminal or a notebook::

    import ckptscope as cs
    from ckptscope.train import train_suite

    train_suite("runs/suite", preset="tiny")
    result = cs.sweep("runs/suite", "runs/store", analyses=["weights", "spectra"])
    store = cs.Store("runs/store")
    store.scalars(metric="norm", component="mlp_in")        # a pandas DataFrame
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ckptscope.progress import ProgressBar

if TYPE_CHECKING:
    from ckptscope.engine.sweep import SweepConfig, SweepResult
    from ckptscope.sources.base import Suite


def _tuple(values: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):
        return tuple(v.strip() for v in values.split(",") if v.strip())
    return tuple(values)


def sweep_config(
    suite: str | Path,
    out: str | Path,
    *,
    models: str | Iterable[str] | None = None,
    steps: str | None = None,
    analyses: str | Iterable[str] | None = None,
    executor: str = "local",
    workers: int = 1,
    device: str = "cpu",
    seed: int = 0,
    data: str | None = None,
    max_disk: str | None = None,
    address: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> SweepConfig:
    """The :class:`SweepConfig` of these options (what ``sweep`` and ``ckptscope sweep`` run).

    ``models`` and ``analyses`` take a list or a comma-separated string; ``out`` a folder or
    an fsspec URL; ``options`` are the per-analysis options (``--set`` on the command line).
    """
    from ckptscope.engine.sweep import SweepConfig
    from ckptscope.store.layout import store_location

    return SweepConfig(
        suite=str(suite),
        out=store_location(str(out)),
        models=_tuple(models),
        steps=steps,
        analyses=_tuple(analyses),
        executor=executor,
        workers=workers,
        device=device,
        seed=seed,
        data=data,
        max_disk=max_disk,
        address=address,
        extra=dict(options or {}),
    )


def sweep(
    suite: str | Path | Suite | None = None,
    out: str | Path | None = None,
    *,
    models: str | Iterable[str] | Mapping[Any, Any] | Suite | None = None,
    name: str | None = None,
    tokenizer: str | Path | None = None,
    progress: bool = True,
    **options: Any,
) -> SweepResult:
    """Sweep a suite, or models held in memory, into a store (stored tasks are skipped).

    ``suite`` is a folder, ``hf:org/repo``, ``pythia:160m`` or a :class:`Suite` object; the
    keywords are :func:`sweep_config`'s (``models``: names of the suite's models, ``steps``,
    ``analyses``, ``executor``, ``workers``, ``device``, ``seed``, ``data``, ``max_disk``,
    ``address``, ``options``).
    With ``executor="process"`` the workers are spawned processes that import the calling
    script again: in a script (not a notebook), call ``sweep`` under
    ``if __name__ == "__main__":``.

    In-memory models, swept without writing their weights (a
    :class:`~ckptscope.sources.memory.ModelSource`; ``executor="local"`` only): ``models``
    is ``{step: obj}`` for one model (named ``name``, else after its ``model_type``) or
    ``{model_name: {step: obj}}``, each ``obj`` a ``transformers`` model, a
    ``(state_dict, config)`` pair or a callable returning one; or a ``ModelSource``. The
    rows are those of the same weights saved with ``save_pretrained`` and swept from a
    folder. ``tokenizer`` is a folder of tokenizer files for the activation analyses::

        cs.sweep(models={0: model_at_0, 1000: model_at_1000}, out="runs/store",
                 analyses=["weights", "spectra"])
    """
    from ckptscope.errors import UsageError
    from ckptscope.sources.base import Suite

    source = suite if isinstance(suite, Suite) else None
    if isinstance(models, Mapping | Suite):
        if suite is not None:
            raise UsageError(
                f"give in-memory models= or a suite, not both (got suite {str(suite)!r}); "
                "the store is out="
            )
        from ckptscope.sources.memory import model_source

        source = model_source(models, model=name, tokenizer=tokenizer)
        models = None
    elif name is not None or tokenizer is not None:
        raise UsageError("name= and tokenizer= go with in-memory models={step: model}")
    elif suite is None:
        raise UsageError("sweep needs a suite, or in-memory models=")
    if out is None:
        raise UsageError("sweep needs out=, the store to write")
    config = sweep_config(
        source.name if source is not None else suite, out, models=models, **options
    )
    return run_sweep_with_progress(config, suite=source, progress=progress)


def run_sweep_with_progress(
    config: SweepConfig, *, suite: Suite | None = None, progress: bool = True
) -> SweepResult:
    """``run_sweep`` with a progress bar of checkpoints (what the CLI and ``sweep`` run)."""
    from ckptscope.engine.sweep import run_sweep

    with ProgressBar("sweep", unit="ckpt", enabled=progress) as bar:
        return run_sweep(
            config,
            progress=lambda p: bar.update(p.done, p.total, f"{p.model} step {p.step}"),
            suite=suite,
        )
