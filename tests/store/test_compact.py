"""Compaction: fewer files, the same rows, crash-safe at every step, excluded by sweeps."""

import logging
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

import ckptscope.store.compact as compact_mod
from ckptscope.records import Array, Bookkeeping, Label, Scalar
from ckptscope.store import Store, StoreBusy, TaskKey
from ckptscope.store.check import check_store

TABLES = ("scalars", "arrays", "tasks", "events", "failures")


def _records(suite: str, step: int) -> list:
    return [
        Scalar("embed", None, "weight", "norm", step + 0.5),
        Scalar("q", 0, "weight", "alpha", float(step), head=1),
        Label("qkv", 0, "weight", "fit_winner", "gaussian" if step < 2 else "student_t"),
        Array("embed", None, "weight", "hist", np.arange(4.0) * step, meta=suite),
        Bookkeeping("embed", None, "weight", "n_fit", 10.0),
    ]


def _fill(root, steps=(0, 1, 2), suites=("A", "B")) -> Store:
    store = Store(root)
    for suite in suites:
        for model in ("m1", "m2"):
            for step in steps:
                for analysis in ("weights", "spectra"):
                    store.write_task(TaskKey(suite, model, step, analysis), _records(suite, step))
    store.record_failure(TaskKey("A", "m1", 7, "weights"), "boom")
    return store


def _everything(store: Store) -> dict[str, pd.DataFrame]:
    out = {}
    for table in TABLES:
        df = store.table(table)
        if table == "arrays":
            df["values"] = [list(np.ravel(v)) for v in df["values"]]
            df["shape"] = [list(s) for s in df["shape"]]
        key = [c for c in df.columns if c not in ("values", "shape", "labels")]
        out[table] = df.astype(str).sort_values(key).reset_index(drop=True)
    return out


def _same(a: dict, b: dict) -> None:
    for table in TABLES:
        pd.testing.assert_frame_equal(a[table], b[table], check_dtype=False)


def _files(root) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())


def test_compaction_keeps_every_row_and_done_of_two_suites(tmp_path):
    store = _fill(tmp_path)
    before, done = _everything(store), store.done()
    n_before = _files(tmp_path)
    assert store.compact() == {"A": 12, "B": 12}
    assert not list((tmp_path / "parts").rglob("*.parquet"))
    assert not list((tmp_path / "parts").iterdir())  # no empty task folders left behind
    _same(_everything(store), before)
    assert store.done() == done and all(store.has(k) for k in done)
    assert _files(tmp_path) < n_before / 5
    assert not check_store(tmp_path).damaged
    assert store.compact() == {"A": 0, "B": 0}  # nothing new: nothing changes
    _same(_everything(store), before)


def test_a_later_sweep_writes_beside_the_generation_and_the_next_compaction_folds_it(tmp_path):
    store = _fill(tmp_path, steps=(0, 1))
    store.compact("A")
    assert (tmp_path / "parts/B").is_dir()  # only A was compacted
    key = TaskKey("A", "m1", 2, "weights")
    assert not store.write_task(TaskKey("A", "m1", 1, "weights"), _records("A", 1))  # stored
    assert store.write_task(key, _records("A", 2))
    assert (tmp_path / "parts/A/m1/step=2/weights").is_dir()
    before, done = _everything(store), store.done()
    assert key in done
    assert store.compact() == {"A": 1, "B": 8}
    _same(_everything(store), before)
    assert store.done() == done
    gens = sorted(p.name for p in (tmp_path / "compacted/A").iterdir())
    assert gens == ["gen-000002"]


@pytest.mark.parametrize("crash_at", ["commit_generation", "remove_merged"])
def test_a_crash_at_any_step_leaves_the_rows_counted_once(tmp_path, monkeypatch, crash_at):
    store = _fill(tmp_path)
    before, done = _everything(store), store.done()
    real = getattr(compact_mod, crash_at)

    def crash(*args, **kwargs):
        if crash_at == "remove_merged":
            real(args[0], args[1][:3])  # part of the clean-up done, then the crash
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(compact_mod, crash_at, crash)
    with pytest.raises(KeyboardInterrupt):
        store.compact()
    monkeypatch.undo()
    _same(_everything(store), before)  # old files only, or the new ones: never both
    assert store.done() == done
    assert store.compact()  # takes the lock again: the crashed one released it
    _same(_everything(store), before)
    assert not list((tmp_path / "parts").rglob("*.parquet"))


