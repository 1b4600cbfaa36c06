"""A store shaped like a whole Pythia sweep: figure queries, findings and report, before and
after compaction.

The store is generated, not swept: :func:`measure_template` reads a real sweep of a small
trained model (every default analysis, 4 checkpoints) and records, per analysis, each row
it wrote as global, per block or per (block, head), from which checkpoint on, with its
array shape; :func:`generate_store` writes those rows through ``Store.write_task`` for
any model shapes and steps (default: the 8 Pythia sizes 70m..12b x 154 checkpoints), with
synthetic values, then runs the sweep's derivations. :func:`task_rows` gives the row
counts of one task at a shape.

Each measurement is a fresh child process, imports included: one figure's row query (F7),
every figure's query (the slowest named; one child, each figure's rows released before
the next query, as the report's calls release them), ``ckptscope findings STORE``,
``ckptscope report STORE --no-animations``; then ``ckptscope store compact STORE``; then
the same again, and the report with animations. Peak RSS: the largest process
(:func:`benchmarks.common.run_measured`) and the whole process tree (sampled from
``/proc``: the report draws in worker processes).

Goals after compaction, 2 cores: a figure's query <= 1 s, ``findings`` <= 10 s, the whole
report <= 10 minutes. Knobs: ``CKPTSCOPE_BENCH_SCALE_MODELS`` (default 8, quick 2),
``CKPTSCOPE_BENCH_SCALE_STEPS`` (default 154, quick 10), ``CKPTSCOPE_BENCH_SHAPES=tiny``
(small shapes; the quick default), ``CKPTSCOPE_BENCH_SCALE_ANIMATIONS`` (default 1, quick 0),
``CKPTSCOPE_BENCH_SCALE_FIGURES`` (the report's ``--figures``; default all, quick F7,F15).
The generated store lives under ``CKPTSCOPE_BENCH_DIR`` while the benchmark runs (about
11 GB at full size, twice that while compaction writes its generation).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.common import (
    BenchResult,
    Ratio,
    cache_dir,
    env_int,
    gb,
    python,
    quick,
    run_measured,
)
from ckptscope.views.spectra import LOG_KIND, log_grid, log_meta, log_spectrum

if TYPE_CHECKING:
    from ckptscope.store import Store, TaskKey

QUERY_BUDGET_S = 1.0
FINDINGS_BUDGET_S = 10.0
REPORT_BUDGET_S = 600.0
SUITE = "pythia"


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a GPT-NeoX model that decide how many rows a sweep writes."""

    name: str
    layers: int
    d_model: int
    heads: int
    vocab: int

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads


#: Pythia 70m..12b (the suite's configs: layers, width, heads, padded vocabulary)
PYTHIA: tuple[ModelShape, ...] = (
    ModelShape("pythia-70m", 6, 512, 8, 50304),
    ModelShape("pythia-160m", 12, 768, 12, 50304),
    ModelShape("pythia-410m", 24, 1024, 16, 50304),
    ModelShape("pythia-1b", 16, 2048, 8, 50304),
    ModelShape("pythia-1.4b", 24, 2048, 16, 50304),
    ModelShape("pythia-2.8b", 32, 2560, 32, 50304),
    ModelShape("pythia-6.9b", 32, 4096, 32, 50432),
    ModelShape("pythia-12b", 36, 5120, 40, 50688),
)
#: small shapes for smoke runs (``CKPTSCOPE_BENCH_SHAPES=tiny``); sizes in the names so
#: that the findings comparing sizes still rank them
TINY: tuple[ModelShape, ...] = (
    ModelShape("tiny-70m", 2, 64, 2, 1024),
    ModelShape("tiny-160m", 3, 96, 3, 1024),
)
#: the trained model the template is measured on: 2 blocks, 2 heads of 32 (at least the
#: 30 singular directions ``svd_directions`` keeps), every width distinct from the vocab
TEMPLATE_MODEL = ModelShape("w64", 2, 64, 2, 4096)
#: checkpoints measured: 0 (no previous step), 1 (previous = initial), 2 and a last one
TEMPLATE_TRAIN_STEPS = 4
#: raised when what a sweep writes changes within a version (a cached template is stale)
TEMPLATE_FORMAT = 2


# -- the template: what a real sweep writes per task -----------------------------------------


