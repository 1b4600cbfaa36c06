"""Train a suite: every size and seed on one token stream, checkpointed Pythia-style.

Suite layout (other code depends on it)::

    <suite_dir>/suite.json                 manifest (see :func:`manifest`)
    <suite_dir>/<model>/step<N>/           model.safetensors (fp32), config.json,
                                           tokenizer.json, tokenizer_config.json,
                                           special_tokens_map.json
    <suite_dir>/<model>/train_log.csv      step,loss,lr,grad_norm,tokens  (one row per step)
    <suite_dir>/<model>/heldout.csv        step,heldout_loss,tokens  (one row per checkpoint)
    <suite_dir>/<model>/_resume/state.safetensors   optimizer + RNG state at the last
                                              checkpoint (no pickle: resume_state.py)

In ``train_log.csv`` row ``step`` is the update that took the model from ``step - 1`` to
``step``: ``loss`` is the train loss of that update's batch (before it), ``lr`` its learning
rate, ``grad_norm`` the gradient norm before clipping, ``tokens`` the tokens seen after it.
``heldout.csv`` has the mean next-token loss (nats) of checkpoint ``step`` on fixed held-out
windows. Losses are natural-log cross-entropy per token.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from transformers import GPTNeoXForCausalLM

from ckptscope.data.corpus import load_corpus
from ckptscope.data.tokenizer import encode_cached, load_tokenizer
from ckptscope.devices import check_device
from ckptscope.errors import CheckpointError, UsageError
from ckptscope.train import checkpoints as ck
from ckptscope.train.config import ModelSize, SuiteConfig, TrainConfig, preset
from ckptscope.train.model import build_model
from ckptscope.train.objective import heldout_loss, next_token_loss, optimizer
from ckptscope.train.schedule import checkpoint_steps, lr_at
from ckptscope.train.stream import TokenStream, heldout_windows
from ckptscope.train.suite import prepare_suite_dir

if TYPE_CHECKING:
    from ckptscope.watch.training import TrainWatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainProgress:
    """One progress report: ``event`` is start, step, checkpoint, skip or done."""

    event: str
    model: str
    step: int  # optimizer steps done
    total_steps: int
    loss: float | None = None  # train loss of the last step
    lr: float | None = None
    heldout_loss: float | None = None  # set on checkpoint events


ProgressFn = Callable[[TrainProgress], None]


def resolve_config(
    preset_name: str = "demo",
    *,
    sizes: Sequence[ModelSize | tuple[int, int]] | None = None,
    steps: int | None = None,
    seeds: Sequence[int] | None = None,
    name: str | None = None,
) -> SuiteConfig:
    """A preset with the user's overrides (sizes as ModelSize or (width, layers))."""
    cfg = preset(preset_name)
    changes: dict[str, Any] = {}
    if sizes is not None:
        changes["sizes"] = tuple(s if isinstance(s, ModelSize) else ModelSize(*s) for s in sizes)
    if seeds is not None:
        changes["seeds"] = tuple(seeds)
    if steps is not None:
        changes["train"] = dataclasses.replace(cfg.train, steps=steps)
    if name is not None:
        changes["name"] = name
    return dataclasses.replace(cfg, **changes) if changes else cfg


