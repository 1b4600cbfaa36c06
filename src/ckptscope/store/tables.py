"""Arrow tables of the store's schemas (``schema.py``), built from records (``records.py``)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ckptscope import __version__
from ckptscope.records import Array, Bookkeeping, Event, Label, Record, Scalar
from ckptscope.store import schema
from ckptscope.store.layout import TaskKey


def _where_columns(
    keys: Sequence[tuple[str, str, int]], rows: Sequence[Scalar | Label | Array]
) -> dict[str, pa.Array]:
    return {
        "suite": pa.array([k[0] for k in keys], pa.string()),
        "model": pa.array([k[1] for k in keys], pa.string()),
        "step": pa.array([k[2] for k in keys], pa.int64()),
        "component": pa.array([r.component for r in rows], pa.string()),
        "block": pa.array([r.block for r in rows], pa.int32()),
        "param": pa.array([r.param for r in rows], pa.string()),
        "head": pa.array([r.head for r in rows], pa.int32()),
    }


def scalars_table(
    key: TaskKey | Sequence[tuple[str, str, int]], rows: Sequence[Scalar | Label]
) -> pa.Table:
    """Scalar and Label records as a table of the ``scalars`` schema.

    ``key`` is the task of every row, or one (suite, model, step) per row (derived rows).
    """
    keys = [(key.suite, key.model, key.step)] * len(rows) if isinstance(key, TaskKey) else key
    cols = _where_columns(keys, rows)
    cols["metric"] = pa.array([r.metric for r in rows], pa.string())
    cols["value"] = pa.array(
        [r.value if isinstance(r, Scalar) else None for r in rows], pa.float64()
    )
    cols["label"] = pa.array([r.label if isinstance(r, Label) else None for r in rows], pa.string())
    return pa.table(cols, schema=schema.SCALARS)


def arrays_table(key: TaskKey, rows: Sequence[Array]) -> pa.Table:
    """Array records of one task as a table of the ``arrays`` schema."""
    cols = _where_columns([(key.suite, key.model, key.step)] * len(rows), rows)
    cols["kind"] = pa.array([r.kind for r in rows], pa.string())
    cols["shape"] = pa.array([list(np.shape(r.values)) for r in rows], pa.list_(pa.int64()))
    flat = [np.asarray(r.values, dtype=np.float64).ravel() for r in rows]
    offsets = np.zeros(len(flat) + 1, dtype=np.int32)
    offsets[1:] = np.cumsum([len(f) for f in flat])
    values = np.concatenate(flat) if flat else np.zeros(0)
    cols["values"] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))
    cols["labels"] = pa.array(
        [list(r.labels) if r.labels is not None else None for r in rows], pa.list_(pa.string())
    )
    cols["meta"] = pa.array([r.meta for r in rows], pa.string())
    return pa.table(cols, schema=schema.ARRAYS)


def bookkeeping_meta(rows: Iterable[Bookkeeping]) -> dict[str, dict[str, float]]:
    """Bookkeeping records as ``{tensor: {name: value}}`` for a task's meta."""
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        out.setdefault(r.where(), {})[r.name] = r.value
    return out


def task_tables(
    key: TaskKey, records: Iterable[Record], version: int, seconds: float, meta: dict[str, Any]
) -> dict[str, pa.Table]:
    """One task's tables: ``scalars``/``arrays`` when it has such rows, and ``tasks``."""
    numbers: list[Scalar | Label] = []
    arrays: list[Array] = []
    books: list[Bookkeeping] = []
    for rec in records:
        if isinstance(rec, Array):
            arrays.append(rec)
        elif isinstance(rec, Bookkeeping):
            books.append(rec)
        else:
            numbers.append(rec)
    tables: dict[str, pa.Table] = {}
    if numbers:
        tables["scalars"] = scalars_table(key, numbers)
    if arrays:
        tables["arrays"] = arrays_table(key, arrays)
    if books:
        meta = {**meta, "bookkeeping": bookkeeping_meta(books)}
    task = {
        "suite": [key.suite],
        "model": [key.model],
        "step": [key.step],
        "analysis": [key.analysis],
        "version": [version],
        "seconds": [seconds],
        "ckptscope": [__version__],
        "meta": [json.dumps(meta, sort_keys=True, default=str)],
    }
    tables["tasks"] = pa.table(task, schema=schema.TASKS)
    return tables


def events_table(suite: str, source: str, events: Sequence[Event]) -> pa.Table:
    """A derivation's events as a table of the ``events`` schema."""
    return pa.table(
        {
            "suite": [suite] * len(events),
            "model": [e.model for e in events],
            "step": [e.step for e in events],
            "component": [e.component for e in events],
            "block": [e.block for e in events],
            "param": [e.param for e in events],
            "metric": [e.metric for e in events],
            "kind": [e.kind for e in events],
            "message": [e.message for e in events],
            "source": [source] * len(events),
        },
        schema=schema.EVENTS,
    )


def failure_table(key: TaskKey, error: str) -> pa.Table:
    """One task's failure as a table of the ``failures`` schema."""
    return pa.table(
        {
            "suite": [key.suite],
            "model": [key.model],
            "step": [key.step],
            "analysis": [key.analysis],
            "error": [error],
            "time": [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())],
        },
        schema=schema.FAILURES,
    )


