"""The open experiment "init-from-final": does a model initialised from the final weights'
distribution train faster than one with the standard init?

From a finished model of an offline-trained suite it trains, with the same recipe
(TrainConfig), corpus and data order (``TokenStream`` per seed), one model per init and
seed (inits in ``inits.py``): ``standard`` (the trainer's init for that seed),
``sampled`` (each tensor drawn i.i.d. from its final values), ``permuted`` (each tensor's
final values shuffled). Layout of the experiment folder ``out``::

    out/suite/     a ckptscope suite (suite.json + checkpoints + logs) of those models
    out/store/     the results store: the loss curves (derivation ``training_log``) and the
                   sweep of every checkpoint (``weights``, ``distributions`` by default)
    out/summary.md, out/summary.html, out/loss_curves.png, out/result.json

Model names are ``<size>-<variant>-seed<seed>`` with the variant ``init_<init>``, e.g.
``w64-init_sampled-seed0``; the suite manifest lists each model's ``size``, ``variant``,
``init`` and ``seed`` too. Loss rows in the store: component ``model``, block None, param
``""``, metric ``train_loss`` (each step's batch, before its update) and ``heldout_loss``
(each checkpoint). A rerun skips finished models and stored sweep tasks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ckptscope.errors import CkptscopeError, UsageError
from ckptscope.experiments.inits import INITS
from ckptscope.experiments.results import InitFromFinalResult, summarise
from ckptscope.experiments.source import (
    SourceModel,
    check_data,
    experiment_config,
    load_final,
    read_source,
)

log = logging.getLogger(__name__)

EXPERIMENT = "init-from-final"
DERIVATION = "training_log"
#: lighter distribution fits than a research sweep's defaults (as the demo's), per analysis
SWEEP_OPTIONS = {"distributions": {"distribution_max_samples": 4096}}


@dataclass(frozen=True)
class InitFromFinalConfig:
    """Options of the experiment; the same object behind the CLI and the Python API.

    ``out`` None: ``<suite>-init-from-final-<model>`` beside the suite. ``steps`` None: the
    suite's (another count stretches the LR schedule to it). ``checkpoints`` evenly spaced
    checkpoints (held-out evaluations) after the powers of two; it changes no weight.
    ``target`` None: ``target_factor`` x the standard init's final held-out loss (mean
    over seeds). ``smooth``: steps in the trailing mean of the train loss.
    """

    suite: Path
    model: str
    seeds: tuple[int, ...] = (0, 1)
    out: Path | None = None
    steps: int | None = None
    checkpoints: int | None = 30
    target: float | None = None
    target_factor: float = 1.05
    smooth: int = 20
    analyses: tuple[str, ...] = ("weights", "distributions")
    workers: int = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        if len(self.seeds) < 2 or len(set(self.seeds)) != len(self.seeds):
            raise UsageError(f"--seeds needs at least 2 distinct seeds, got {list(self.seeds)}")
        if any(s < 0 for s in self.seeds):
            raise UsageError(f"--seeds must be non-negative, got {list(self.seeds)}")
        for name in ("steps", "checkpoints"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UsageError(f"--{name} must be at least 1, got {value}")
        if self.target is not None and not (0 < self.target < float("inf")):
            raise UsageError(f"--target must be a positive finite loss, got {self.target}")
        if not (self.target_factor > 0 and self.target_factor < float("inf")):
            raise UsageError(f"target factor must be positive, got {self.target_factor}")
        if self.smooth < 1 or self.workers < 1:
            raise UsageError("--smooth and --workers must be at least 1")
        if self.analyses:  # a typo is refused here, not after every model has trained
            from ckptscope.engine.sweep import resolve_analyses

            try:
                resolve_analyses(tuple(self.analyses))
            except ValueError as err:
                raise UsageError(f"--analyses: {err}") from None


@dataclass(frozen=True)
class Run:
    """One model of the experiment."""

    name: str
    init: str
    seed: int


def run_name(size_label: str, init: str, seed: int) -> str:
    """``w64-init_sampled-seed0``: ``<size>-<variant>-seed<seed>``, variant ``init_<init>``."""
    return f"{size_label}-init_{init}-seed{seed}"


def _manifest(source: SourceModel, cfg: Any, runs: list[Run], corpus: Any) -> dict[str, Any]:
    from ckptscope.data.tokenizer import encode_cached
    from ckptscope.train.suite import manifest

    m = manifest(cfg, corpus, source.corpus_path, *(len(encode_cached(t)) for t in
                 (corpus.train, corpus.heldout)))  # fmt: skip
    template = m["models"][0]
    m["models"] = [
        {**template, "name": r.name, "seed": r.seed, "size": source.size_label,
         "variant": f"init_{r.init}", "init": r.init}
        for r in runs
    ]  # fmt: skip
    m["experiment"] = {
        "name": EXPERIMENT,
        "naming": "<size>-<variant>-seed<seed>, variant init_<init>",
        "source_suite": str(source.suite_dir.resolve()),
        "source_suite_name": source.manifest.get("name"),
        "source_model": source.model,
        "source_step": source.final_step,
        "inits": list(INITS),
    }
    return m


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def norm(m: dict[str, Any]) -> dict[str, Any]:
        m = json.loads(json.dumps(m))
        m.pop("ckptscope_version", None)
        m.get("corpus", {}).pop("path", None)
        return m

    return norm(a) == norm(b)


def run_init_from_final(
    config: InitFromFinalConfig, progress: Callable[[str], None] | None = None
) -> InitFromFinalResult:
    """Train (or resume) every init and seed, store the curves, sweep, and summarise."""
    from ckptscope.devices import check_device
    from ckptscope.train.checkpoints import write_json_atomic

    say = progress or (lambda line: None)
    source = read_source(config.suite, config.model)
    check_device(config.device)
    corpus, corpus_path = check_data(source)
    load_final(source)  # refuse unreadable or non-finite final weights before any training
    train = source.train
    if config.steps is not None:
        train = replace(train, steps=config.steps)
    if config.checkpoints is not None:
        train = replace(train, n_even_checkpoints=config.checkpoints)
    name = f"{source.manifest.get('name', source.suite_dir.name)}-{EXPERIMENT}-{source.model}"
    cfg = experiment_config(source, name, train, config.seeds)
    runs = [Run(run_name(source.size_label, i, s), i, s) for i in INITS for s in config.seeds]
    out = (
        config.out
        or source.suite_dir.parent / f"{source.suite_dir.name}-{EXPERIMENT}-{source.model}"
    )
    suite_dir = out / "suite"
    manifest = _manifest(source, cfg, runs, corpus)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r} exists and is not a folder")
    if (suite_dir / "suite.json").is_file():
        old = json.loads((suite_dir / "suite.json").read_text())
        if not _same(old, manifest):
            raise UsageError(
                f"{str(out)!r} holds another experiment (its suite.json differs); "
                "choose another --out"
            )
    elif out.is_dir() and any(out.iterdir()):
        raise UsageError(f"--out {str(out)!r} is not empty and holds no experiment")
    suite_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(suite_dir / "suite.json", manifest)
    _train_all(source, cfg, runs, suite_dir, corpus_path, config, say)
    store = _store_curves(out / "store", suite_dir, name, runs)
    if config.analyses:
        _sweep(suite_dir, out / "store", config, say)
    say("summarising")
    return summarise(store, name, runs, source, config, out)


def _train_all(
    source: SourceModel,
    cfg: Any,
    runs: list[Run],
    suite_dir: Path,
    corpus_path: Path | None,
    config: InitFromFinalConfig,
    say: Callable[[str], None],
) -> None:
    """Train every run (finished ones are skipped by the trainer)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    jobs = [(source, cfg, r, suite_dir, corpus_path, config.device) for r in runs]
    if config.workers == 1 or config.device != "cpu":
        for job in jobs:
            say(f"training {job[2].name}")
            _train_run(*job)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(config.workers, mp_context=ctx) as pool:
        futures = {pool.submit(_train_run, *job): job[2].name for job in jobs}
        for future, run in futures.items():
            future.result()
            say(f"{run}: trained (or already finished)")


