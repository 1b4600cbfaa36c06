"""Table schemas of the results store (Parquet): the tables of schema versions 2 and 3.

The version is recorded in ``ckptscope-store.json`` at the store root
(``{"schema": 3, "ckptscope": "<version that created it>"}``, ``layout.py``; 3 has the
tables of 2 and compacted arrays in a file per kind). A store
without it (written by ckptscope 0.1: schema 1) is refused on open with one line naming
``ckptscope store migrate STORE`` (``migrate.py``), which rewrites it to this schema.

``scalars``: suite, model, step, component, block, param, head, metric, value, label

* ``head`` (int32, NULL for a whole tensor): the attention head of a per-head row. A head
  slice of q/k/v has ``param='weight'``; the OV and QK circuits ``param='circuit'``
  (``analyses/spectra.py``). Whole tensors: ``head IS NULL``.
* ``label`` (string, NULL for numbers): a categorical result, with ``value`` NULL: the
  best-fitting family ``fit_winner`` is ``label='student_t'`` (``records.Label``).
* each quantity once: ``t_nu``, ``gennorm_beta``, ``quartic_g`` (no ``fit_student_t_nu``,
  ``fit_gennorm_beta``, ``fit_quartic_g`` beside them).

``arrays``: suite, model, step, component, block, param, head, kind, shape, values,
labels, meta

``tasks``: suite, model, step, analysis, version, seconds, ckptscope, meta. ``meta`` is
JSON: the sweep's options, reference steps, device, and ``bookkeeping`` - counts and flags
about the computation, per tensor (``records.Bookkeeping``, ``records.BOOKKEEPING_METRICS``:
``numel``, ``grad_numel``, ``n_values``, ``n_fit``, ``degenerate``), e.g.
``{"bookkeeping": {"qkv.0.weight": {"n_values": 49152, "n_fit": 8192, "degenerate": 0}}}``
(heads: ``q.0.weight[h1]``). Read them with ``json_extract(meta, '$.bookkeeping')``.

``events``: suite, model, step, component, block, param, metric, kind, message, source

``failures``: suite, model, step, analysis, error, time
"""

from __future__ import annotations

import pyarrow as pa

KEY_FIELDS = [
    pa.field("suite", pa.string()),
    pa.field("model", pa.string()),
    pa.field("step", pa.int64()),
    pa.field("component", pa.string()),
    pa.field("block", pa.int32()),  # null for embed, unembed, ln_final
    pa.field("param", pa.string()),
    pa.field("head", pa.int32()),  # null unless a per-head row
]

SCALARS = pa.schema(
    [
        *KEY_FIELDS,
        pa.field("metric", pa.string()),
        pa.field("value", pa.float64()),  # null for a label row
        pa.field("label", pa.string()),  # null for a number
    ]
)

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
        pa.field("meta", pa.string()),  # JSON: options, device, bookkeeping
    ]
)

#: each table's schema by name
SCHEMAS: dict[str, pa.Schema] = {
    "scalars": SCALARS,
    "arrays": ARRAYS,
    "events": EVENTS,
    "failures": FAILURES,
    "tasks": TASKS,
}
