"""W&B export, offline: the run files read back record by record with W&B's own protobufs."""

from __future__ import annotations

import itertools
import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ckptscope.cli.app import app
from ckptscope.errors import UsageError
from ckptscope.export import WandbExporter
from ckptscope.export.rows import coarsen
from ckptscope.export.wandb import stop_wandb_service
from ckptscope.stats.histogram import UNIVERSAL_GRID
from export.stores import STEPS, expected_histograms, expected_scalars

pytest.importorskip("wandb")


@pytest.fixture(autouse=True)
def _quiet_offline_wandb(monkeypatch, tmp_path):
    for key, value in {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_CONSOLE": "off",
                       "WANDB_DISABLE_GIT": "true", "WANDB_DIR": str(tmp_path / "wandb_env")}.items():  # fmt: skip
        monkeypatch.setenv(key, value)


def read_records(path: Path) -> list:
    """The records of a ``.wandb`` file: a 7-byte header, then a LevelDB-style log of
    32 KiB blocks, each record ``crc32c(4) length(2) type(1)`` (1 full, 2 first, 3 middle,
    4 last) - read here independently of W&B, parsed with its ``Record`` protobuf."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, pending, records = 7, 32768, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            rec = wandb_internal_pb2.Record()
            rec.ParseFromString(pending)
            records.append(rec)
            pending = b""
        elif kind == 0:
            break
    return records


def read_run(path: Path):
    """(display name, history: step -> {key: value}) of an offline run file."""
    name, history = None, {}
    for rec in read_records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            name = rec.run.display_name
        elif kind == "history":
            row: dict = {}
            for item in rec.history.item:
                value = json.loads(item.value_json)
                if len(item.nested_key) == 2:  # a histogram: (tag, "bins"|"values"|"_type")
                    row.setdefault(item.nested_key[0], {})[item.nested_key[1]] = value
                else:
                    row[item.key or item.nested_key[0]] = value
            history[rec.history.step.num] = row
    return name, history


def _run_files(root: Path) -> dict[str, Path]:
    return {read_run(p)[0]: p for p in root.glob("wandb/offline-run-*/run-*.wandb")}


def assert_run_matches(path: Path, store, model: str, steps=STEPS) -> int:
    """Every row of ``model`` is in the run; returns how many histograms were coarsened."""
    _, history = read_run(path)
    assert set(history) == set(steps)
    want = expected_scalars(store, model)
    want_h = expected_histograms(store, model)
    edges = UNIVERSAL_GRID.edges
    coarsened = 0
    for step in steps:
        row = history[step]
        assert row["_step"] == step
        scalars = {t: v[step] for t, v in want.items() if step in v}
        hists = {t: v[step] for t, v in want_h.items() if step in v}
        assert {k for k in row if not k.startswith("_")} == set(scalars) | set(hists)
        for tag, values in scalars.items():
            assert [row[tag]] == values, (tag, step)  # float64 kept exactly
        for tag, counts in hists.items():
            assert row[tag]["_type"] == "histogram"
            bins = np.asarray(row[tag]["bins"])
            got = np.asarray(row[tag]["values"], dtype=np.float64)
            nz = np.flatnonzero(counts)
            coarsened += nz[-1] - nz[0] + 1 > 512  # the span of non-empty bins
            assert len(got) <= 512 and len(bins) == len(got) + 1
            # each W&B bin is a union of whole store bins: its count is theirs, summed
            idx = np.searchsorted(edges, bins)
            np.testing.assert_array_equal(edges[idx], bins)
            want_counts = [counts[a:b].sum() for a, b in itertools.pairwise(idx)]
            np.testing.assert_array_equal(got, want_counts)
            assert got.sum() == counts.sum()
    return coarsened


def test_offline_export_every_row(small_store, tmp_path):
    out = tmp_path / "wb"
    res = CliRunner().invoke(app, ["export", str(small_store.root), "--to", "wandb", str(out)])
    assert res.exit_code == 0, res.output
    runs = _run_files(out)
    assert set(runs) == {"s/a", "s/b"}
    coarsened = [assert_run_matches(runs[f"s/{model}"], small_store, model) for model in "ab"]
    assert sum(coarsened) > 0  # some histograms span more than W&B's 512 bins


def test_write_step_live_into_a_folder_and_a_run(small_store, tmp_path):
    exporter = WandbExporter(tmp_path / "live")
    for step in STEPS[:2]:
        exporter.write_step(small_store, "a", step)
    exporter.close()
    stop_wandb_service()  # W&B's service writes the file; whole once it stops
    (path,) = _run_files(tmp_path / "live").values()
    assert_run_matches(path, small_store, "a", steps=STEPS[:2])

    class FakeRun:  # any object with log(): what a user's wandb.init() run receives
        def __init__(self):
            self.logged = []

        def log(self, data, step):
            self.logged.append((step, data))

    run = FakeRun()
    exporter = WandbExporter(run)
    exporter.write_step(small_store, "b", 5)
    with pytest.raises(UsageError, match="logs one model"):
        exporter.write_step(small_store, "a", 5)
    ((step, data),) = run.logged
    assert (
        step == 5
        and data["embed/-/norm"] == expected_scalars(small_store, "b")["embed/-/norm"][5][0]
    )


def test_coarsen_keeps_counts_exact():
    rng = np.random.default_rng(0)
    edges = np.cumsum(rng.uniform(0.1, 1, 1301))
    counts = rng.integers(0, 9, 1300).astype(float)
    new_edges, new_counts = coarsen(edges, counts, 512)
    assert len(new_counts) <= 512 and len(new_edges) == len(new_counts) + 1
    k = 3  # the smallest run length that fits 1300 bins into 512
    naive = [counts[i : i + k].sum() for i in range(0, 1300, k)]
    np.testing.assert_array_equal(new_counts, naive)
    np.testing.assert_array_equal(new_edges, [*edges[::k], edges[-1]])
    same_edges, same_counts = coarsen(edges[:11], counts[:10], 512)
    np.testing.assert_array_equal(same_edges, edges[:11])
    np.testing.assert_array_equal(same_counts, counts[:10])


def test_missing_wandb_is_one_line(small_store, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    msg = "wandb export needs the wandb package: pip install 'ckptscope[wandb]'"
    with pytest.raises(UsageError) as err:
        WandbExporter(tmp_path / "wb")
    assert str(err.value) == msg
    res = CliRunner().invoke(app, ["export", str(small_store.root), "--to", "wandb"])
    assert res.exit_code == 1 and res.output.strip() == f"error: {msg}"