def _train_run(
    source: SourceModel,
    cfg: Any,
    run: Run,
    suite_dir: Path,
    corpus_path: Path | None,
    device: str,
) -> None:
    """One model: its init from the source's final weights, then the trainer's loop."""
    import torch

    from ckptscope.data.corpus import load_corpus
    from ckptscope.data.tokenizer import encode_cached
    from ckptscope.experiments.inits import init_from
    from ckptscope.train import checkpoints as ck
    from ckptscope.train.loop import _train_model
    from ckptscope.train.stream import TokenStream, heldout_windows

    model_dir = suite_dir / run.name
    state = ck.load_resume(model_dir) if model_dir.is_dir() else None
    init = None
    if state is None and run.init != "standard":  # a resumed run starts from its checkpoint
        init = init_from(run.init, load_final(source), run.seed)
    corpus = load_corpus(corpus_path)
    tc = cfg.train
    stream = TokenStream(encode_cached(corpus.train), tc.seq_len, tc.batch_size, run.seed)
    heldout = heldout_windows(encode_cached(corpus.heldout), tc.seq_len, tc.heldout_tokens)
    saved = torch.get_num_threads()
    try:
        _train_model(model_dir, run.name, source.size, run.seed, cfg, stream, heldout, device,
                     None, None, init_state=init)  # fmt: skip
    finally:
        torch.set_num_threads(saved)