@dataclass(frozen=True)
class RowSpec:
    """One row a task writes, for block 0 / head 0 when it repeats per block or head.

    ``record`` is ``scalar``, ``label``, ``array`` or ``bookkeeping`` (task meta);
    ``scope`` is ``model`` (once), ``block`` (per block) or ``head`` (per block and head);
    ``since`` the first checkpoint index (0, 1 or 2) whose task holds it. The payload is
    the template's at its last checkpoint.
    """

    analysis: str
    record: str
    component: str
    param: str
    name: str
    scope: str
    since: int
    value: float = 0.0
    label: str | None = None
    values: np.ndarray | None = None
    labels: tuple[str, ...] | None = None
    meta: str | None = None


@dataclass(frozen=True)
class TaskInfo:
    """What an analysis's ``tasks`` row holds besides its records."""

    version: int
    seconds: float
    meta: dict[str, Any]


@dataclass(frozen=True)
class Template:
    """The rows every analysis writes per checkpoint, measured on ``source``."""

    source: ModelShape
    rows: tuple[RowSpec, ...]
    tasks: dict[str, TaskInfo] = field(default_factory=dict)

    @property
    def analyses(self) -> list[str]:
        return sorted(self.tasks)


#: keys of a task's meta that name its own steps (set per generated task)
_STEP_META = ("initial_step", "previous_step", "final_step")
_HEAD_KEY = re.compile(r"^(?P<where>.*)\[h(?P<head>\d+)\]$")


def _bookkeeping_rows(meta: dict[str, Any]) -> list[tuple[Any, ...]]:
    """(record, component, block, param, head, name, payload) of a task's bookkeeping."""
    out = []
    for where, values in meta.get("bookkeeping", {}).items():
        head = None
        m = _HEAD_KEY.match(where)
        if m:
            where, head = m.group("where"), int(m.group("head"))
        parts = where.split(".", 2)
        block = None
        if len(parts) == 3 and parts[1].isdigit():
            component, block, param = parts[0], int(parts[1]), parts[2]
        else:
            component, param = parts[0], ".".join(parts[1:])
        for name, value in values.items():
            out.append(("bookkeeping", component, block, param, head, name, float(value)))
    return out


def stored_rows(store: Store, key: TaskKey) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """One stored task's rows as (record, component, block, param, head, name, payload),
    and its ``tasks`` row; read from the task folder (the tables have no analysis column)."""
    from ckptscope.store import layout

    folder = layout.task_dir(key)
    rows: list[tuple[Any, ...]] = []

    def nullable(v: Any) -> int | None:
        return None if v is None else int(v)

    if store.backend.exists(f"{folder}/scalars.parquet"):
        for r in store.backend.read_table(f"{folder}/scalars.parquet").to_pylist():
            record = "scalar" if r["label"] is None else "label"
            payload = r["value"] if r["label"] is None else r["label"]
            where = (r["component"], nullable(r["block"]), r["param"], nullable(r["head"]))
            rows.append((record, *where, r["metric"], payload))
    if store.backend.exists(f"{folder}/arrays.parquet"):
        for r in store.backend.read_table(f"{folder}/arrays.parquet").to_pylist():
            values = np.asarray(r["values"], dtype=np.float64).reshape(r["shape"])
            labels = tuple(r["labels"]) if r["labels"] is not None else None
            where = (r["component"], nullable(r["block"]), r["param"], nullable(r["head"]))
            rows.append(("array", *where, r["kind"], (values, labels, r["meta"])))
    task = store.backend.read_table(f"{folder}/tasks.parquet").to_pylist()[0]
    meta = json.loads(task["meta"])
    rows += _bookkeeping_rows(meta)
    return rows, task


