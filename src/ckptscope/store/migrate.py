"""``ckptscope store migrate``: rewrite a schema-1 store (ckptscope 0.1) to schema 2 tables.

Schema 3 has the same tables (it only adds compacted files per kind, ``layout.py``), so
the marker written at the end is the current schema.

A store without a schema marker is refused on open, for reading and for writing, with one
line naming this command (``store.py``). Migration rewrites each committed folder whose
files are of schema 1 (``schema.py`` describes schema 2):

* per-head rows: ``param='head<h>'`` becomes ``head=h`` with ``param='weight'`` (q, k, v
  slices) or ``param='circuit'`` (the ov and qk circuits);
* ``fit_winner`` (a float index into the 0.1 family list) becomes a label row;
* duplicates go: ``fit_student_t_nu``, ``fit_gennorm_beta``, ``fit_quartic_g`` (the same
  numbers as ``t_nu``, ``gennorm_beta``, ``quartic_g``), and ``n_nonfinite`` rows of 0;
* bookkeeping metrics (``records.BOOKKEEPING_METRICS``) move into the task's meta.

Each folder is replaced whole (``Backend.commit_folder(replace=True)``), folders already
of schema 2 are skipped, and the marker is written last: a migration that dies is run
again and finishes. It takes the store's exclusive lock, so no sweep writes meanwhile.
"""

from __future__ import annotations

import json
import re

import pyarrow as pa

from ckptscope.records import BOOKKEEPING_METRICS, Bookkeeping
from ckptscope.store import layout, schema
from ckptscope.store.backend import Backend
from ckptscope.store.lock import exclusive_lock
from ckptscope.store.store import backend_for
from ckptscope.store.tables import bookkeeping_meta

#: the distribution families in the order ckptscope 0.1 coded ``fit_winner``
FAMILIES_V1 = ("gaussian", "logistic", "laplace", "student_t", "gennorm", "quartic")
DUPLICATES = frozenset({"fit_student_t_nu", "fit_gennorm_beta", "fit_quartic_g"})
CIRCUITS = frozenset({"ov", "qk"})
_HEAD = re.compile(r"head(\d+)")


def migrate_store(location: str) -> int:
    """Rewrite the store at ``location`` to schema 2 tables (marked as the current schema);
    returns the folders rewritten."""
    backend = backend_for(location)
    if not backend.exists(layout.MARKER) and not backend.exists(layout.PARTS):
        raise FileNotFoundError(f"no ckptscope store at {backend.location}")
    rewritten = 0
    with exclusive_lock(backend, "store migration"):
        for rel in backend.committed(layout.TASK_GLOB) + backend.glob(layout.DERIVED_GLOB):
            rewritten += migrate_folder(backend, rel)
        backend.prepare(create=True)
        backend.write_bytes(layout.MARKER, layout.marker())  # last: the commit
    return rewritten


def migrate_folder(backend: Backend, rel: str) -> int:
    """Rewrite one task or derivation folder of schema 1; 0 when it is of schema 2."""
    names = [p.rsplit("/", 1)[1].removesuffix(".parquet") for p in backend.glob(f"{rel}/*.parquet")]
    tables = {name: backend.read_table(f"{rel}/{name}.parquet") for name in names}
    old = [n for n in ("scalars", "arrays") if n in tables and "head" not in tables[n].schema.names]
    if not old:
        return 0
    books: list[Bookkeeping] = []
    if "scalars" in tables:
        tables["scalars"], books = scalars_v2(tables["scalars"])
    if "arrays" in tables:
        tables["arrays"] = arrays_v2(tables["arrays"])
    if books and "tasks" in tables:
        tasks = tables["tasks"].to_pydict()
        meta = json.loads(tasks["meta"][0] or "{}")
        meta["bookkeeping"] = bookkeeping_meta(books)
        tasks["meta"] = [json.dumps(meta, sort_keys=True, default=str)]
        tables["tasks"] = pa.table(tasks, schema=schema.TASKS)
    backend.commit_folder(rel, tables, replace=True)
    return 1


def _heads(rows: dict[str, list]) -> None:
    """``param='head<h>'`` to ``head=h`` and the real param, in place."""
    rows["head"] = []
    for i, (component, param) in enumerate(zip(rows["component"], rows["param"], strict=True)):
        match = _HEAD.fullmatch(param or "")
        rows["head"].append(int(match.group(1)) if match else None)
        if match:
            rows["param"][i] = "circuit" if component in CIRCUITS else "weight"


def arrays_v2(table: pa.Table) -> pa.Table:
    """An ``arrays`` table of schema 1 in schema 2."""
    rows = table.to_pydict()
    _heads(rows)
    return pa.table({n: rows[n] for n in schema.ARRAYS.names}, schema=schema.ARRAYS)


def scalars_v2(table: pa.Table) -> tuple[pa.Table, list[Bookkeeping]]:
    """A ``scalars`` table of schema 1 in schema 2, and the bookkeeping rows taken out."""
    rows = table.to_pydict()
    _heads(rows)
    out: dict[str, list] = {n: [] for n in schema.SCALARS.names}
    books: list[Bookkeeping] = []
    for i in range(len(rows["metric"])):
        row = {n: rows[n][i] for n in rows}
        metric, value = row["metric"], row["value"]
        where = (row["component"], row["block"], row["param"])
        row["label"] = None
        if metric in BOOKKEEPING_METRICS:
            books.append(Bookkeeping(*where, metric, value, row["head"]))
            continue
        if metric in DUPLICATES or (metric == "n_nonfinite" and value == 0):
            continue
        if metric == "fit_winner" and value is not None:
            code = int(value)
            row["label"] = FAMILIES_V1[code] if 0 <= code < len(FAMILIES_V1) else str(code)
            row["value"] = None
        for n in out:
            out[n].append(row[n])
    return pa.table(out, schema=schema.SCALARS), books
