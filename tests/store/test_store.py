"""The store's API on both backends: a local folder, and fsspec URLs (file://, memory://)."""

import uuid

import numpy as np
import pandas as pd
import pytest

from ckptscope.records import Array, Derived, DerivedScalar, Event, Scalar
from ckptscope.store import Store, TaskKey
from ckptscope.store.fsspec_backend import FsspecBackend
from ckptscope.store.layout import task_dir
from ckptscope.store.local import LocalBackend
from ckptscope.store.reader import ORDER_KEYS


@pytest.fixture(params=["path", "file-url", "memory-url"])
def root(request, tmp_path):
    """Where a store goes: a folder, or an fsspec URL (object-store code path)."""
    if request.param == "path":
        return tmp_path
    if request.param == "file-url":
        return f"file://{tmp_path}/store"
    return f"memory://ckptscope-test-{uuid.uuid4().hex}"


def sub(root, name):
    return root / name if not isinstance(root, str) else f"{root}/{name}"


def test_arrays_round_trip_shape_labels_and_meta(root):
    store = Store(root)
    values = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    key = TaskKey("s", "m", 5, "a")
    store.write_task(
        key,
        [
            Array("qkv", 2, "weight", "hist", values, ("x", "<y>"), '{"g": 1}'),
            Array("embed", None, "weight", "one", np.array(3.5)),
        ],
    )
    df = store.arrays(kind="hist")
    assert len(df) == 1 and df.block[0] == 2 and df.meta[0] == '{"g": 1}'
    np.testing.assert_array_equal(df["values"][0], values)
    assert list(df.labels[0]) == ["x", "<y>"]
    one = store.arrays(kind="one")
    assert one["values"][0].shape == () and float(one["values"][0]) == 3.5
    assert store.query("select count(*) n from tasks").n[0] == 1


def test_failure_recorded_replaced_and_cleared_by_success(root):
    store = Store(root)
    key = TaskKey("s", "m", 1, "weights")
    store.record_failure(key, "first")
    store.record_failure(key, "second")
    assert list(store.failures().error) == ["second"]
    store.write_task(key, [Scalar("embed", None, "weight", "norm", 1.0)])
    assert store.failures().empty and store.done() == {key}


def test_derived_output_is_replaced_per_suite(root):
    store = Store(root)
    for suite, value in (("A", 1.0), ("B", 2.0)):
        rows = Derived(
            scalars=[DerivedScalar("m", 3, Scalar("c", 0, "weight", "x", value))],
            events=[Event("m", 3, "k", f"{suite} event")],
        )
        store.write_derived("d", suite, rows)
    store.write_derived(
        "d", "A", Derived(scalars=[DerivedScalar("m", 4, Scalar("c", 0, "weight", "x", 9.0))])
    )
    got = store.scalars(metric="x").set_index("suite")
    assert got.loc["A", "value"] == 9.0 and got.loc["A", "step"] == 4
    assert got.loc["B", "value"] == 2.0
    assert list(store.events().message) == ["B event"]  # A's events were replaced by none


def test_suite_view_sees_one_suite_only(root):
    store = Store(root)
    for suite in ("A", "B"):
        store.write_task(TaskKey(suite, "m", 0, "w"), [Scalar("embed", None, "weight", "norm", 1)])
    view = store.for_suite("B")
    assert list(view.scalars().suite) == ["B"]
    assert list(view.query("select distinct suite from tasks").suite) == ["B"]
    assert len(store.scalars()) == 2


def test_bad_filters_and_queries_are_one_line_errors(root):
    store = Store(root)
    store.write_task(TaskKey("s", "m", 0, "w"), [Scalar("embed", None, "weight", "norm", 1)])
    with pytest.raises(ValueError, match="unknown column 'metirc' in scalars"):
        store.scalars(metirc="norm")
    with pytest.raises(ValueError, match="query failed") as err:
        store.query("select nope from scalars")
    assert "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="no ckptscope store"):
        Store(sub(root, "missing"), create=False)


def test_empty_store_tables_have_their_columns(root):
    store = Store(root)
    for table in ("scalars", "arrays", "events", "failures", "tasks"):
        assert store.table(table).empty
    assert list(store.scalars().columns) == [
        "suite",
        "model",
        "step",
        "component",
        "block",
        "param",
        "head",
        "metric",
        "value",
        "label",
    ]