def measure_template(store: Store, model: str, source: ModelShape) -> Template:
    """The rows a sweep wrote for ``model`` (shape ``source``), per analysis.

    ``store`` is an uncompacted swept store holding every analysis at 3 or more
    checkpoints of ``model``. A row with no block is kept once; one with a block (and no
    head) must be there for every block, one with a head for every (block, head); the
    rows of a checkpoint must be those of the one before plus possibly new ones, the same
    from the third checkpoint on. Otherwise ValueError: the scaling rule would not hold.
    """
    from ckptscope.store import TaskKey

    done = sorted(k for k in store.done() if k.model == model)
    steps = sorted({k.step for k in done})
    if len(steps) < 3:
        raise ValueError(f"{model}: {len(steps)} checkpoints swept, the template needs 3")
    specs: list[RowSpec] = []
    tasks: dict[str, TaskInfo] = {}
    for analysis in sorted({k.analysis for k in done}):
        present: list[set[tuple[str, ...]]] = []
        last: dict[tuple[str, ...], Any] = {}
        places: dict[tuple[str, ...], set[tuple[int | None, int | None]]] = {}
        for step in steps:
            rows, task = stored_rows(store, TaskKey(done[0].suite, model, step, analysis))
            places = {}
            for record, comp, block, param, head, name, payload in rows:
                scope = "model" if block is None else ("block" if head is None else "head")
                pattern = (record, comp, param, name, scope)
                places.setdefault(pattern, set()).add((block, head))
                if block in (None, 0) and head in (None, 0):
                    last[pattern] = payload
            present.append(set(places))
        for k in range(1, len(present)):
            if not present[k - 1] <= present[k] or (k > 2 and present[k] != present[2]):
                raise ValueError(f"{analysis}: rows differ between checkpoints {k - 1} and {k}")
        for pattern, where in places.items():
            record, comp, param, name, scope = pattern
            if where != set(_places(scope, source)):
                raise ValueError(f"{analysis} {pattern}: rows at {sorted(where, key=str)}")
            payload = last[pattern]
            since = min(k for k, p in enumerate(present) if pattern in p)
            extra: dict[str, Any] = {}
            if record == "array":
                values, labels, meta = payload
                extra = {"values": values, "labels": labels, "meta": meta}
            elif record == "label":
                extra = {"label": payload}
            else:
                extra = {"value": float("nan") if payload is None else float(payload)}
            specs.append(RowSpec(analysis, record, comp, param, name, scope, since, **extra))
        meta = json.loads(task["meta"])
        meta = {k: v for k, v in meta.items() if k != "bookkeeping" and k not in _STEP_META}
        tasks[analysis] = TaskInfo(int(task["version"]), float(task["seconds"]), meta)
    return Template(source, tuple(specs), tasks)


def template_suite_config() -> Any:
    """The suite the template is measured on: TEMPLATE_MODEL, 4 checkpoints (0, 1, 2, 4)."""
    from ckptscope.train.config import ModelSize, SuiteConfig, TrainConfig

    m = TEMPLATE_MODEL
    return SuiteConfig(
        name="scale-template",
        sizes=(ModelSize(m.d_model, m.layers, n_heads=m.heads),),
        train=TrainConfig(
            steps=TEMPLATE_TRAIN_STEPS,
            batch_size=8,
            seq_len=32,
            lr=3e-3,
            n_even_checkpoints=2,
            heldout_tokens=2048,
        ),
        vocab_size=m.vocab,
    )


def swept_template_store(root: Path | None = None) -> Path:
    """Train and sweep (every default analysis) the template suite once; cached by config.

    Returns the store folder (``<root>/store``; default root: ``cache_dir()/scale-template``).
    """
    import ckptscope
    from ckptscope.api import sweep
    from ckptscope.train import train_suite

    root = root or cache_dir() / "scale-template"
    config = template_suite_config()
    stamp = root / "spec.json"
    wanted = json.dumps(
        {
            "config": config.to_dict(),
            "ckptscope": ckptscope.__version__,
            "template": TEMPLATE_FORMAT,
        },
        sort_keys=True,
        default=str,
    )
    if stamp.is_file() and stamp.read_text() == wanted:
        return root / "store"
    if root.exists():
        shutil.rmtree(root)
    train_suite(root / "suite", config=config, threads=1)
    result = sweep(root / "suite", root / "store", progress=False)
    if result.failed:
        raise RuntimeError(f"template sweep failed: {result.failed}")
    stamp.write_text(wanted)
    return root / "store"


def load_template(store_dir: Path) -> Template:
    """The template of a store written by :func:`swept_template_store`."""
    from ckptscope.store import Store

    return measure_template(Store(store_dir, create=False), TEMPLATE_MODEL.name, TEMPLATE_MODEL)


# -- scaling to other shapes ------------------------------------------------------------------


def _places(scope: str, shape: ModelShape) -> list[tuple[int | None, int | None]]:
    """The (block, head) of every row of ``scope`` in a model of ``shape``."""
    if scope == "model":
        return [(None, None)]
    if scope == "block":
        return [(b, None) for b in range(shape.layers)]
    return [(b, h) for b in range(shape.layers) for h in range(shape.heads)]


def _dim(value: int, source: ModelShape, target: ModelShape) -> int:
    """A matrix dimension of ``source`` as the same dimension of ``target``."""
    known = {source.vocab: target.vocab, source.head_dim: target.head_dim}
    known |= {k * source.d_model: k * target.d_model for k in (1, 3, 4)}
    return known.get(value, value)