def _store_curves(store_dir: Path, suite_dir: Path, suite: str, runs: list[Run]) -> Any:
    """Write every run's train and held-out losses into the store (derivation rows)."""
    from ckptscope.records import Derived, DerivedScalar, Scalar
    from ckptscope.store import Store
    from ckptscope.train import checkpoints as ck

    rows: list[DerivedScalar] = []
    for run in runs:
        for metric, file, column in (("train_loss", ck.TRAIN_LOG, "loss"),
                                     ("heldout_loss", ck.HELDOUT_LOG, "heldout_loss")):  # fmt: skip
            for r in ck.read_csv(suite_dir / run.name / file, 1 << 62):
                rows.append(
                    DerivedScalar(run.name, r["step"], Scalar("model", None, "", metric, r[column]))
                )
    store = Store(store_dir)
    store.write_derived(DERIVATION, suite, Derived(scalars=rows))
    return store


def _sweep(suite_dir: Path, store_dir: Path, config: InitFromFinalConfig, say: Any) -> None:
    """The usual statistics of every checkpoint (stored tasks are skipped)."""
    from ckptscope.engine.sweep import SweepConfig, run_sweep

    say(f"sweeping {', '.join(config.analyses)} into {store_dir}")
    sweep = SweepConfig(
        suite=str(suite_dir),
        out=store_dir,
        analyses=config.analyses,
        executor="process" if config.workers > 1 else "local",
        workers=config.workers,
        extra={k: v for a in config.analyses for k, v in SWEEP_OPTIONS.get(a, {}).items()},
    )
    result = run_sweep(sweep)
    if result.failed:
        first = next(iter(result.failed.items()))
        raise CkptscopeError(
            f"sweep of {suite_dir}: {len(result.failed)} tasks failed, e.g. {first[0]}: {first[1]}"
        )


def init_from_final(
    suite: str | Path,
    model: str,
    *,
    seeds: tuple[int, ...] | list[int] = (0, 1),
    out: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> InitFromFinalResult:
    """Run the experiment (the Python API of ``ckptscope experiment init-from-final``).

    ``options`` are :class:`InitFromFinalConfig`'s other fields (``steps``, ``checkpoints``,
    ``target``, ``target_factor``, ``smooth``, ``analyses``, ``workers``, ``device``)::

        res = cs.init_from_final("runs/demo/suite", "w64", seeds=[0, 1], workers=2)
        res.rows[1].heldout_steps.mean, res.verdicts["sampled"]
    """
    if "analyses" in options and options["analyses"] is not None:
        options["analyses"] = tuple(options["analyses"])
    config = InitFromFinalConfig(
        suite=Path(suite),
        model=model,
        seeds=tuple(seeds),
        out=None if out is None else Path(out),
        **options,
    )
    return run_init_from_final(config, progress)
