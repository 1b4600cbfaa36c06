"""The Pythia-scale store benchmark: its generator against a real sweep, and its quick mode."""

import importlib
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from bench_quick import quick_result

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scale():
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    return importlib.import_module("benchmarks.bench_store_scale")


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("bench")


@pytest.fixture(scope="module")
def swept(scale, bench_dir):
    """The template's real sweep (cached where the quick benchmark looks for it)."""
    return scale.swept_template_store(bench_dir / "scale-template")


def _task_shapes(scale, store, key):
    """A task's rows: (record, component, block, param, head, name) -> array shape or None."""
    rows, _ = scale.stored_rows(store, key)
    out = {}
    for record, comp, block, param, head, name, payload in rows:
        shape = tuple(payload[0].shape) if record == "array" else None
        out[(record, comp, block, param, head, name)] = shape
    return out


def test_generated_tasks_have_the_rows_of_the_real_sweep(scale, swept, tmp_path):
    from ckptscope.store import Store

    real = Store(swept, create=False)
    template = scale.load_template(swept)
    steps = sorted({k.step for k in real.done()})
    generated = scale.generate_store(
        tmp_path / "store", template, [scale.TEMPLATE_MODEL], steps, suite="x", derive=False
    )
    assert len(generated.done()) == len(real.done()) == len(steps) * len(template.analyses)
    for key in real.done():
        want = _task_shapes(scale, real, key)
        gen_key = type(key)("x", key.model, key.step, key.analysis)
        got = _task_shapes(scale, generated, gen_key)
        assert got.keys() == want.keys(), key
        for row, shape in want.items():
            # qq plots: at Pythia sizes every matrix's sample is capped, so all take the
            # embedding's length; this small model's smaller matrices have shorter ones
            if not row[-1].startswith("qq_"):
                assert got[row] == shape, (key, row)


def test_row_counts_scale_with_blocks_and_heads(scale, swept, tmp_path):
    from ckptscope.findings import findings

    template = scale.load_template(swept)
    shapes = scale.TINY
    steps = scale.pick_steps(5)
    assert steps[:3] == [0, 1, 2] and steps[-1] == 143000
    store = scale.generate_store(tmp_path / "store", template, shapes, steps)
    assert len(store.done()) == len(shapes) * len(steps) * len(template.analyses)
    total = {"scalars": 0, "arrays": 0, "values": 0}
    for key in store.done():
        shape = next(s for s in shapes if s.name == key.model)
        want = scale.task_rows(template, key.analysis, shape, min(steps.index(key.step), 2))
        rows = _task_shapes(scale, store, key)
        got = {
            "scalars": sum(r[0] in ("scalar", "label") for r in rows),
            "arrays": sum(r[0] == "array" for r in rows),
            "values": sum(math.prod(s) for s in rows.values() if s is not None),
        }
        assert got == {k: want[k] for k in got}, key
        total = {k: total[k] + got[k] for k in total}
    assert scale.store_rows(template, shapes, steps) == total
    # one more block adds each per-block row once and each per-head row once per head
    small, large = shapes
    assert (small.layers, large.layers) == (2, 3) and (small.heads, large.heads) == (2, 3)
    for analysis in template.analyses:
        rows = [r for r in template.rows if r.analysis == analysis and r.record != "array"]
        rows = [r for r in rows if r.record != "bookkeeping"]
        per_block = sum(r.scope == "block" for r in rows)
        per_head = sum(r.scope == "head" for r in rows)
        grow = (
            scale.task_rows(template, analysis, large, 2)["scalars"]
            - scale.task_rows(template, analysis, small, 2)["scalars"]
        )
        assert grow == per_block * (3 - 2) + per_head * (3 * 3 - 2 * 2), analysis
    # the derivations ran, and the findings read every model
    assert not store.scalars(metric="max_abs_ever").empty
    assert not store.scalars(metric="svd_exact").empty
    verdicts = findings(store)
    assert set(verdicts["model"]) >= {s.name for s in shapes}
    # F15's log-spaced spectra: as many values as their meta's ranks, falling
    from ckptscope.figures import FIGURES, Query

    spectra = FIGURES["F15"].rows(store, Query())
    assert len(spectra) and set(spectra.kind) == {"singular_values_log"}
    for ranks, values in zip(spectra["ranks"], spectra["values"], strict=True):
        assert len(ranks) == len(values) and (np.diff(values) <= 0).all() and (values > 0).all()


def test_store_scale_quick_mode_produces_ratios(swept, bench_dir, tmp_path):
    # the template swept above is reused from bench_dir
    result = quick_result("bench_store_scale", bench_dir, tmp_path / "result.json", timeout=900)
    ratios = result["by_label"]
    for label in (
        "after: F7 query / 1 s",
        "after: slowest figure query / 1 s",
        "after: findings / 10 s",
        "after: report / 10 min",
        "before: findings / 10 s",
    ):
        assert math.isfinite(ratios[label]["value"]) and ratios[label]["value"] > 0
    assert ratios["after: findings / 10 s"]["met"] in (True, False)
    rows = dict(map(tuple, result["rows"]))
    files_before = int(rows["before: files / size on disk"].split(" / ")[0].replace(",", ""))
    files_after = int(rows["after: files / size on disk"].split(" / ")[0].replace(",", ""))
    assert files_after < files_before
    assert "failed" not in rows["derivations (run_derivations)"]
    assert not list(bench_dir.glob("ckptscope-scale-*"))  # the generated store is removed