def array_shape(spec: RowSpec, template: Template, shape: ModelShape) -> tuple[int, ...]:
    """The shape of an array row at ``shape``, by what its length follows.

    * ``singular_values``: every singular value, min(d_out, d_in): the head dim for a head's
      slice or circuit (rank <= d_head), the width for every stored matrix;
    * ``singular_values_log``: a whole matrix's spectrum (the width) at its log-spaced ranks;
    * ``qq_*``: as measured on the embedding, whose sample is capped at the distributions
      analysis's ``max_samples`` like every matrix of a Pythia model (all have more elements);
    * ``svd_tokens``: as measured (``svd_top_n`` x ``svd_top_k``; Pythia's ranks exceed it);
    * everything else has a fixed length (histogram bins, quantiles, token sets, top-k).
    """
    assert spec.values is not None
    if spec.name == "singular_values":
        return (shape.head_dim if spec.scope == "head" else shape.d_model,)
    if spec.name == LOG_KIND:
        return (len(log_grid(shape.d_model)),)
    if spec.name.startswith("qq_"):
        like = [r for r in template.rows if r.name == spec.name and r.component == "embed"]
        if like and like[0].values is not None:
            return tuple(like[0].values.shape)
    return tuple(spec.values.shape)


def _array_meta(spec: RowSpec, template: Template, shape: ModelShape) -> str | None:
    """The template's meta, matrix shapes (``shape``, ``top``) mapped to ``shape``."""
    if spec.name == LOG_KIND:  # every value of the resized spectrum is positive
        return log_meta(shape.d_model)
    if spec.meta is None or spec.name != "singular_values":
        return spec.meta
    doc = json.loads(spec.meta)
    if doc.get("shape"):
        doc["shape"] = [_dim(int(v), template.source, shape) for v in doc["shape"]]
    if doc.get("top"):
        doc["top"] = _dim(int(doc["top"]), template.source, shape)
    return json.dumps(doc, sort_keys=True)


def task_rows(template: Template, analysis: str, shape: ModelShape, index: int) -> dict[str, int]:
    """Rows of one task at ``shape`` and checkpoint ``index``: scalars (numbers and labels),
    arrays, array values and bookkeeping entries."""
    out = {"scalars": 0, "arrays": 0, "values": 0, "bookkeeping": 0}
    for spec in template.rows:
        if spec.analysis != analysis or spec.since > index:
            continue
        n = len(_places(spec.scope, shape))
        if spec.record == "array":
            out["arrays"] += n
            out["values"] += n * int(np.prod(array_shape(spec, template, shape)))
        elif spec.record == "bookkeeping":
            out["bookkeeping"] += n
        else:
            out["scalars"] += n
    return out


def store_rows(
    template: Template, shapes: Sequence[ModelShape], steps: Sequence[int]
) -> dict[str, int]:
    """Total scalar rows, array rows and array values of a generated store (derivations aside)."""
    total = {"scalars": 0, "arrays": 0, "values": 0}
    for shape in shapes:
        for index in range(len(steps)):
            for analysis in template.analyses:
                counts = task_rows(template, analysis, shape, min(index, 2))
                for k in total:
                    total[k] += counts[k]
    return total


# -- synthetic values -------------------------------------------------------------------------

#: metrics that only grow over training (heavier tails) / only fall (power-law exponents)
RISING = frozenset({"kurtosis", "dist_init", "rel_dist_init", "max_abs"})
FALLING = frozenset({"alpha", "alpha_weighted", "alpha_tail"})
#: arrays kept as measured: token orders (permutations) and the evaluation batch's shape
KEPT = frozenset({"embed_order", "embed_order_tokens", "eval_batch_info"})


def _hump(t: float, peak: np.ndarray) -> np.ndarray:
    """0 at t=0, 1 at ``peak``, then decaying: x e^(1-x) with x = t / peak."""
    x = t / peak
    return x * np.exp(1.0 - x)


