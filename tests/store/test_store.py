import numpy as np
import pytest

from ckptscope.analyses.base import Array, Derived, Event, Scalar
from ckptscope.store import Store, TaskKey


def test_arrays_round_trip_shape_labels_and_meta(tmp_path):
    store = Store(tmp_path)
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


def test_failure_recorded_replaced_and_cleared_by_success(tmp_path):
    store = Store(tmp_path)
    key = TaskKey("s", "m", 1, "weights")
    store.record_failure(key, "first")
    store.record_failure(key, "second")
    assert list(store.failures().error) == ["second"]
    store.write_task(key, [Scalar("embed", None, "weight", "norm", 1.0)])
    assert store.failures().empty and store.done() == {key}


def test_derived_output_is_replaced_per_suite(tmp_path):
    store = Store(tmp_path)
    for suite, value in (("A", 1.0), ("B", 2.0)):
        rows = Derived(
            scalars=[("m", 3, Scalar("c", 0, "weight", "x", value))],
            events=[Event("m", 3, "k", f"{suite} event")],
        )
        store.write_derived("d", suite, rows)
    store.write_derived("d", "A", Derived(scalars=[("m", 4, Scalar("c", 0, "weight", "x", 9.0))]))
    got = store.scalars(metric="x").set_index("suite")
    assert got.loc["A", "value"] == 9.0 and got.loc["A", "step"] == 4
    assert got.loc["B", "value"] == 2.0
    assert list(store.events().message) == ["B event"]  # A's events were replaced by none


def test_suite_view_sees_one_suite_only(tmp_path):
    store = Store(tmp_path)
    for suite in ("A", "B"):
        store.write_task(TaskKey(suite, "m", 0, "w"), [Scalar("embed", None, "weight", "norm", 1)])
    view = store.for_suite("B")
    assert list(view.scalars().suite) == ["B"]
    assert list(view.query("select distinct suite from tasks").suite) == ["B"]
    assert len(store.scalars()) == 2


def test_bad_filters_and_queries_are_one_line_errors(tmp_path):
    store = Store(tmp_path)
    store.write_task(TaskKey("s", "m", 0, "w"), [Scalar("embed", None, "weight", "norm", 1)])
    with pytest.raises(ValueError, match="unknown column 'metirc' in scalars"):
        store.scalars(metirc="norm")
    with pytest.raises(ValueError, match="query failed") as err:
        store.query("select nope from scalars")
    assert "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="no ckptscope store"):
        Store(tmp_path / "missing", create=False)


def test_empty_store_tables_have_their_columns(tmp_path):
    store = Store(tmp_path)
    for table in ("scalars", "arrays", "events", "failures", "tasks"):
        assert store.table(table).empty
    assert list(store.scalars().columns) == [
        "suite",
        "model",
        "step",
        "component",
        "block",
        "param",
        "metric",
        "value",
    ]