def test_compaction_refuses_while_a_sweep_holds_the_lock_and_vice_versa(tmp_path):
    store = _fill(tmp_path, suites=("A",))
    with store.sweep_lock(), pytest.raises(StoreBusy) as err:
        store.compact()
    msg = str(err.value)
    assert "\n" not in msg and "locked by a sweep" in msg and str(store.location) in msg
    assert (tmp_path / "parts/A").is_dir()  # nothing was merged
    from ckptscope.store.lock import exclusive_lock

    with (
        exclusive_lock(store.backend, "store compaction"),
        pytest.raises(StoreBusy, match="locked by a store compaction"),
        store.sweep_lock(),
    ):
        pass
    with store.sweep_lock():  # both released
        pass


def test_a_stale_lock_of_a_dead_process_is_ignored(tmp_path):
    import json
    import socket

    store = _fill(tmp_path, suites=("A",))
    stale = {"host": socket.gethostname(), "pid": 2**22 + 12345, "what": "sweep"}
    (tmp_path / "locks").mkdir(exist_ok=True)
    (tmp_path / "locks/sweep-dead.json").write_text(json.dumps(stale))
    assert store.compact() == {"A": 12}


def test_damage_in_a_compacted_file_is_found_and_costs_only_that_generation(tmp_path, caplog):
    store = _fill(tmp_path)
    store.compact()
    path = tmp_path / "compacted/A/gen-000001/arrays/kind=hist/data.parquet"
    path.write_bytes(path.read_bytes()[:-20])
    with caplog.at_level(logging.WARNING):
        assert set(store.scalars().suite) == {"B"}
    assert any(str(path) in r.message for r in caplog.records)
    assert {k.suite for k in store.done()} == {"B"}  # A is recomputed by the next sweep
    report = check_store(tmp_path, repair=True)
    assert path in report.damaged and report.quarantined
    assert store.write_task(TaskKey("A", "m1", 0, "weights"), _records("A", 0))
    assert len(store.scalars(suite="A")) == 3


def test_compaction_on_an_object_store_url_keeps_every_row(tmp_path):
    url = f"file://{tmp_path}/objects"
    store = _fill(url)
    before, done = _everything(store), store.done()
    assert store.compact() == {"A": 12, "B": 12}
    _same(_everything(store), before)
    assert store.done() == done
    assert not list((tmp_path / "objects/parts").rglob("*.parquet"))


def test_two_processes_on_one_stale_lock_do_not_both_go_on(tmp_path, monkeypatch):
    """B read the dead owner's lock before A replaced it with its own: B must not remove
    A's live lock, and must refuse."""
    import json
    import os
    import socket

    from ckptscope.store import lock
    from ckptscope.store.errors import StoreBusy

    store = _fill(tmp_path, suites=("A",))
    excl = tmp_path / "locks" / "exclusive.json"
    excl.parent.mkdir(exist_ok=True)
    dead = {"host": socket.gethostname(), "pid": 2**22 + 12345, "what": "compaction"}
    excl.write_text(json.dumps(dead))
    real_read = store.backend.read_bytes
    state = {"first": True}

    def read_then_a_takes_over(rel):
        data = real_read(rel)
        if rel.endswith("exclusive.json") and state["first"]:  # B has read the dead owner
            state["first"] = False
            mine = {"host": socket.gethostname(), "pid": os.getpid(), "what": "compaction A"}
            excl.write_text(json.dumps(mine))  # ... and A removed it and took the lock
        return data

    monkeypatch.setattr(store.backend, "read_bytes", read_then_a_takes_over)
    with pytest.raises(StoreBusy, match="compaction A"), lock.exclusive_lock(store.backend, "B"):
        pass
    assert json.loads(excl.read_text())["what"] == "compaction A"  # A's lock survived


def test_a_clusters_rows_come_in_analysis_then_model_and_step_order() -> None:
    from ckptscope.store import TaskKey, layout
    from ckptscope.store.compact import _order

    keys = [
        TaskKey("s", model, step, analysis)
        for model in ("b", "a")
        for step in (10, 2)
        for analysis in ("weights", "gradients")
    ]
    ordered = [layout.parse_task_dir(r) for r in sorted(map(layout.task_dir, keys), key=_order)]
    assert [(k.analysis, k.model, k.step) for k in ordered] == sorted(
        (k.analysis, k.model, k.step) for k in keys
    )
    assert [k.analysis for k in ordered] == ["gradients"] * 4 + ["weights"] * 4


