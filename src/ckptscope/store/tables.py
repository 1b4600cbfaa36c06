"""Arrow tables of the store's schemas, built from analysis records."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from ckptscope.analyses.base import Array, Scalar
from ckptscope.store import schema

if TYPE_CHECKING:
    from ckptscope.store.store import TaskKey


def _key_columns(key: TaskKey, n: int) -> dict[str, pa.Array]:
    return {
        "suite": pa.array([key.suite] * n, pa.string()),
        "model": pa.array([key.model] * n, pa.string()),
        "step": pa.array([key.step] * n, pa.int64()),
    }


def scalars_table(key: TaskKey, rows: list[Scalar]) -> pa.Table:
    """Scalar records of one task as a table of the ``scalars`` schema."""
    cols = _key_columns(key, len(rows))
    cols["component"] = pa.array([r.component for r in rows], pa.string())
    cols["block"] = pa.array([r.block for r in rows], pa.int32())
    cols["param"] = pa.array([r.param for r in rows], pa.string())
    cols["metric"] = pa.array([r.metric for r in rows], pa.string())
    cols["value"] = pa.array([r.value for r in rows], pa.float64())
    return pa.table(cols, schema=schema.SCALARS)


def arrays_table(key: TaskKey, rows: list[Array]) -> pa.Table:
    """Array records of one task as a table of the ``arrays`` schema."""
    cols = _key_columns(key, len(rows))
    cols["component"] = pa.array([r.component for r in rows], pa.string())
    cols["block"] = pa.array([r.block for r in rows], pa.int32())
    cols["param"] = pa.array([r.param for r in rows], pa.string())
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
