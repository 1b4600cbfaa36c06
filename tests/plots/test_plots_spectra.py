"""F15, F16 and ESD-metric figures drawn from a tiny store built in the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from ckptscope.analyses.base import get_analysis
from ckptscope.analyses.svd_directions import SvdCloseness
from ckptscope.plots.spectra import (
    draw_esd,
    draw_f15,
    draw_f16,
    plot_esd_metrics,
    plot_spectra,
    plot_svd_closeness,
)
from ckptscope.report.figures import ReportOptions
from ckptscope.store import Store, TaskKey
from linalg.neox_toy import neox_context, neox_tensors

L, D, H = 2, 16, 4
EXTRA = {"svd_directions": {"top_n": 3, "top_k": 4}}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("spectra_store"))
    for model, d in (("small", D), ("large", 2 * D)):
        for step in (0, 10, 20):
            ctx = neox_context(
                neox_tensors(L, d, H, seed=step), L, d, H, step=step, model=model, extra=EXTRA
            )
            for name in ("spectra", "svd_directions"):
                store.write_task(TaskKey("mem", model, step, name), get_analysis(name).run(ctx))
    store.write_derived("svd_closeness", "mem", SvdCloseness().derive(store))
    return store


def written(paths: list[Path]) -> set[str]:
    assert paths and all(p.is_file() and p.stat().st_size > 0 for p in paths)
    return {p.name for p in paths}


def test_f15_static_and_animated(store: Store, tmp_path: Path) -> None:
    arrays = store.arrays(kind="singular_values", param="weight")
    names = written(plot_spectra(arrays, tmp_path, components=("mlp_in",)))
    assert names == {
        "small_mlp_in.png",
        "small_mlp_in_anim.gif",
        "large_mlp_in.png",
        "large_mlp_in_anim.gif",
    }
    # schema v2: the head is a column; a per-head figure selects its rows (head 1's circuit)
    heads = store.arrays(kind="singular_values", component="ov", model="small", head=1)
    names = written(
        plot_spectra(heads, tmp_path, components=("ov",), param="circuit", animations=False)
    )
    assert names == {"small_ov_circuit.png"}


def test_f16_through_the_catalogue_entry(store: Store, tmp_path: Path) -> None:
    names = written(draw_f16(store, tmp_path, ReportOptions(models=("small",))))
    assert names == {"F16_svd_exact.png", "F16_svd_overlap.png", "F16_per_size.png"}


def test_esd_metrics(store: Store, tmp_path: Path) -> None:
    esd = store.scalars(metric=["alpha", "mp_outliers"])
    assert written(plot_esd_metrics(esd, tmp_path, metrics=("alpha",))) == {"esd_alpha.png"}
    closeness = store.scalars(metric="svd_overlap", model="large")
    assert written(plot_svd_closeness(closeness, tmp_path, metrics=("svd_overlap",))) == {
        "F16_svd_overlap.png",
        "F16_per_size.png",
    }


def test_catalogue_entries_without_data(tmp_path: Path) -> None:
    empty, opts = Store(tmp_path / "empty"), ReportOptions()
    assert (
        draw_f15(empty, tmp_path, opts)
        == draw_f16(empty, tmp_path, opts)
        == draw_esd(empty, tmp_path, opts)
        == []
    )