def test_urls_open_an_object_store_and_paths_a_folder_store(tmp_path):
    local = Store(tmp_path)
    assert type(local) is Store and isinstance(local.backend, LocalBackend)
    url = Store(f"file://{tmp_path}/o")
    assert type(url) is Store and isinstance(url.backend, FsspecBackend)
    assert url.location == f"file://{tmp_path}/o"
    with pytest.raises(ValueError, match="cannot open store nosuch://x"):
        Store("nosuch://x")


def test_object_store_ignores_and_replaces_a_dead_attempts_leftovers():
    store = Store(f"memory://ckptscope-test-{uuid.uuid4().hex}")
    key = TaskKey("s", "m", 1, "weights")
    # an attempt that died after its scalars, before its commit (tasks.parquet)
    folder = task_dir(key)
    store.backend.put_table(f"{folder}/scalars.parquet", _scalars(key, 99.0))
    store.backend.put_table(f"{folder}/arrays.parquet", _arrays(key))
    assert not store.has(key) and store.done() == set() and store.scalars().empty
    assert store.write_task(key, [Scalar("embed", None, "weight", "norm", 1.0)])
    assert not store.write_task(key, [Scalar("embed", None, "weight", "norm", 1.0)])  # a retry
    assert list(store.scalars().value) == [1.0] and store.arrays().empty  # stale arrays gone
    assert store.done() == {key} and len(store.table("tasks")) == 1


def _scalars(key, value):
    from ckptscope.store.tables import scalars_table

    return scalars_table(key, [Scalar("embed", None, "weight", "norm", value)])


def _arrays(key):
    from ckptscope.store.tables import arrays_table

    return arrays_table(key, [Array("embed", None, "weight", "h", np.ones(2))])


def test_pinned_reads_one_snapshot_through_one_connection(root):
    store = Store(root)
    store.write_task(
        TaskKey("s", "m", 1, "weights"), [Scalar("embed", None, "weight", "norm", 1.0)]
    )
    with store.pinned():
        with store.pinned():  # re-entrant: the inner block reuses the outer connection
            assert store.query("select count(*) n from scalars").n[0] == 1
        store.write_task(
            TaskKey("s", "m", 2, "weights"), [Scalar("embed", None, "weight", "norm", 2.0)]
        )
        assert len(store.scalars()) == 1  # the snapshot taken when the block began
        with pytest.raises(ValueError, match="query failed"):
            store.query("select nosuch from scalars")
        assert len(store.table("tasks")) == 1  # a failed query leaves the connection usable
    assert list(store.scalars().value) == [1.0, 2.0]  # outside: every read scans again


def test_tables_equal_duckdbs_own_pandas_conversion(root):
    """``table`` converts through Arrow (faster for strings); the frames equal what DuckDB's
    own conversion gives, dtypes included: NULL blocks and heads (nullable integers), a
    label column of only NULLs (objects), labels set, several suites, no rows."""
    import pandas as pd

    from ckptscope.records import Label

    store = Store(root)
    recs = [Scalar("embed", None, "weight", "norm", 1.5), Scalar("qkv", 0, "weight", "norm", 2.0),
            Scalar("qkv", 0, "weight", "norm", 3.0, head=1)]  # fmt: skip
    store.write_task(TaskKey("a", "m", 0, "weights"), recs)
    store.write_task(TaskKey("b", "m", 5, "weights"), [*recs, Label("ln1", 1, "bias", "fit", "x")])
    store.write_derived("d", "a", Derived(events=[Event("m", None, "note", "a message")]))
    # (an empty answer is DuckDB's own conversion on both sides: those cases check that it
    # has the table's columns, below)
    cases = [("scalars", {}), ("scalars", {"suite": "a"}), ("scalars", {"head": None}),
             ("scalars", {"metric": "absent"}), ("events", {}), ("tasks", {}),
             ("failures", {})]  # fmt: skip
    seen_nullable = False
    for name, where in cases:
        got = store.table(name, **where)
        sql, params = store._select(name, None, where)
        want = store._read(sql, params)  # DuckDB's conversion, then the same sort
        keys = [c for c in ORDER_KEYS if c in want]
        want = want.sort_values(keys, kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want)
        seen_nullable |= any(str(t) in ("Int32", "Int64") for t in got.dtypes)
    assert seen_nullable  # the NULL-integer path was exercised
    from ckptscope.store import schema

    for name, where in (("scalars", {"metric": "absent"}), ("failures", {})):
        assert list(store.table(name, **where).columns) == schema.SCHEMAS[name].names
    only_a = store.table("scalars", suite="a")
    assert only_a["label"].dtype == object and only_a["label"].isna().all()
    assert list(store.table("scalars", metric="fit")["label"]) == ["x"]