@dataclass
class _ModelRows:
    """One analysis's rows expanded to one model's blocks and heads, with per-row curves."""

    key: int
    specs: list[RowSpec]
    places: list[tuple[int | None, int | None]]
    amp: np.ndarray
    peak: np.ndarray
    depth: np.ndarray

    @classmethod
    def build(cls, template: Template, analysis: str, shape: ModelShape, seed: int) -> _ModelRows:
        specs, places = [], []
        for spec in template.rows:
            if spec.analysis == analysis:
                for place in _places(spec.scope, shape):
                    specs.append(spec)
                    places.append(place)
        key = zlib.crc32(f"{seed}/{shape.name}/{analysis}".encode())
        rng = np.random.default_rng(key)
        n = len(specs)
        amp = rng.uniform(0.05, 0.4, n)
        peak = rng.uniform(0.15, 0.4, n)
        for i, spec in enumerate(specs):
            if spec.name in RISING or spec.name in FALLING:
                peak[i] = 1.0  # monotone on [0, 1]
                amp[i] = -amp[i] / 2 if spec.name in FALLING else amp[i]
        blocks = np.array([-1 if b is None else b for b, _ in places], dtype=np.float64)
        depth = np.where(blocks < 0, 1.0, 1.0 + 0.5 * np.sin(np.pi * (blocks + 0.5) / shape.layers))
        return cls(key, specs, places, amp, peak, depth)

    def records(
        self, template: Template, shape: ModelShape, index: int, t: float, rng: np.random.Generator
    ) -> list[Any]:
        """The records of the task at checkpoint ``index`` (training progress ``t``)."""
        from ckptscope.records import Array, Bookkeeping, Label, Scalar

        factor = self.depth * (1.0 + self.amp * _hump(t, self.peak))
        noise = 1.0 + 1e-3 * rng.standard_normal(len(self.specs))
        out: list[Any] = []
        for i, (spec, (block, head)) in enumerate(zip(self.specs, self.places, strict=True)):
            if spec.since > index:
                continue
            if spec.record == "scalar":
                value = spec.value * factor[i] * noise[i]
                out.append(Scalar(spec.component, block, spec.param, spec.name, value, head))
            elif spec.record == "label":
                assert spec.label is not None
                out.append(Label(spec.component, block, spec.param, spec.name, spec.label, head))
            elif spec.record == "bookkeeping":
                out.append(
                    Bookkeeping(spec.component, block, spec.param, spec.name, spec.value, head)
                )
            else:
                values, labels = self._array(spec, template, shape, t, factor[i], rng, i)
                meta = _array_meta(spec, template, shape)
                out.append(
                    Array(spec.component, block, spec.param, spec.name, values, labels, meta, head)
                )
        return out

    def _array(
        self,
        spec: RowSpec,
        template: Template,
        shape: ModelShape,
        t: float,
        factor: float,
        rng: np.random.Generator,
        row: int,
    ) -> tuple[np.ndarray, tuple[str, ...] | None]:
        assert spec.values is not None
        if spec.name in KEPT:
            return spec.values, spec.labels
        if spec.name == "tensor_hash":  # a fresh hash per step: no duplicate checkpoints
            digest = "".join(f"{x:016x}" for x in rng.integers(0, 2**63, 2))
            labels = (digest, *(spec.labels or ())[1:])
            return np.array([float(rng.integers(2**47, 2**48)), *spec.values[1:]]), labels
        if spec.name.startswith("embed_corr"):  # correlations: noised, symmetric, in [-1, 1]
            noise = rng.standard_normal(spec.values.shape) * 0.02 * (1.0 - t)
            return np.clip(spec.values + (noise + noise.T) / 2, -1.0, 1.0), spec.labels
        if spec.name == LOG_KIND:  # the spectrum at the width, at its log-spaced ranks
            whole = _resize(spec.values, (shape.d_model,)) * factor
            whole *= 1.0 + 1e-3 * rng.standard_normal(whole.shape)
            return log_spectrum(np.maximum(whole, 1e-30))[0], None  # all positive
        target = array_shape(spec, template, shape)
        if spec.name == "svd_tokens":  # the final table, cells settling late in training
            final = np.random.default_rng([self.key, row]).integers(0, shape.vocab, target)
            noise = rng.integers(0, shape.vocab, target)
            ids = np.where(rng.random(target) < t * t, final, noise)
            pool = np.array(spec.labels or ("",), dtype=object)
            return ids.astype(np.float64), tuple(pool[ids.ravel() % len(pool)])
        values = _resize(spec.values, target) * factor
        if spec.name == "outlier_dims":  # row 0 holds dimension ids
            values[0] = spec.values[0]
            return values, spec.labels
        if "hist" in spec.name:  # counts
            return np.rint(values), spec.labels
        values *= 1.0 + 1e-3 * rng.standard_normal(values.shape)
        if spec.name == "singular_values":
            values = -np.sort(-values)  # descending, as stored
        return values, spec.labels