#: the kinds and metrics of each analysis's rows
_WRITES = {"spectra": (("singular_values",), ("alpha",)),
           "distributions": (("hist", "hist_pooled"), ("norm", "kurtosis"))}  # fmt: skip


def _clustered_records(step: int, analysis: str) -> list:
    """Rows of several clusters: kinds and metrics, pooled, per-block and per-head rows."""
    rng = np.random.default_rng(step)
    out: list = []
    kinds, metrics = _WRITES[analysis]
    for kind in kinds:
        for block in (None, 0, 1):
            out.append(Array("qkv", block, "weight", kind, rng.normal(size=300)))
    for metric in metrics:
        out += [Scalar("qkv", b, "weight", metric, float(rng.normal())) for b in (None, 0, 1)]
        out += [Scalar("q", 0, "weight", metric, float(rng.normal()), head=h) for h in range(3)]
    return out


def _naive_cluster(row: dict, column: str) -> tuple:
    return (row[column] or "", row["block"] is not None, row["head"] is not None)


def _check_clustered(path, column: str, ordered: bool = True) -> list[tuple]:
    """Each row group of ``path`` holds one cluster; clusters sorted, each once; the rows of
    a cluster in (model, step) order when ``ordered`` (each kind and metric is one
    analysis's; a previous generation's rows come before the new tasks'). Returns the clusters in file order."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    seen: list[tuple] = []
    for i in range(pf.num_row_groups):
        rows = pf.read_row_group(i, columns=[column, "block", "head", "model", "step"])
        rows = rows.to_pylist()
        clusters = {_naive_cluster(r, column) for r in rows}
        assert len(clusters) == 1, (path.name, i, clusters)
        (cluster,) = clusters
        if not seen or seen[-1] != cluster:
            assert cluster not in seen, f"{cluster} split by another cluster in {path.name}"
            seen.append(cluster)
        keys = [(r["model"], r["step"]) for r in rows]
        assert keys == sorted(keys) or not ordered
    assert seen == sorted(seen)
    return seen


def _check_kind_files(gen, ordered: bool = True) -> list[tuple]:
    """A generation's arrays: a file per kind at ``arrays/kind=<kind>/data.parquet``
    holding only that kind's rows, each clustered (:func:`_check_clustered`)."""
    import pyarrow.parquet as pq

    assert not (gen / "arrays.parquet").exists()  # every kind here can name a folder
    clusters = []
    for path in sorted((gen / "arrays").glob("kind=*/data.parquet")):
        kind = path.parent.name.removeprefix("kind=")
        assert set(pq.read_table(path, columns=["kind"]).column("kind").to_pylist()) == {kind}
        clusters += _check_clustered(path, "kind", ordered)
    assert clusters == sorted(clusters)
    return clusters


@pytest.mark.parametrize("spill_bytes", [None, 1])
def test_compaction_clusters_rows_so_a_figure_reads_only_its_kind(tmp_path, monkeypatch,
                                                                  spill_bytes):  # fmt: skip
    """A figure names a kind (or metrics), pooled or per-block rows, and some steps: each row
    group holds one such cluster, so DuckDB skips the others by their statistics. The rows
    are the same whether every part is spilled at once (1 byte of buffer) or not."""
    if spill_bytes is not None:
        monkeypatch.setattr(compact_mod, "SPILL_BUFFER_BYTES", spill_bytes)
        monkeypatch.setattr(compact_mod, "SPILL_FILE_BYTES", spill_bytes)
    store = Store(tmp_path)
    for model in ("m2", "m1"):
        for step in (3, 1, 2):
            for analysis in _WRITES:
                store.write_task(TaskKey("A", model, step, analysis),
                                 _clustered_records(step, analysis))  # fmt: skip
    before = _everything(store)
    store.compact()
    _same(_everything(store), before)
    gen = next((tmp_path / "compacted/A").iterdir())
    kinds = _check_kind_files(gen)
    assert len(kinds) == 6  # 3 kinds x (pooled, per-block)
    metrics = _check_clustered(gen / "scalars.parquet", "metric")
    assert len(metrics) == 9  # 3 metrics x (pooled, per-block, per-head)
    # a later sweep's tasks and the previous generation: clustered together again
    store.write_task(TaskKey("A", "m1", 4, "spectra"), _clustered_records(4, "spectra"))
    before = _everything(store)
    store.compact()
    _same(_everything(store), before)
    gen = next((tmp_path / "compacted/A").iterdir())
    assert _check_kind_files(gen, ordered=False) == kinds
    assert _check_clustered(gen / "scalars.parquet", "metric", ordered=False) == metrics


