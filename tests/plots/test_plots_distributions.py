"""F1 and F2 animations and tail trajectories, drawn from a tiny store built in the test."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ckptscope.analyses.distributions import describe_distribution, pooled_histograms
from ckptscope.plots.distributions import (
    animate_histograms,
    plot_qq,
    plot_tail_trajectories,
    plot_weight_histograms,
)
from ckptscope.store import Store, TaskKey

STEPS = {"small": [0, 10, 20], "large": [0, 10, 20, 30]}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("dist_store"))
    rng = np.random.default_rng(0)
    for model, steps in STEPS.items():
        d = 8 if model == "small" else 16
        for i, step in enumerate(steps):
            records = []
            for comp in ("qkv", "mlp_in"):
                for block in range(2):
                    nu = 30.0 / (1 + 5 * i)  # tails grow heavier with the step
                    w = (0.02 * rng.standard_t(nu, size=(3 * d, d))).astype(np.float32)
                    summary = describe_distribution(w, max_samples=2000)
                    records += summary.records(comp, block, "weight")
            records += pooled_histograms([r for r in records if getattr(r, "kind", "") == "hist"])
            store.write_task(TaskKey("s", model, step, "distributions"), records)
    return store


def n_frames(path: Path) -> int:
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        return getattr(im, "n_frames", 1)


def test_f1_one_gif_per_component_one_frame_per_step(store: Store, tmp_path: Path) -> None:
    paths = plot_weight_histograms(store, tmp_path, log_counts=True)
    assert sorted(p.name for p in paths) == ["F1_hist_mlp_in.gif", "F1_hist_qkv.gif"]
    for p in paths:
        assert n_frames(p) == 4  # the union of both models' steps: 0, 10, 20, 30
    with Image.open(paths[0]) as im:
        assert im.size[0] > im.size[1]  # two panels side by side


def test_f1_accepts_a_dataframe_and_filters_models(store: Store, tmp_path: Path) -> None:
    frame = store.arrays(kind="hist_pooled")
    (path,) = plot_weight_histograms(frame, tmp_path, components=("qkv",), models=["small"])
    assert n_frames(path) == 3


def test_f2_one_gif_per_model(store: Store, tmp_path: Path) -> None:
    paths = plot_qq(store, tmp_path, components=("qkv",))
    assert sorted(p.name for p in paths) == ["F2_qq_large.gif", "F2_qq_small.gif"]
    frames = {p.name: n_frames(p) for p in paths}
    assert frames == {"F2_qq_large.gif": 4, "F2_qq_small.gif": 3}


def test_tail_trajectories_png_per_model(store: Store, tmp_path: Path) -> None:
    paths = plot_tail_trajectories(store, tmp_path)
    assert sorted(p.name for p in paths) == ["tails_large.png", "tails_small.png"]
    for p in paths:
        with Image.open(p) as im:
            assert im.format == "PNG" and im.size[0] > 200


def test_empty_input_is_a_clear_error(store: Store, tmp_path: Path) -> None:
    empty = store.arrays(kind="hist").iloc[:0]
    with pytest.raises(ValueError, match="no histograms"):
        animate_histograms(empty, tmp_path / "x")
    assert plot_weight_histograms(empty, tmp_path) == []


def test_mp4_needs_ffmpeg(store: Store, tmp_path: Path) -> None:
    if shutil.which("ffmpeg"):
        (path,) = plot_weight_histograms(store, tmp_path, components=("qkv",), fmt="mp4")
        assert path.suffix == ".mp4" and path.stat().st_size > 0
    else:
        with pytest.raises(ValueError, match="ffmpeg"):
            plot_weight_histograms(store, tmp_path, components=("qkv",), fmt="mp4")