def test_columns_reads_those_columns_of_the_same_rows(root):
    """``columns`` gives those columns, in the table's order, of the rows (and order) the
    whole read gives; an empty answer has them too; an unknown one is refused by name."""
    store = Store(root)
    for step in (3, 1):  # read unsorted from task folders: the keys still order the rows
        store.write_task(TaskKey("s", "m", step, "weights"),
                         [Scalar("qkv", 0, "weight", "norm", step + 0.5, head=h) for h in (1, 0)]
                         + [Scalar("embed", None, "weight", "norm", float(step))])  # fmt: skip
    some = ["value", "step", "head", "model"]  # any order asked: the table's order back
    for where in ({}, {"head": 0}, {"metric": "absent"}):
        whole = store.scalars(**where)
        got = store.scalars(columns=some, **where)
        assert list(got.columns) == ["model", "step", "head", "value"]
        pd.testing.assert_frame_equal(got, whole[list(got.columns)])
        if len(got):
            got.loc[0, "value"] = -1.0  # the caller's frame, as every frame the store returns
    assert list(store.table("tasks", columns=["step"], analysis="weights").step) == [1, 3]
    with pytest.raises(ValueError, match="unknown column 'nope' in scalars"):
        store.scalars(columns=["value", "nope"])
    with pytest.raises(ValueError, match="columns: a list of column names, got 'value'"):
        store.scalars(columns="value")
    assert list(store.scalars(columns=iter(["value"])).columns) == ["value"]


def test_frames_can_be_written_to_whether_sorted_or_not(root):
    """A frame the store returns is the caller's: every column accepts assignment, whether
    the rows came in order (returned as converted) or were sorted."""
    store = Store(root)
    for step in (3, 1):  # two tasks: read in order of their folders, or sorted
        store.write_task(TaskKey("s", "m", step, "weights"),
                         [Scalar("embed", None, "weight", "norm", float(step))])  # fmt: skip
    for df in (store.scalars(), store.scalars(step=3), store.table("tasks")):
        for column in df.columns:
            df.loc[0, column] = df[column].iloc[-1]  # raised for read-only Arrow buffers
    df = store.scalars()
    df.loc[0, "value"] = 42.0
    assert df["value"].iloc[0] == 42.0 and 42.0 not in store.scalars()["value"].tolist()


def test_the_sorted_check_matches_a_naive_one_and_table_skips_no_needed_sort():
    """``_sorted`` (Arrow, pairwise) against sorting the rows in Python with NULL last, on
    random rows with ties, NULL strings and NULL integers; a table answered in order is
    returned as it came, one answered out of order is sorted."""
    import random

    import pyarrow as pa

    from ckptscope.store.reader import _in_order, _sorted

    def naive(rows: list[tuple]) -> bool:
        key = [tuple((v is None, v if v is not None else 0) for v in r) for r in rows]
        return key == sorted(key)

    rng = random.Random(0)
    for trial in range(300):
        n = rng.randint(0, 12)
        rows = [(rng.choice(["a", "b", None]), rng.choice([1, 2, None])) for _ in range(n)]
        if trial % 2:  # half of them sorted, so both answers are checked
            rows.sort(key=lambda r: tuple((v is None, v if v is not None else 0) for v in r))
        table = pa.table({"model": pa.array([r[0] for r in rows], pa.string()),
                          "block": pa.array([r[1] for r in rows], pa.int32())})  # fmt: skip
        assert _sorted(table, ["model", "block"]) == naive(rows), rows
        if n > 2:  # in chunks as DuckDB answers (neighbours across a chunk boundary too)
            cut = rng.randint(1, n - 1)
            chunked = pa.concat_tables([table.slice(0, cut), table.slice(cut)])
            assert chunked.column("model").num_chunks == 2
            assert _sorted(chunked, ["model", "block"]) == naive(rows), (rows, cut)
        df = table.to_pandas()
        want = df.sort_values(["model", "block"], kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(_in_order(df, table), want)
