"""Integrity: a content hash per tensor, and duplicate checkpoints found across steps.

The analysis ``integrity`` first checks the checkpoint's structure against its config
(every parameter maps once, shapes agree, no block misses a tensor: else CheckpointError),
then writes one ``Array(kind="tensor_hash")`` per parameter: ``labels = (hexdigest, dtype)``
(blake2b-128 of dtype, shape and raw bytes), ``values = [first 48 bits of the digest,
numel]`` (exact in float64, handy in SQL), ``meta`` = JSON with the raw name and algorithm.

The derivation ``duplicate_checkpoints`` compares those hashes across steps of a model:
wholly identical checkpoints give ``duplicate_checkpoint`` events ("steps 0 and 1 are
identical"); weight matrices identical to another step's in an otherwise different
checkpoint (a stale shard, as in Pythia-12b step 50000) give ``duplicate_tensors`` events.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ckptscope.adapters.base import MATRIX_COMPONENTS
from ckptscope.analyses.base import (
    Analysis,
    Array,
    CheckpointContext,
    Derivation,
    Derived,
    Event,
    Record,
    StoreReader,
    register_analysis,
    register_derivation,
)
from ckptscope.sources.integrity import HASH_ALGO, mapped_tensors, tensor_digest

KIND = "tensor_hash"


@register_analysis
class Integrity(Analysis):
    """Per-tensor content hashes (and a structural check against the config)."""

    name = "integrity"

    def run(self, ctx: CheckpointContext) -> Iterable[Record]:
        ckpt = ctx.checkpoint
        infos = {t.name: t for t in ckpt.tensors()}
        for comp, raw in sorted(mapped_tensors(ckpt, ctx.adapter).items()):
            info = infos[raw]
            digest = tensor_digest(ckpt, raw, info)
            yield Array(
                comp.component,
                comp.block,
                comp.param,
                KIND,
                values=np.array([float(int(digest[:12], 16)), float(info.numel)]),
                labels=(digest, info.dtype),
                meta=json.dumps({"raw": raw, "algo": HASH_ALGO}),
            )


def _fmt_steps(steps: list[int]) -> str:
    if len(steps) == 2:
        return f"{steps[0]} and {steps[1]}"
    return ", ".join(map(str, steps[:-1])) + f" and {steps[-1]}"


@register_derivation
class DuplicateCheckpoints(Derivation):
    """Events for identical checkpoints (and stale weight matrices) at different steps."""

    name = "duplicate_checkpoints"

    def derive(self, store: StoreReader) -> Derived:
        df = store.query(
            "SELECT suite, model, step, component, block, param, labels FROM arrays "
            f"WHERE kind = '{KIND}'"
        )
        out = Derived()
        if df.empty:
            return out
        # (suite, model) -> step -> {(component, block, param): digest}
        tables: dict[tuple[str, str], dict[int, dict[tuple[str, int, str], str]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        for row in df.itertuples(index=False):
            block = -1 if pd.isna(row.block) else int(row.block)
            tables[(row.suite, row.model)][int(row.step)][(row.component, block, row.param)] = str(
                row.labels[0]
            )
        for (_, model), steps in sorted(tables.items()):
            out.events.extend(_model_events(model, steps))
        return out


def _model_events(model: str, steps: dict[int, dict[tuple[str, int, str], str]]) -> list[Event]:
    events: list[Event] = []
    groups: dict[tuple[tuple[tuple[str, int, str], str], ...], list[int]] = defaultdict(list)
    for step, hashes in sorted(steps.items()):
        groups[tuple(sorted(hashes.items()))].append(step)
    for fingerprint, same in groups.items():
        if len(same) > 1:
            for later in same[1:]:
                events.append(
                    Event(
                        model,
                        later,
                        "duplicate_checkpoint",
                        f"{model}: steps {_fmt_steps([same[0], later])} are identical "
                        f"({len(fingerprint)} tensors)",
                    )
                )
    # weight matrices shared by two steps whose checkpoints otherwise differ
    owners: dict[str, set[int]] = defaultdict(set)
    for step, hashes in steps.items():
        for (component, _, param), digest in hashes.items():
            if component in MATRIX_COMPONENTS and param == "weight":
                owners[digest].add(step)
    shared: dict[tuple[int, int], list[str]] = defaultdict(list)
    for step, hashes in sorted(steps.items()):
        for (component, block, param), digest in sorted(hashes.items()):
            for other in owners.get(digest, set()):
                if other < step and hashes != steps[other]:
                    where = "" if block < 0 else f".{block}"
                    shared[(other, step)].append(f"{component}{where}.{param}")
    for (first, later), labels in sorted(shared.items()):
        n_matrix = sum(1 for c, _, p in steps[later] if c in MATRIX_COMPONENTS and p == "weight")
        events.append(
            Event(
                model,
                later,
                "duplicate_tensors",
                f"{model}: steps {first} and {later} share {len(labels)} of {n_matrix} weight "
                f"matrices (e.g. {labels[0]})",
            )
        )
    return events
