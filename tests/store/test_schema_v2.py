"""Schema v2: the version marker, head and label columns, bookkeeping in meta, pickling."""

import json
import pickle
import uuid
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import pytest

from ckptscope.records import Array, Bookkeeping, Label, Scalar
from ckptscope.store import Store, StoreSchemaError, TaskKey
from ckptscope.store.layout import MARKER, SCHEMA_VERSION

KEY = TaskKey("s", "m", 3, "spectra")
RECORDS = [
    Scalar("q", 0, "weight", "alpha", 2.5),  # the whole matrix
    Scalar("q", 0, "weight", "alpha", 3.5, head=1),  # head 1's slice
    Scalar("ov", 0, "circuit", "alpha", 4.5, head=0),
    Label("qkv", 0, "weight", "fit_winner", "student_t"),
    Array("q", 0, "weight", "singular_values", np.arange(3.0), head=1),
    Bookkeeping("qkv", 0, "weight", "n_fit", 8192.0),
    Bookkeeping("q", 0, "weight", "numel", 64.0, head=1),
]


@pytest.fixture(params=["path", "memory-url"])
def store(request, tmp_path):
    if request.param == "path":
        return Store(tmp_path / "store")
    return Store(f"memory://ckptscope-v2-{uuid.uuid4().hex}")


def test_new_store_records_its_schema_version(tmp_path):
    Store(tmp_path / "store")
    marker = json.loads((tmp_path / "store" / MARKER).read_text())
    assert marker["schema"] == SCHEMA_VERSION == 3


def test_head_and_label_columns_round_trip(store):
    store.write_task(KEY, RECORDS)
    df = store.scalars()
    assert list(df.columns[6:]) == ["head", "metric", "value", "label"]
    whole = store.scalars(metric="alpha", head=None)
    assert list(whole.value) == [2.5] and list(whole.param) == ["weight"]
    assert list(store.scalars(metric="alpha", head=1).value) == [3.5]
    assert list(store.scalars(component="ov", head=0).param) == ["circuit"]
    winner = store.scalars(metric="fit_winner")
    assert list(winner.label) == ["student_t"] and winner.value.isna().all()
    arrays = store.arrays(head=1)
    assert len(arrays) == 1 and int(arrays["head"][0]) == 1
    np.testing.assert_array_equal(arrays["values"][0], np.arange(3.0))
    assert store.query("select count(*) n from scalars where param like 'head%'").n[0] == 0


def test_bookkeeping_goes_to_task_meta_not_scalars(store):
    store.write_task(KEY, RECORDS, meta={"device": "cpu"})
    assert not set(store.scalars().metric) & {"n_fit", "numel"}
    meta = json.loads(store.table("tasks").meta[0])
    assert meta["device"] == "cpu"
    assert meta["bookkeeping"] == {
        "qkv.0.weight": {"n_fit": 8192.0},
        "q.0.weight[h1]": {"numel": 64.0},
    }
    got = store.query(
        "select json_extract(meta, '$.bookkeeping.\"qkv.0.weight\".n_fit')::double n from tasks"
    )
    assert got.n[0] == 8192.0


def test_a_newer_schema_is_refused_with_one_line(tmp_path):
    Store(tmp_path / "store")
    (tmp_path / "store" / MARKER).write_text(json.dumps({"schema": 4}))
    for create in (True, False):
        with pytest.raises(StoreSchemaError) as err:
            Store(tmp_path / "store", create=create)
        assert "\n" not in str(err.value) and "schema 4" in str(err.value)


@pytest.mark.parametrize("body", ["[3]", "3", '{"schema": null}', '{"schema": "3"}',
                                  '{"schema": true}', "{not json"])  # fmt: skip
def test_a_marker_that_names_no_integer_schema_is_refused_with_one_line(tmp_path, body):
    """Valid JSON of another shape too (a list, a NULL or text schema): one line naming the
    marker, not a traceback."""
    Store(tmp_path / "store")
    (tmp_path / "store" / MARKER).write_text(body)
    with pytest.raises(StoreSchemaError) as err:
        Store(tmp_path / "store", create=False)
    assert "\n" not in str(err.value) and MARKER in str(err.value)


def _rows_in_worker(store: Store) -> list[float]:
    store.write_task(TaskKey("s", "m", 9, "w"), [Scalar("embed", None, "weight", "norm", 9.0)])
    return sorted(store.scalars(metric="norm").value)


def test_a_store_is_a_picklable_value_for_process_workers(tmp_path):
    store = Store(tmp_path / "store")
    store.write_task(TaskKey("s", "m", 1, "w"), [Scalar("embed", None, "weight", "norm", 1.0)])
    copy = pickle.loads(pickle.dumps(store.for_suite("s")))
    assert copy.suite == "s" and copy.location == store.location
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        assert pool.submit(_rows_in_worker, store).result() == [1.0, 9.0]
    assert len(store.done()) == 2


def test_an_object_store_url_survives_pickling_into_a_worker(tmp_path):
    store = Store(f"file://{tmp_path}/objects")
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        assert pool.submit(_rows_in_worker, store).result() == [9.0]


def test_a_schema_2_store_is_read_and_raised_to_3_by_its_compaction(tmp_path):
    """A store of schema 2 (written before files per kind) opens as it is; compacting it
    marks it schema 3 before the new generation is committed, so a ckptscope that reads
    schema 2 only refuses it in one line instead of missing its arrays."""
    from ckptscope.records import Array

    root = tmp_path / "store"
    store = Store(root)
    store.write_task(TaskKey("s", "m", 0, "w"), [Array("embed", None, "weight", "hist", [1.0])])
    (root / MARKER).write_text(json.dumps({"schema": 2, "ckptscope": "0.2"}))
    assert len(Store(root, create=False).arrays()) == 1
    Store(root, create=False).compact()
    assert json.loads((root / MARKER).read_text())["schema"] == 3
    assert len(Store(root, create=False).arrays()) == 1