def test_a_large_step_has_its_own_row_group_so_a_query_of_some_steps_skips_the_rest(
    tmp_path, monkeypatch
):
    """Once a row group holds STEP_GROUP_BYTES, it ends at the next step (or model): with
    a 4 kB floor, 4.8 kB steps get a group each, 2.4 kB steps two steps a group; a row
    group never splits a step."""
    import pyarrow.parquet as pq

    monkeypatch.setattr(compact_mod, "STEP_GROUP_BYTES", 4000)
    store = Store(tmp_path)
    for model in ("m1", "m2"):
        for step in range(7):
            store.write_task(
                TaskKey("A", model, step, "spectra"), _clustered_records(step, "spectra")
            )
    store.compact()
    gen = next((tmp_path / "compacted/A").iterdir())
    pf = pq.ParquetFile(gen / "arrays/kind=singular_values/data.parquet")
    groups = [pf.read_row_group(i, columns=["model", "step", "block"]).to_pylist()
              for i in range(pf.num_row_groups)]  # fmt: skip
    per_block = [
        sorted({(r["model"], r["step"]) for r in g}) for g in groups if g[0]["block"] is not None
    ]
    # per-block rows: 2 x 300 float64 a step: a group per step
    assert per_block == [[(m, s)] for m in ("m1", "m2") for s in range(7)]
    pooled = [sorted({(r["model"], r["step"]) for r in g}) for g in groups if g[0]["block"] is None]
    # pooled rows: 300 float64 a step, so two steps a group, cut at the model too
    assert pooled == [[("m1", 0), ("m1", 1)], [("m1", 2), ("m1", 3)], [("m1", 4), ("m1", 5)],
                      [("m1", 6), ("m2", 0)], [("m2", 1), ("m2", 2)], [("m2", 3), ("m2", 4)],
                      [("m2", 5), ("m2", 6)]]  # fmt: skip


def test_only_the_arrays_values_go_without_a_dictionary(tmp_path):
    """Numbers that seldom repeat are written plain; keys, shapes and labels keep their
    dictionary (pyarrow names a list's values by their leaf path)."""
    import pyarrow.parquet as pq

    store = _fill(tmp_path, suites=("A",))
    store.compact()
    path = next(tmp_path.glob("compacted/A/gen-*/arrays/kind=hist/data.parquet"))
    group = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {group.column(i).path_in_schema: group.column(i).encodings
                 for i in range(group.num_columns)}  # fmt: skip
    assert "RLE_DICTIONARY" not in encodings["values.list.element"]
    for column in ("model", "kind", "shape.list.element", "labels.list.element"):
        assert "RLE_DICTIONARY" in encodings[column], (column, encodings[column])


