"""Table schemas of the results store (Parquet), documented in the README."""

from __future__ import annotations

import pyarrow as pa

KEY_FIELDS = [
    pa.field("suite", pa.string()),
    pa.field("model", pa.string()),
    pa.field("step", pa.int64()),
    pa.field("component", pa.string()),
    pa.field("block", pa.int32()),  # null for embed, unembed, ln_final
    pa.field("param", pa.string()),
]

SCALARS = pa.schema([*KEY_FIELDS, pa.field("metric", pa.string()), pa.field("value", pa.float64())])

ARRAYS = pa.schema(
    [
        *KEY_FIELDS,
        pa.field("kind", pa.string()),
        pa.field("shape", pa.list_(pa.int64())),
        pa.field("values", pa.list_(pa.float64())),
        pa.field("labels", pa.list_(pa.string())),
        pa.field("meta", pa.string()),
    ]
)

EVENTS = pa.schema(
    [
        pa.field("suite", pa.string()),
        pa.field("model", pa.string()),
        pa.field("step", pa.int64()),
        pa.field("component", pa.string()),
        pa.field("block", pa.int32()),
        pa.field("param", pa.string()),
        pa.field("metric", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("message", pa.string()),
        pa.field("source", pa.string()),  # the derivation that found it
    ]
)

FAILURES = pa.schema(
    [
        pa.field("suite", pa.string()),
        pa.field("model", pa.string()),
        pa.field("step", pa.int64()),
        pa.field("analysis", pa.string()),
        pa.field("error", pa.string()),
        pa.field("time", pa.string()),
    ]
)

TASKS = pa.schema(
    [
        pa.field("suite", pa.string()),
        pa.field("model", pa.string()),
        pa.field("step", pa.int64()),
        pa.field("analysis", pa.string()),
        pa.field("version", pa.int64()),
        pa.field("seconds", pa.float64()),
        pa.field("ckptscope", pa.string()),
        pa.field("meta", pa.string()),  # JSON: data batch, device, options
    ]
)