def _resize(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``values`` interpolated along the last axis to ``shape`` (leading axes as measured)."""
    if values.shape == shape:
        return values.astype(np.float64, copy=True)
    if values.shape[:-1] != shape[:-1]:
        raise ValueError(f"cannot resize {values.shape} to {shape}")
    old = np.linspace(0.0, 1.0, values.shape[-1])
    new = np.linspace(0.0, 1.0, shape[-1])
    flat = values.reshape(-1, values.shape[-1])
    return np.stack([np.interp(new, old, row) for row in flat]).reshape(shape)


def generate_store(
    root: Path,
    template: Template,
    shapes: Sequence[ModelShape],
    steps: Sequence[int],
    *,
    suite: str = SUITE,
    seed: int = 0,
    derive: bool = True,
) -> Store:
    """Write a store of ``shapes`` x ``steps`` x the template's analyses through
    ``Store.write_task``, with synthetic values; then the sweep's derivations (``derive``).

    Rows and array shapes per task are the template's scaled to each shape
    (:func:`task_rows`). Values: each scalar follows its template value times a depth
    profile (an inverted U over blocks) and a curve over training progress (a rise and
    fall peaking at 15-40 % of training; monotone for tails and power-law exponents);
    arrays are the template's resized to the shape and scaled alike; token tables settle
    towards their final one late; tensor hashes differ per step. Deterministic in ``seed``.
    Returns the Store.
    """
    from ckptscope.engine.sweep import run_derivations
    from ckptscope.store import Store, TaskKey

    store = Store(root)
    steps = sorted(steps)
    for shape in shapes:
        rows = {a: _ModelRows.build(template, a, shape, seed) for a in template.analyses}
        for index, step in enumerate(steps):
            rng = np.random.default_rng([seed, zlib.crc32(shape.name.encode()), step])
            t = step / steps[-1] if steps[-1] else 1.0
            previous = steps[index - 1] if index else None
            for analysis in template.analyses:
                info = template.tasks[analysis]
                meta = {
                    **info.meta,
                    "initial_step": steps[0],
                    "previous_step": previous,
                    "final_step": steps[-1],
                }
                records = rows[analysis].records(template, shape, min(index, 2), t, rng)
                store.write_task(
                    TaskKey(suite, shape.name, step, analysis),
                    records,
                    version=info.version,
                    seconds=info.seconds,
                    meta=meta,
                )
    if derive:
        failed = run_derivations(store, suite)
        if failed:
            raise RuntimeError(f"derivations failed: {failed}")
    return store


def pick_steps(n: int) -> list[int]:
    """``n`` of Pythia's 154 checkpoints: 0, 1, 2 (the rows differ there), then evenly
    spaced to the last (143000)."""
    from ckptscope.train import checkpoint_steps

    every = checkpoint_steps(143000, 143)
    if n >= len(every):
        return every
    if n < 4:
        raise ValueError(f"need at least 4 steps, got {n}")
    rest = every[3:]
    picks = np.linspace(0, len(rest) - 1, n - 3).round().astype(int)
    return every[:3] + [rest[i] for i in sorted(set(picks))]


# -- measuring --------------------------------------------------------------------------------


def _cli() -> list[str]:
    """The ``ckptscope`` entry point beside this interpreter, else ``python -m ckptscope``."""
    exe = Path(sys.executable).with_name("ckptscope")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "ckptscope"]


def _descendants_rss(root: int) -> int:
    """Summed RSS in bytes of the descendants of process ``root``, from ``/proc``."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * page
    total, todo = 0, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


@dataclass
class Measured:
    """One child command: wall seconds, peak RSS of its largest process and of its tree."""

    wall: float
    peak: int
    tree_peak: int
    output: str


def run_tree(cmd: Sequence[str]) -> Measured:
    """:func:`run_measured`, plus the peak summed RSS of the process tree (sampled at 5 Hz)."""
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.2):
            peak = max(peak, _descendants_rss(os.getpid()))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        wall, rss, out = run_measured(cmd)
    finally:
        stop.set()
        thread.join()
    return Measured(wall, rss, max(peak, rss), out)


