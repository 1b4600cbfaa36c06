"""Row queries shared by the catalogue's figures: select and thin store rows, never summarise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ckptscope.figures.catalogue import Query
from ckptscope.names import model_order
from ckptscope.plots.lines import Key
from ckptscope.plots.style import pick_steps, safe_name
from ckptscope.store import Store, schema


def _models(q: Query) -> dict[str, Any]:
    return {"model": list(q.models)} if q.models else {}


def scalars(store: Store, q: Query, keys: Sequence[Key]) -> pd.DataFrame:
    """Scalar rows of the chosen models for exactly these (component, param, metric) keys."""
    df = store.scalars(metric=sorted({m for _, _, m in keys}), head=None,
                       component=sorted({c for c, _, _ in keys}), **_models(q))  # fmt: skip
    wanted = pd.MultiIndex.from_tuples(list(keys))
    return df[pd.MultiIndex.from_frame(df[["component", "param", "metric"]]).isin(wanted)]


def thinned_arrays(store: Store, q: Query, analysis: str, cap: int | None = None,
                   **where: Any) -> pd.DataFrame:  # fmt: skip
    """Array rows of at most ``cap`` (default ``q.max_frames``) evenly spaced steps per model.

    Steps come from the ``tasks`` of ``analysis`` before any array is read, so a long
    sweep's figures never load arrays they will not show.
    """
    return arrays_at(store, q, picked_steps(store, q, analysis, cap), **where)


def picked_steps(store: Store, q: Query, analysis: str, cap: int | None = None
                 ) -> dict[str, set[int]]:  # fmt: skip
    """At most ``cap`` (default ``q.max_frames``) evenly spaced steps per model, of the
    steps ``analysis`` ran at."""
    return picked_tasks(store, q, analysis, cap)[0]


def picked_tasks(store: Store, q: Query, analysis: str, cap: int | None = None
                 ) -> tuple[dict[str, set[int]], set[tuple[str, str, int]]]:  # fmt: skip
    """:func:`picked_steps`, and the (suite, model, step) of every task of ``analysis`` at
    those steps (from one read of ``tasks``)."""
    tasks = store.table("tasks", analysis=analysis, **_models(q))
    picks = {m: set(pick_steps(p.step, cap or q.max_frames)) for m, p in tasks.groupby("model")}
    return picks, {(s, m, t) for s, m, t in task_keys(tasks) if t in picks.get(m, ())}


def task_keys(rows: pd.DataFrame) -> list[tuple[str, str, int]]:
    """Each row's (suite, model, step)."""
    # lists first: iterating an Arrow-backed column is a Python call per value
    suites, models = rows.suite.astype(str).tolist(), rows.model.astype(str).tolist()
    return list(zip(suites, models, rows.step.astype(int).tolist(), strict=True))


def arrays_at(store: Store, q: Query, picks: dict[str, set[int]], **where: Any) -> pd.DataFrame:
    """Array rows of each model at its ``picks`` steps only (no steps: no rows, no read)."""
    steps = sorted(set().union(*picks.values()))
    if not steps:
        return pd.DataFrame(columns=schema.ARRAYS.names)
    rows = store.arrays(step=steps, **where, **_models(q))
    wanted = [(m, s) for m, picked in picks.items() for s in picked]
    keep = pd.MultiIndex.from_arrays([rows.model.astype(str), rows.step]).isin(wanted)
    return rows[keep].reset_index(drop=True)


def per(rows: pd.DataFrame, column: str, stem: str = "",
        order: Sequence[str] = ()) -> list[tuple[str, pd.DataFrame]]:  # fmt: skip
    """Parts of ``rows``, one per value of ``column`` (models in natural order, else ``order``).

    A part's name is ``stem`` + the value made file-safe (static files), or the value itself
    when ``stem`` is empty (interactive captions). By ``model``, a name that several suites
    hold (rows not named by :func:`label_models`) is one part per suite, ``suite/model``:
    two suites' models are never one part.
    """
    col = rows[column].astype(str)
    shared = column == "model" and "suite" in rows and len(rows) > 0
    if shared and (rows.groupby(col)["suite"].nunique() > 1).any():
        col = rows["suite"].astype(str) + "/" + col
    rank = {v: i for i, v in enumerate(order)}
    if column == "model":
        values = model_order(set(col))
    else:
        values = sorted(set(col), key=lambda v: (rank.get(v, len(rank)), v))
    return [(f"{stem}{safe_name(v)}" if stem else v, rows[col == v]) for v in values]


def _tensor_keys(df: pd.DataFrame) -> list[tuple[Any, ...]]:
    blocks = [None if pd.isna(b) else int(b) for b in df["block"]]
    return list(zip(df["model"].astype(str), df["step"].astype("int64"), df["component"], blocks,
                    df["param"].fillna(""), df["metric"], strict=True))  # fmt: skip


def with_events(store: Store, q: Query, rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with an ``event`` column: the message of a ``phase_change`` event (of the
    ``phases`` derivation) found on that row's model, step, tensor and metric, else None."""
    ev = store.events()
    ev = ev[(ev["kind"] == "phase_change") & ev["step"].notna() & ev["metric"].notna()]
    if q.models:
        ev = ev[ev["model"].isin(q.models)]
    if ev.empty or rows.empty:
        return rows.assign(event=None)
    found: dict[tuple[Any, ...], str] = {}
    for key, message in zip(_tensor_keys(ev), ev["message"], strict=True):
        found[key] = f"{found[key]}; {message}" if key in found else str(message)
    return rows.assign(event=[found.get(k) for k in _tensor_keys(rows)])


def label_models(rows: pd.DataFrame, q: Query) -> pd.DataFrame:
    """``rows`` with each model named as figures show it: ``suite/model`` when the chosen
    models span several suites (lines of seed groups are named already)."""
    runs = q.runs
    if runs is None or not runs.several_suites or rows.empty or "suite" not in rows:
        return rows
    pairs = set(runs.pairs)
    names = [runs.label(s, m) if (s, m) in pairs else m
             for s, m in zip(rows["suite"].astype(str), rows["model"].astype(str), strict=True)]  # fmt: skip
    return rows.assign(model=names)