def as_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` cast to ``schema`` (a no-op, not a copy, when it has that schema already)."""
    return table if table.schema.equals(schema) else table.cast(schema)


#: rows of several tasks are gathered up to this size into one row group
ROW_GROUP_BYTES = 16 * 2**20


#: a stream's arrays ``values`` are written uncompressed unless zstd makes a sample of them
#: at least this much smaller: high-entropy floats (correlations, singular values, QQ
#: points) save under 10% and read about 30% faster uncompressed; histograms' counts
#: compress 20-50x and keep zstd
MIN_SAVING = 0.2
#: bytes of values sampled from a stream's first tables to choose their codec
CODEC_SAMPLE_BYTES = 4 * 2**20
#: a smaller sample keeps zstd: a frame's own bytes outweigh a few values
MIN_SAMPLE_BYTES = 4096


def values_codec(tables: Iterable[pa.Table]) -> str:
    """``"zstd"`` when zstd shrinks the first ``CODEC_SAMPLE_BYTES`` of the tables' arrays
    ``values`` (float64, as stored) by at least ``MIN_SAVING``, else ``"none"``; ``"zstd"``
    when they hold less than ``MIN_SAMPLE_BYTES`` of values or no values column."""
    parts: list[bytes] = []
    size = 0
    for table in tables:
        if "values" not in table.column_names:
            continue
        for chunk in table.column("values").chunks:
            room = (CODEC_SAMPLE_BYTES - size) // 8
            if room <= 0:
                break
            flat = chunk.flatten().slice(0, room)  # views: only the sample is copied
            data = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float64)
            parts.append(data.tobytes())
            size += data.nbytes
    if size < MIN_SAMPLE_BYTES:
        return "zstd"
    raw = b"".join(parts)
    packed = pa.compress(raw, "zstd", asbytes=True)
    return "zstd" if len(packed) <= (1 - MIN_SAVING) * len(raw) else "none"


def _peeked(stream: Iterable[pa.Table | None], schema: pa.Schema
            ) -> tuple[Iterable[pa.Table | None], str]:  # fmt: skip
    """The stream as it comes (its tables cast to ``schema``), and the codec of its
    ``values`` from its first tables (:func:`values_codec`): read ahead until they hold
    ``CODEC_SAMPLE_BYTES`` of values or a row group's ``ROW_GROUP_BYTES``, or to the end
    (a schema without ``values``: nothing is read ahead)."""
    stream = iter(stream)
    if "values" not in schema.names:
        return stream, "zstd"
    head: list[pa.Table | None] = []
    values = size = 0
    for item in stream:
        if item is not None:
            item = as_schema(item, schema)
            values += sum(len(chunk.flatten()) for chunk in item.column("values").chunks)
            size += item.nbytes
        head.append(item)
        if 8 * values >= CODEC_SAMPLE_BYTES or size >= ROW_GROUP_BYTES:
            break
    tables = [t for t in head if t is not None]
    return chain(head, stream), values_codec(tables)


def _leaves(schema: pa.Schema, skip: Iterable[str]) -> list[str]:
    """The columns of ``schema`` not in ``skip`` as pyarrow names them in options: a list
    column by the leaf path of its values."""
    skip = set(skip)
    return [f"{f.name}.list.element" if pa.types.is_list(f.type) else f.name
            for f in schema if f.name not in skip]  # fmt: skip


def write_parquet(
    sink: str | IO[bytes], data: pa.Table | Iterable[pa.Table | None], schema: pa.Schema
) -> None:
    """Write a table, or a stream of tables gathered into row groups of ~16 MiB, in order.

    In a stream, None ends the row group being gathered (compaction's clusters). Streams
    (compacted generations) use zstd: ~13% smaller than snappy on a swept store; a float
    ``value`` column is split by byte stream (its exponent bytes compress well apart): 20%
    smaller again on the shipped Pythia reference; neither it nor the arrays' ``values``
    are dictionary-encoded. The arrays' ``values`` are compressed only where a sample of
    the stream's first rows shows that zstd pays (:func:`values_codec`).
    """
    if isinstance(data, pa.Table):
        pq.write_table(data, sink, row_group_size=1 << 16)
        return
    data, codec = _peeked(data, schema)
    split = [n for n in schema.names if n == "value" and pa.types.is_floating(schema.field(n).type)]
    # no dictionary for numbers that seldom repeat: it only made array files larger (400 MB
    # against 320 MB of QQ points) and slower to read (0.33 s against 0.29 s)
    plain = [*split, *(n for n in schema.names if n == "values")]
    leaves = _leaves(schema, plain)
    compression = {leaf: "zstd" for leaf in _leaves(schema, ())}
    if "values" in schema.names:
        compression["values.list.element"] = codec
    with pq.ParquetWriter(sink, schema, compression=compression,  # type: ignore[arg-type]
                          use_byte_stream_split=split or False, use_dictionary=leaves) as writer:  # fmt: skip
        pending: list[pa.Table] = []
        size = 0
        for table in chain(data, [None]):  # a stream: never all in memory
            if table is not None:
                pending.append(as_schema(table, schema))
                size += table.nbytes
            if pending and (table is None or size >= ROW_GROUP_BYTES):
                writer.write_table(pa.concat_tables(pending), row_group_size=1 << 30)
                pending, size = [], 0