_TEMPLATE = """
from benchmarks.bench_store_scale import swept_template_store
print("TEMPLATE", swept_template_store())
"""
_GENERATE = """
import json, sys
from pathlib import Path
from benchmarks.bench_store_scale import (
    PYTHIA, TINY, generate_store, load_template, pick_steps, store_rows,
)
out, template_dir, family, n_models, n_steps = sys.argv[1:]
shapes = (TINY if family == "tiny" else PYTHIA)[: int(n_models)]
steps = pick_steps(int(n_steps))
template = load_template(Path(template_dir))
generate_store(Path(out), template, shapes, steps, derive=False)
totals = store_rows(template, shapes, steps)
source = template.source
print("GENERATED", json.dumps({"models": [s.name for s in shapes], "steps": steps,
      "analyses": template.analyses, "totals": totals,
      "source": [source.name, source.layers, source.heads]}))
"""
_DERIVE = """
import sys
from ckptscope.engine.sweep import run_derivations
from ckptscope.store import Store
failed = run_derivations(Store(sys.argv[1], create=False), sys.argv[2])
assert not failed, failed
"""
_FIGURE = """
import sys, time
from ckptscope.figures import FIGURES, Query
from ckptscope.store import Store
store = Store(sys.argv[1], create=False)
t0 = time.perf_counter()
rows = FIGURES[sys.argv[2]].rows(store, Query())
print("QUERY", time.perf_counter() - t0, len(rows))
"""
_ALL_FIGURES = """
import json, sys, time
from ckptscope.figures import FIGURES, Query
from ckptscope.store import Store
store = Store(sys.argv[1], create=False)
times = {}
for fig_id, spec in FIGURES.items():
    t0 = time.perf_counter()
    rows = spec.rows(store, Query())
    times[fig_id] = time.perf_counter() - t0
    del rows  # as the report does: a figure's rows are gone before the next one's query
print("QUERIES", json.dumps(times))
"""


def _tagged(output: str, tag: str) -> str:
    """The rest of the line a child printed after ``tag``."""
    m = re.search(rf"^{tag} (.*)$", output, re.MULTILINE)
    if m is None:
        raise RuntimeError(f"no {tag} line in the child's output:\n{output[-2000:]}")
    return m.group(1)


@dataclass
class Phase:
    """Figures of one state of the store (before or after compaction)."""

    files: int
    bytes: int
    f7: Measured
    f7_query: float
    queries: Measured
    slowest: tuple[str, float]
    findings: Measured
    report: Measured
    animated: Measured | None = None


def _files(root: Path) -> tuple[int, int]:
    paths = [p for p in root.rglob("*") if p.is_file()]
    return len(paths), sum(p.stat().st_size for p in paths)


def _measure(store: Path, out: Path, figures: str | None, animations: bool) -> Phase:
    files, size = _files(store)
    f7 = run_tree([python(), "-c", _FIGURE, str(store), "F7"])
    queries = run_tree([python(), "-c", _ALL_FIGURES, str(store)])
    times = json.loads(_tagged(queries.output, "QUERIES"))
    slowest = max(times.items(), key=lambda kv: kv[1])
    findings = run_tree([*_cli(), "findings", str(store)])
    report_cmd = [*_cli(), "report", str(store), "--out", str(out), "--no-progress"]
    if figures:
        report_cmd += ["--figures", figures]
    report = run_tree([*report_cmd, "--no-animations"])
    shutil.rmtree(out, ignore_errors=True)
    animated = None
    if animations:
        animated = run_tree(report_cmd)
        shutil.rmtree(out, ignore_errors=True)
    f7_query = float(_tagged(f7.output, "QUERY").split()[0])
    return Phase(files, size, f7, f7_query, queries, slowest, findings, report, animated)


def _describe(m: Measured) -> str:
    return f"{m.wall:.1f} s, peak RSS {gb(m.peak)} (tree {gb(m.tree_peak)})"


def main() -> BenchResult:
    """Generate the store, measure queries, findings and report before and after compaction.

    Everything that imports ckptscope runs in a child: a forked child's peak RSS starts at
    its parent's, so this process stays small.
    """
    shapes = os.environ.get("CKPTSCOPE_BENCH_SHAPES") or ("tiny" if quick() else "pythia")
    family = "tiny" if shapes == "tiny" else "pythia"
    n_models = env_int("CKPTSCOPE_BENCH_SCALE_MODELS", len(PYTHIA), quick_default=len(TINY))
    n_steps = env_int("CKPTSCOPE_BENCH_SCALE_STEPS", 154, quick_default=10)
    animations = bool(env_int("CKPTSCOPE_BENCH_SCALE_ANIMATIONS", 1, quick_default=0))
    figures = os.environ.get("CKPTSCOPE_BENCH_SCALE_FIGURES") or ("F7,F15" if quick() else None)

    template = run_tree([python(), "-c", _TEMPLATE])
    template_dir = _tagged(template.output, "TEMPLATE")
    cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ckptscope-scale-", dir=cache_dir()) as tmp:
        store, out = Path(tmp) / "store", Path(tmp) / "report"
        cmd = [python(), "-c", _GENERATE, str(store), template_dir, family, str(n_models)]
        gen = run_tree([*cmd, str(n_steps)])
        info = json.loads(_tagged(gen.output, "GENERATED"))
        try:
            derive: Measured | str = run_tree([python(), "-c", _DERIVE, str(store), SUITE])
        except RuntimeError as err:  # measured anyway, without the derived rows
            derive = str(err).strip().splitlines()[-1]
        before = _measure(store, out, figures, animations=False)
        compact = run_tree([*_cli(), "store", "compact", str(store)])
        after = _measure(store, out, figures, animations)
    return _result(info, figures, template, gen, derive, compact, before, after)