def test_values_are_compressed_only_where_zstd_pays(tmp_path):
    """High-entropy floats are written uncompressed (they read faster, for little more disk);
    counts that zstd shrinks keep it; either way they read back bit for bit, and the codec
    follows an independent measure of the sample (pyarrow's zstd on its bytes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ckptscope.store import schema
    from ckptscope.store.tables import MIN_SAVING, values_codec, write_parquet

    rng = np.random.default_rng(0)
    noisy = rng.standard_normal((40, 2000))
    counts = np.zeros((40, 2000))
    counts[:, 990:1010] = rng.integers(0, 50, (40, 20))

    def rows(values: np.ndarray) -> pa.Table:
        n = len(values)
        return pa.table({"suite": ["s"] * n, "model": ["m"] * n, "step": list(range(n)),
                         "component": ["embed"] * n, "block": [None] * n, "param": ["weight"] * n,
                         "head": [None] * n, "kind": ["k"] * n, "shape": [[values.shape[1]]] * n,
                         "values": list(values), "labels": [None] * n, "meta": [None] * n},
                        schema=schema.ARRAYS)  # fmt: skip

    for values, codec in ((noisy, "UNCOMPRESSED"), (counts, "ZSTD")):
        raw = values.tobytes()[: 4 * 2**20]
        saving = 1 - len(pa.compress(raw, "zstd", asbytes=True)) / len(raw)
        assert (saving >= MIN_SAVING) == (codec == "ZSTD"), saving  # the sample says so too
        table = rows(values)
        assert values_codec([table]) == codec.lower().replace("uncompressed", "none")
        path = tmp_path / f"{codec}.parquet"
        write_parquet(str(path), iter([None, table.slice(0, 20), None, table.slice(20)]),
                      schema.ARRAYS)  # fmt: skip
        meta = pq.ParquetFile(path).metadata
        assert meta.num_row_groups == 2
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            columns = {group.column(i).path_in_schema: group.column(i)
                       for i in range(group.num_columns)}  # fmt: skip
            assert columns["values.list.element"].compression == codec
            assert columns["model"].compression == "ZSTD"
        back = pq.read_table(path)
        assert np.array_equal(
            np.stack(back.column("values").to_numpy(zero_copy_only=False)), values
        )
    # no values at all (the scalars' stream, an empty stream), or too few to tell: zstd
    assert values_codec([pa.table({"x": [1.0]})]) == "zstd"
    assert values_codec([rows(np.zeros((0, 2000)))]) == "zstd"
    assert values_codec([rows(noisy[:1, :4])]) == "zstd"  # 32 bytes: zstd's frame outweighs
    assert values_codec([]) == "zstd"

    def codec_of(stream: list) -> str:
        path = tmp_path / "stream.parquet"
        write_parquet(str(path), iter(stream), schema.ARRAYS)
        meta = pq.ParquetFile(path).metadata.row_group(0)
        return next(meta.column(i).compression for i in range(meta.num_columns)
                    if meta.column(i).path_in_schema == "values.list.element")  # fmt: skip

    # a stream is read ahead past a tiny or empty first table until it holds a sample
    tiny, empty = rows(noisy[:1, :4]), rows(np.zeros((0, 2000)))
    assert codec_of([empty, tiny, None, rows(noisy)]) == "UNCOMPRESSED"
    assert codec_of([tiny, rows(counts)]) == "ZSTD"
    # only a few values in all: zstd, as before
    assert codec_of([tiny, None, tiny]) == "ZSTD"

    # read ahead no further than a row group's bytes (lists of no values), and not at all
    # in a stream without values (the scalars': all of it would be held)
    from ckptscope.store.tables import ROW_GROUP_BYTES, _peeked

    read = []

    def counted(tables: list) -> Iterator:
        for t in tables:
            read.append(t)
            yield t

    no_values = rows(np.zeros((20_000, 0)))
    assert no_values.nbytes * 200 > 4 * ROW_GROUP_BYTES
    stream, codec = _peeked(counted([no_values] * 200), schema.ARRAYS)
    assert (
        codec == "zstd" and 0 < len(read) * no_values.nbytes <= ROW_GROUP_BYTES + no_values.nbytes
    )
    assert len(list(stream)) == 200 and len(read) == 200  # every table still comes, in order
    read.clear()
    scalars = pa.table({"value": [1.0]}, schema=pa.schema([("value", pa.float64())]))
    stream, codec = _peeked(counted([scalars] * 5), scalars.schema)
    assert codec == "zstd" and read == [] and len(list(stream)) == 5


def test_a_query_of_one_kind_opens_no_file_of_another(tmp_path):
    """DuckDB reads a kind's file by its path: a file of another kind, unreadable since the
    connection opened, does not fail a query of this kind (it would, were it opened). The
    smallest file comes first: DuckDB opens the first one to bind every query."""
    store = Store(tmp_path)
    for step in range(3):
        recs = [Array("embed", b, "weight", kind, np.full(n, float(step)))
                for kind, n in (("big", 5000), ("small", 3), ("middle", 50)) for b in (None, 0)]  # fmt: skip
        store.write_task(TaskKey("A", "m1", step, "w"), recs)
    store.compact()
    big = next(tmp_path.glob("compacted/A/gen-*/arrays/kind=big/data.parquet"))
    with store.pinned():
        size = big.stat().st_size
        big.write_bytes(b"PAR1" + b"\xff" * (size - 8) + b"PAR1")  # an unreadable footer
        assert len(store.arrays(kind="small")) == 6
        assert len(store.arrays(kind=["small", "middle"], step=[0, 2])) == 8
        with pytest.raises(Exception, match="kind=big"):
            store.arrays(kind="big")


def test_a_kind_that_cannot_name_a_folder_shares_the_plain_file(tmp_path):
    """Kinds with a "/", "=", a space, capitals (two kinds would share a folder on a
    case-insensitive disk) or non-ASCII letters go to ``arrays.parquet``; their rows read
    back the same, beside the kinds with a file of their own."""
    from ckptscope.store import layout

    store = Store(tmp_path)
    odd = ["a/b", "x=y", "with space", "ü", "..", ".hidden", "Plain_kind"]
    for step in range(2):
        recs = [Array("embed", None, "weight", k, np.full(3, step + i)) for i, k in enumerate(odd)]
        recs.append(Array("embed", None, "weight", "plain_kind", np.ones(2)))
        store.write_task(TaskKey("A", "m1", step, "w"), recs)
    before = _everything(store)
    store.compact()
    _same(_everything(store), before)
    assert [layout.kind_file("arrays", k) for k in odd] == ["arrays"] * len(odd)
    gen = next((tmp_path / "compacted/A").iterdir())
    assert (gen / "arrays.parquet").exists()
    assert [p.parent.name for p in (gen / "arrays").glob("*/data.parquet")] == ["kind=plain_kind"]
    got = store.arrays(kind="x=y")
    assert [v.tolist() for v in got["values"]] == [[1.0] * 3, [2.0] * 3]


def test_a_generation_of_one_arrays_file_is_read_and_split_by_a_rewrite(tmp_path, monkeypatch):
    """A store compacted before files per kind (every kind in ``arrays.parquet``, as the
    shipped Pythia reference) reads the same; ``compact(rewrite=True)`` splits it by kind
    with no new task, as the next compaction with new tasks does."""
    from ckptscope.store import layout

    with monkeypatch.context() as m:
        m.setattr(layout, "kind_file", lambda table, kind: table)
        store = _fill(tmp_path, suites=("A",))
        before = _everything(store)
        store.compact()
    gen = next((tmp_path / "compacted/A").iterdir())
    assert (gen / "arrays.parquet").exists() and not (gen / "arrays").exists()
    _same(_everything(store), before)
    assert store.compact() == {"A": 0}  # nothing new: the generation stays
    assert [g.name for g in (tmp_path / "compacted/A").iterdir()] == ["gen-000001"]
    assert store.compact(rewrite=True) == {"A": 0}  # written anew, in files per kind
    _same(_everything(store), before)
    gen = next((tmp_path / "compacted/A").iterdir())
    assert gen.name == "gen-000002" and _check_kind_files(gen, ordered=False)
    store.write_task(TaskKey("A", "m1", 5, "weights"), _records("A", 5))
    before = _everything(store)
    store.compact()
    _same(_everything(store), before)
    gen = next((tmp_path / "compacted/A").iterdir())
    assert gen.name == "gen-000003" and _check_kind_files(gen, ordered=False)


def test_split_clusters_matches_a_row_by_row_split() -> None:
    import pyarrow as pa

    from ckptscope.store.compact import split_clusters

    kinds = ["b", None, "a", "b", "a", "", "b"]
    blocks = [0, None, None, 1, 0, 2, None]
    heads = [None, None, 1, 2, None, None, None]
    rows = pa.table({"kind": kinds, "block": pa.array(blocks, pa.int32()),
                     "head": pa.array(heads, pa.int32()), "i": list(range(7))})  # fmt: skip
    naive: dict[tuple, list[int]] = {}
    for r in rows.to_pylist():
        naive.setdefault(_naive_cluster(r, "kind"), []).append(r["i"])
    got = {key: part.column("i").to_pylist() for key, part in split_clusters(rows, "kind")}
    assert got == naive
    assert list(split_clusters(rows.slice(0, 0), "kind")) == []
    # a task folder's rows: each part sorted by the sort keys, ties in their order
    order = [3, 1, 2, 2, 0, 1, 3]
    rows = rows.append_column("o", pa.array(order))
    naive = {key: sorted(i, key=lambda j: order[j]) for key, i in naive.items()}
    got = {key: part.column("i").to_pylist() for key, part in split_clusters(rows, "kind", ["o"])}
    assert got == naive
    # one cluster and no sort: the rows themselves, not a copy
    one = rows.filter(pa.compute.equal(rows.column("kind"), "a"))
    one = one.filter(pa.compute.is_null(one.column("block")))
    ((_, part),) = split_clusters(one, "kind")
    assert part is one


def test_write_parquet_ends_a_row_group_at_none(tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ckptscope.store.tables import write_parquet

    schema = pa.schema([("x", pa.int64())])
    parts = [pa.table({"x": [1, 2]}), pa.table({"x": [3]}), None, pa.table({"x": [4]}), None]
    write_parquet(str(tmp_path / "t.parquet"), iter(parts), schema)
    pf = pq.ParquetFile(tmp_path / "t.parquet")
    groups = [pf.read_row_group(i).column("x").to_pylist() for i in range(pf.num_row_groups)]
    assert groups == [[1, 2, 3], [4]]


def _spills(folder) -> list:
    return sorted(p.name for p in folder.glob(f"{compact_mod.SPILL_PREFIX}*"))


def test_the_spill_is_removed_after_a_failure_and_a_killed_ones_by_the_next(tmp_path, monkeypatch):
    import subprocess
    import sys
    import tempfile

    spill_dir = tmp_path / "tmp"
    spill_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill_dir))
    store = _fill(tmp_path / "store")
    before = _everything(store)

    import pyarrow.parquet as pq

    def broken(self, *args, **kwargs):  # the writer fails while a stream is half read
        raise KeyboardInterrupt("killed while writing the generation")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", broken)
    with pytest.raises(KeyboardInterrupt) as caught:  # its traceback kept, as a notebook does
        store.compact()
    monkeypatch.undo()
    monkeypatch.setattr(tempfile, "tempdir", str(spill_dir))
    assert _spills(spill_dir) == [] and caught.traceback  # the failed compaction's spill is gone
    # a process killed mid-way leaves its spill; the next compaction removes it, not a live one's
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    (spill_dir / f"{compact_mod.SPILL_PREFIX}{dead}-x").mkdir()
    (spill_dir / f"{compact_mod.SPILL_PREFIX}{dead}-x" / "0.arrow").write_bytes(b"rows")
    (spill_dir / f"{compact_mod.SPILL_PREFIX}1-init").mkdir()  # pid 1 is alive
    assert store.compact() == {"A": 12, "B": 12}
    _same(_everything(store), before)
    assert _spills(spill_dir) == [f"{compact_mod.SPILL_PREFIX}1-init"]


def test_a_full_spill_disk_is_one_line_naming_the_spill(tmp_path, monkeypatch):
    import errno

    from ckptscope.store import StoreError

    store = _fill(tmp_path)
    before = _everything(store)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(compact_mod.ipc, "new_file", full)
    with pytest.raises(StoreError, match=r"^compaction spill .*ckptscope-compact-\d+-.*: No space "
                                         r"left on device \(set TMPDIR"):  # fmt: skip
        store.compact()
    monkeypatch.undo()
    _same(_everything(store), before)  # nothing lost: the task folders are still read


def test_step_groups_never_cut_a_step_that_spans_two_tables() -> None:
    """A step whose rows come in two tables (a spill file ends mid-step) stays in one row
    group; the next step starts one."""
    import pyarrow as pa

    from ckptscope.store.compact import step_groups

    def rows(pairs):
        return pa.table({"model": [m for m, _ in pairs], "step": [s for _, s in pairs],
                         "x": [1.0] * len(pairs)})  # fmt: skip

    tables = [rows([("a", 1), ("a", 2), ("a", 2)]), rows([("a", 2), ("a", 3)]), rows([("b", 3)])]
    groups, current = [], []
    for part in step_groups(tables, least=1):
        if part is None:
            groups.append(current)
            current = []
        else:
            models, steps = part.column("model").to_pylist(), part.column("step").to_pylist()
            current += list(zip(models, steps, strict=True))
    groups.append(current)
    assert groups == [[("a", 1)], [("a", 2)] * 3, [("a", 3)], [("b", 3)]]
