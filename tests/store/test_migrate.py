"""A store written by ckptscope 0.1 (schema 1): refused on open, rewritten by migrate."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ckptscope.cli.app import app
from ckptscope.store import Store, StoreSchemaError, TaskKey
from ckptscope.store.layout import MARKER
from ckptscope.store.migrate import migrate_store

# the 0.1 schemas: no head, no label
KEYS = [("suite", pa.string()), ("model", pa.string()), ("step", pa.int64())]
WHERE = [("component", pa.string()), ("block", pa.int32()), ("param", pa.string())]
SCALARS_V1 = pa.schema([*KEYS, *WHERE, ("metric", pa.string()), ("value", pa.float64())])
ARRAYS_V1 = pa.schema(
    [
        *KEYS,
        *WHERE,
        ("kind", pa.string()),
        ("shape", pa.list_(pa.int64())),
        ("values", pa.list_(pa.float64())),
        ("labels", pa.list_(pa.string())),
        ("meta", pa.string()),
    ]
)
TASKS_V1 = pa.schema(
    [
        *KEYS,
        ("analysis", pa.string()),
        ("version", pa.int64()),
        ("seconds", pa.float64()),
        ("ckptscope", pa.string()),
        ("meta", pa.string()),
    ]
)
ROWS_V1 = [  # component, block, param, metric, value
    ("q", 0, "weight", "alpha", 2.0),
    ("q", 0, "head1", "alpha", 3.0),
    ("ov", 1, "head0", "alpha", 4.0),
    ("qkv", 0, "weight", "fit_winner", 3.0),
    ("qkv", 0, "weight", "t_nu", 5.0),
    ("qkv", 0, "weight", "fit_student_t_nu", 5.0),
    ("qkv", 0, "weight", "fit_gennorm_beta", 1.2),
    ("qkv", 0, "weight", "gennorm_beta", 1.2),
    ("qkv", 0, "weight", "n_values", 4096.0),
    ("qkv", 0, "weight", "n_fit", 4096.0),
    ("qkv", 0, "weight", "degenerate", 0.0),
    ("qkv", 0, "weight", "n_nonfinite", 0.0),
]


def _old_store(root, url_marker: bool = False):
    """A 0.1 folder store: parts/ with schema-1 files, no schema marker."""
    folder = root / "parts/s/m/step=5/distributions"
    folder.mkdir(parents=True)
    for sub in ("derived", "failures", ".tmp"):
        (root / sub).mkdir()
    key = {"suite": "s", "model": "m", "step": 5}
    n = len(ROWS_V1)
    scalars = {k: [v] * n for k, v in key.items()}
    for i, col in enumerate(("component", "block", "param", "metric", "value")):
        scalars[col] = [r[i] for r in ROWS_V1]
    pq.write_table(pa.table(scalars, schema=SCALARS_V1), folder / "scalars.parquet")
    arrays = {k: [v] for k, v in key.items()}
    arrays.update(component=["k"], block=[0], param=["head2"], kind=["singular_values"])
    arrays.update(shape=[[2]], values=[[2.0, 1.0]], labels=[None], meta=[None])
    pq.write_table(pa.table(arrays, schema=ARRAYS_V1), folder / "arrays.parquet")
    task = {k: [v] for k, v in key.items()}
    task.update(analysis=["distributions"], version=[1], seconds=[0.1], ckptscope=["0.1.0"])
    task.update(meta=[json.dumps({"device": "cpu"})])
    pq.write_table(pa.table(task, schema=TASKS_V1), folder / "tasks.parquet")
    if url_marker:  # the 0.1 object-store marker, without a schema
        (root / MARKER).write_text(json.dumps({"ckptscope": "0.1.0"}))
    return root


@pytest.mark.parametrize("url_marker", [False, True], ids=["folder", "object-marker"])
def test_an_old_store_is_refused_for_reading_and_writing_with_one_line(tmp_path, url_marker):
    root = _old_store(tmp_path / "old", url_marker)
    for create in (False, True):
        with pytest.raises(StoreSchemaError) as err:
            Store(root, create=create)
        msg = str(err.value)
        assert "\n" not in msg and str(root.resolve()) in msg
        assert f"ckptscope store migrate {root.resolve()}" in msg
    res = CliRunner().invoke(app, ["query", "select 1", "--store", str(root)])
    assert res.exit_code == 1 and res.output.count("\n") == 1
    assert "ckptscope store migrate" in res.output


def test_migrate_rewrites_the_affected_rows(tmp_path):
    root = _old_store(tmp_path / "old")
    assert migrate_store(str(root)) == 1
    store = Store(root, create=False)
    df = store.scalars()
    assert not df.param.str.startswith("head").any()
    heads = df[df["head"].notna()].set_index(["component", "head"])
    assert heads.loc[("q", 1), "param"] == "weight" and heads.loc[("q", 1), "value"] == 3.0
    assert heads.loc[("ov", 0), "param"] == "circuit"
    winner = store.scalars(metric="fit_winner")
    assert list(winner.label) == ["student_t"] and winner.value.isna().all()
    gone = {
        "fit_student_t_nu",
        "fit_gennorm_beta",
        "n_values",
        "n_fit",
        "degenerate",
        "n_nonfinite",
    }
    assert not gone & set(df.metric)
    assert set(df.metric) == {"alpha", "fit_winner", "t_nu", "gennorm_beta"}
    meta = json.loads(store.table("tasks").meta[0])
    assert meta["device"] == "cpu"
    assert meta["bookkeeping"] == {
        "qkv.0.weight": {"n_values": 4096.0, "n_fit": 4096.0, "degenerate": 0.0}
    }
    arrays = store.arrays()
    assert (arrays.param[0], int(arrays["head"][0])) == ("weight", 2)
    assert store.done() == {TaskKey("s", "m", 5, "distributions")}
    assert migrate_store(str(root)) == 0  # a second run has nothing left to do
    assert store.write_task(TaskKey("s", "m", 6, "w"), [])  # and the store takes new tasks


def test_cli_migrate(tmp_path):
    root = _old_store(tmp_path / "old")
    res = CliRunner().invoke(app, ["store", "migrate", str(root)])
    assert res.exit_code == 0, res.output
    assert "migrated to schema 3 (1 folders rewritten)" in res.output
    assert json.loads((root / MARKER).read_text())["schema"] == 3