def _result(
    info: dict[str, Any],
    figures: str | None,
    template: Measured,
    gen: Measured,
    derive: Measured | str,
    compact: Measured,
    before: Phase,
    after: Phase,
) -> BenchResult:
    totals, steps = info["totals"], info["steps"]
    source, layers, heads = info["source"]
    derived = derive if isinstance(derive, str) else _describe(derive)
    rows = [
        ("models", ", ".join(info["models"])),
        ("checkpoints per model", f"{len(steps)} ({steps[0]} .. {steps[-1]})"),
        (
            "scalar rows / array rows / array values (tasks)",
            f"{totals['scalars']:,} / {totals['arrays']:,} / {totals['values']:,}",
        ),
        ("template: train + sweep (cached between runs)", _describe(template)),
        ("generate (write_task per task)", _describe(gen)),
        ("derivations (run_derivations)", derived),
        ("`ckptscope store compact`", _describe(compact)),
    ]
    for label, p in (("before", before), ("after", after)):
        rows += [
            (f"{label}: files / size on disk", f"{p.files:,} / {gb(p.bytes)}"),
            (f"{label}: F7 query (timed in the child)", f"{p.f7_query:.2f} s"),
            (f"{label}: F7 child (imports + query)", _describe(p.f7)),
            (f"{label}: slowest figure query", f"{p.slowest[0]} {p.slowest[1]:.2f} s"),
            (f"{label}: every figure's query (one child)", _describe(p.queries)),
            (f"{label}: `ckptscope findings`", _describe(p.findings)),
            (f"{label}: `ckptscope report --no-animations`", _describe(p.report)),
        ]
    if after.animated is not None:
        rows.append(("after: `ckptscope report` (animations)", _describe(after.animated)))
    whole = after.animated or after.report

    def within(label: str, seconds: float, budget: float) -> Ratio:
        return Ratio(label, seconds / budget, "<= 1", seconds <= budget)

    ratios = [
        within("after: F7 query / 1 s", after.f7_query, QUERY_BUDGET_S),
        within("after: slowest figure query / 1 s", after.slowest[1], QUERY_BUDGET_S),
        within("after: findings / 10 s", after.findings.wall, FINDINGS_BUDGET_S),
        within("after: report / 10 min", whole.wall, REPORT_BUDGET_S),
        Ratio("before: F7 query / 1 s", before.f7_query / QUERY_BUDGET_S),
        Ratio("before: slowest figure query / 1 s", before.slowest[1] / QUERY_BUDGET_S),
        Ratio("before: findings / 10 s", before.findings.wall / FINDINGS_BUDGET_S),
        Ratio("before: report (no animations) / 10 min", before.report.wall / REPORT_BUDGET_S),
    ]
    notes = [
        f"The report target is checked on `ckptscope report` "
        f"{'with animations' if after.animated else '--no-animations'} after compaction"
        + (f", figures {figures} only." if figures else "."),
        "Peak RSS: the largest single process (its own peak: wait4, or VmHWM where the "
        "benchmark's process is larger); 'tree': the summed RSS of the command's processes "
        "(report workers included), sampled at 5 Hz.",
        "Arrays keep the lengths a real sweep writes (no cap): singular values "
        "min(d_out, d_in), 2000-bin histograms, 30 x 20 token tables with their labels.",
    ]
    if isinstance(derive, str):
        notes.append("The derivations failed: findings and report ran without derived rows.")
    return BenchResult(
        name="bench_store_scale: queries, findings and report on a Pythia-sized store",
        setup=(
            f"A generated store of {len(info['models'])} models x {len(steps)} checkpoints x "
            f"{len(info['analyses'])} analyses ({', '.join(info['analyses'])}); rows per task "
            f"as a real sweep writes them (measured on {source}: {layers} blocks, {heads} "
            "heads; scaled per block and per head), synthetic values; the sweep's "
            "derivations run. Each measurement is a fresh child process, imports included."
        ),
        rows=rows,
        ratios=ratios,
        notes=notes,
    ).emit()


if __name__ == "__main__":
    main()