def train_suite(
    out_dir: Path | str,
    preset: str = "demo",
    *,
    sizes: Sequence[ModelSize | tuple[int, int]] | None = None,
    steps: int | None = None,
    seeds: Sequence[int] | None = None,
    corpus: Path | str | None = None,
    name: str | None = None,
    config: SuiteConfig | None = None,
    device: str = "cpu",
    threads: int | None = None,  # None: auto_threads(size) per model, kept on resume
    progress: ProgressFn | None = None,
    workers: int = 1,
    watch: TrainWatch | Path | str | None = None,
) -> Path:
    """Train (or resume) a checkpoint suite into ``out_dir`` and return its path.

    ``config`` replaces ``preset`` and its overrides. ``corpus`` is a text/.xz file (default:
    the shipped corpus). Finished models are skipped; an interrupted one resumes from its
    last checkpoint and ends bit-identical to an uninterrupted run (same device and threads).
    ``workers > 1`` trains that many models at once on the CPU, each in a spawned process
    with ``threads`` (default: the cores shared out) torch threads, the largest first: small
    models use one core each, so a suite of several trains in a fraction of the time. Each
    model's weights are those of a serial run with the same thread count.
    ``watch`` (a store, or a ``TrainWatch``) analyses each model while it trains, into
    that store, at its checkpoint steps (``ckptscope.watch``); the weights are the same.
    Raises UsageError for bad input, before anything is written.
    """
    if workers < 1:
        raise UsageError(f"workers must be at least 1, got {workers}")
    cfg = config or resolve_config(preset, sizes=sizes, steps=steps, seeds=seeds, name=name)
    check_device(device)
    corp = load_corpus(corpus)
    train_ids = encode_cached(corp.train)
    held_ids = encode_cached(corp.heldout)
    vocab = load_tokenizer().get_vocab_size()
    if vocab != cfg.vocab_size:
        raise UsageError(f"tokenizer has {vocab} tokens but the suite config says {cfg.vocab_size}")
    tc = cfg.train
    heldout = heldout_windows(held_ids, tc.seq_len, tc.heldout_tokens)
    TokenStream(train_ids, tc.seq_len, tc.batch_size, 0)  # checks the size before any write
    if watch is not None:
        from ckptscope.watch.training import TrainWatch

        watch = watch if isinstance(watch, TrainWatch) else TrainWatch(watch)
        watch.check()  # before the suite folder is written
    out = prepare_suite_dir(Path(out_dir), cfg, corp, corpus, len(train_ids), len(held_ids))
    if workers > 1 and len(cfg.models()) > 1 and device == "cpu":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        each = threads or max(1, (cores or 1) // workers)
        _train_parallel(out, cfg, train_ids, heldout, each, progress, workers, watch)
        _derive(watch, cfg.name)  # once all models are in: each worker saw only its own
        return out
    saved_threads = torch.get_num_threads()
    try:
        for model_name, size, seed in cfg.models():
            stream = TokenStream(train_ids, tc.seq_len, tc.batch_size, seed)
            _train_model(
                out / model_name,
                model_name,
                size,
                seed,
                cfg,
                stream,
                heldout,
                device,
                threads,
                progress,
                watch,
            )
    finally:
        torch.set_num_threads(saved_threads)
    _derive(watch, cfg.name)
    return out


def _derive(watch: TrainWatch | None, suite: str) -> None:
    """The store's derivations over every watched model (as a sweep ends)."""
    if watch is not None:
        from ckptscope.engine.sweep import run_derivations
        from ckptscope.store import Store

        store = Store(watch.store)
        with store.sweep_lock():
            run_derivations(store, suite)


def _cost(size: ModelSize) -> int:
    """A model's rough cost per step: its blocks' matrices and its unembedding."""
    return size.n_layers * 12 * size.width**2 + 4096 * size.width


def _train_parallel(
    out: Path,
    cfg: SuiteConfig,
    train_ids: torch.Tensor,
    heldout: torch.Tensor,
    threads: int,
    progress: ProgressFn | None,
    workers: int,
    watch: TrainWatch | None = None,
) -> None:
    """Train the suite's models in ``workers`` spawned processes, relaying their progress."""
    ctx = multiprocessing.get_context("spawn")
    models = sorted(cfg.models(), key=lambda m: _cost(m[1]), reverse=True)
    with ctx.Manager() as manager, ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        queue = manager.Queue() if progress else None
        pending = {pool.submit(_train_in_worker, out, name, size, seed, cfg, train_ids, heldout,
                               threads, queue, watch) for name, size, seed in models}  # fmt: skip
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _relay(queue, progress)
            for job in done:
                job.result()  # the first model that failed raises here; the others finish
        _relay(queue, progress)


def _relay(queue: Any, progress: ProgressFn | None) -> None:
    """Hand the workers' queued progress records to ``progress``."""
    while queue is not None and progress is not None and not queue.empty():
        progress(queue.get())


def _train_in_worker(
    out: Path,
    name: str,
    size: ModelSize,
    seed: int,
    cfg: SuiteConfig,
    train_ids: torch.Tensor,
    heldout: torch.Tensor,
    threads: int,
    queue: Any,
    watch: TrainWatch | None = None,
) -> None:
    """One model in a worker process (see :func:`train_suite`)."""
    tc = cfg.train
    stream = TokenStream(train_ids, tc.seq_len, tc.batch_size, seed)
    report = queue.put if queue is not None else None
    _train_model(out / name, name, size, seed, cfg, stream, heldout, "cpu", threads, report, watch)


def auto_threads(size: ModelSize) -> int:
    """CPU threads for a size: 1 below width 256, else up to the cores not busy elsewhere.

    Small matrices gain little from a second thread, and on a busy machine OpenMP threads
    that spin-wait for each other make a step many times slower. The count changes the
    floating-point reduction order, so a model keeps its count when resumed.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    want = max(1, min(cores or 1, size.width // 128, 8))
    if want > 1 and hasattr(os, "getloadavg"):
        # The load average counts this process itself (about 1 while it trains).
        free = (cores or 1) - max(0.0, os.getloadavg()[0] - 1.0)
        want = max(1, min(want, int(free + 0.5)))
    return want


def _train_model(
    model_dir: Path,
    name: str,
    size: ModelSize,
    seed: int,
    cfg: SuiteConfig,
    stream: TokenStream,
    heldout: torch.Tensor,
    device: str,
    threads: int | None,
    progress: ProgressFn | None,
    watch: TrainWatch | None = None,
    init_state: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """Train (or resume, or skip when finished) one model into ``model_dir``.

    ``init_state`` (parameter name -> tensor, the model's own names) replaces the standard
    init at step 0 of a fresh run; a resumed run continues from its checkpoint instead.
    """
    tc = cfg.train
    report = progress or (lambda p: None)
    model_dir.mkdir(exist_ok=True)
    ck.remove_stale_temporaries(model_dir)
    state = ck.load_resume(model_dir)
    if state is not None and state.get("finished"):
        log.info("%s: finished, skipping", name)
        report(TrainProgress("skip", name, tc.steps, tc.steps))
        return
    if threads is None:
        threads = state["threads"] if state and "threads" in state else auto_threads(size)
    torch.set_num_threads(threads)
    ckpt_steps = set(checkpoint_steps(tc.steps, tc.n_even_checkpoints))
    peak = size.lr if size.lr is not None else tc.lr
    model = build_model(size, cfg.vocab_size, tc.seq_len, seed)
    if init_state is not None and state is None:  # the caller checked names and shapes
        model.load_state_dict(dict(init_state), strict=True)
    start = 0
    if state is not None:
        start = int(state["step"])
        folder = ck.step_dir(model_dir, start)
        if not (folder / "model.safetensors").is_file():
            raise CheckpointError(f"cannot resume {name}: checkpoint {str(folder)!r} is missing")
        ck.load_weights(model, folder)
    model.to(device).train()
    opt = optimizer(model, tc, peak)
    if state is not None:
        try:
            opt.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
        except (ValueError, KeyError, TypeError, RuntimeError) as err:
            raise CheckpointError(
                f"cannot resume {name}: the resume state in {model_dir / ck.RESUME_DIR} does not "
                f"fit this model's optimizer ({str(err).splitlines()[0]})"
            ) from None
    train_rows = ck.read_csv(model_dir / ck.TRAIN_LOG, start)
    held_rows = ck.read_csv(model_dir / ck.HELDOUT_LOG, start)
    report(TrainProgress("start", name, start, tc.steps))
    log.info(
        "%s: training steps %d..%d (%.2f epochs in all)",
        name,
        start,
        tc.steps,
        stream.epochs(tc.steps),
    )
    if state is None:
        _checkpoint(
            model, opt, model_dir, 0, tc, heldout, held_rows, train_rows, device, name, report
        )
    watcher = None
    if watch is not None:
        from ckptscope.watch.training import suite_watcher

        watcher = suite_watcher(watch, model, name, cfg.name, sorted(ckpt_steps))
        if start > 0:  # the initial weights, saved, for the distances from them
            with torch.random.fork_rng(devices=[]):  # building draws: the run's RNG is kept
                initial = build_model(size, cfg.vocab_size, tc.seq_len, seed)
            ck.load_weights(initial, ck.step_dir(model_dir, 0))
            watcher.hold(0, initial)
        watcher.step(start)  # step 0, or the resumed step (in the store already)
    for step in range(start, tc.steps):
        lr = lr_at(step, tc, peak)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = stream.batch(step).to(device)  # (batch, seq_len + 1)
        loss = next_token_loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        done = step + 1
        row = {"step": done, "loss": loss.item(), "lr": lr, "grad_norm": float(grad_norm)}
        train_rows.append({**row, "tokens": done * tc.tokens_per_step})
        report(TrainProgress("step", name, done, tc.steps, loss=row["loss"], lr=lr))
        if watcher is not None:
            watcher.step(done)
        if done in ckpt_steps:
            _checkpoint(
                model,
                opt,
                model_dir,
                done,
                tc,
                heldout,
                held_rows,
                train_rows,
                device,
                name,
                report,
            )
    if watcher is not None:
        watcher.close()
    ck.save_resume(model_dir, {"step": tc.steps, "finished": True})
    report(TrainProgress("done", name, tc.steps, tc.steps))


def _checkpoint(
    model: GPTNeoXForCausalLM,
    opt: torch.optim.Optimizer,
    model_dir: Path,
    step: int,
    tc: TrainConfig,
    heldout: torch.Tensor,
    held_rows: list[dict[str, Any]],
    train_rows: list[dict[str, Any]],
    device: str,
    name: str,
    report: ProgressFn,
) -> None:
    """Evaluate, then write weights, logs and resume state, in that order."""
    held = heldout_loss(model, heldout, tc.batch_size, device)
    folder = ck.step_dir(model_dir, step)
    if not folder.exists():  # a rerun after a crash recomputes identical weights
        ck.write_checkpoint(model, folder, tc.seq_len)
    held_rows.append({"step": step, "heldout_loss": held, "tokens": step * tc.tokens_per_step})
    ck.write_csv(model_dir / ck.TRAIN_LOG, ck.TRAIN_LOG_FIELDS, train_rows)
    ck.write_csv(model_dir / ck.HELDOUT_LOG, ck.HELDOUT_LOG_FIELDS, held_rows)
    ck.save_resume(
        model_dir,
        {
            "step": step,
            "finished": False,
            "optimizer": opt.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "threads": torch.get_num_threads(),
        },
    )
    report(TrainProgress("checkpoint", name, step, tc.steps, heldout_loss=held))
