"""Shared drawing helpers: step picking, file names, line grids, the animation writer."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from ckptscope.names import model_order
from ckptscope.plots.animation import Animation, write_animation
from ckptscope.plots.lines import line_grid
from ckptscope.plots.style import even_pick, panels, pick_steps, safe_name


@pytest.mark.parametrize(("n", "cap"), [(5, 60), (200, 60), (61, 60), (2, 1)])
def test_even_pick(n: int, cap: int) -> None:
    picks = even_pick(n, cap)
    assert len(picks) <= max(cap, 2) and picks[0] == 0 and picks[-1] == n - 1
    assert picks == sorted(set(picks))
    assert pick_steps([30, 0, 10, 10, 20], 2) == [0, 30]


def test_names_and_order() -> None:
    assert safe_name("m/1") == "m_1" and safe_name("..") == "model"
    assert model_order(["1.4b", "w128", "160m", "w64"]) == ["w64", "w128", "160m", "1.4b"]


def _rows(components, metric="norm"):
    return pd.DataFrame([dict(suite="s", model=model, step=step, component=comp, block=block,
                              param="weight", metric=metric, value=1.0 + step * (block + 1))
                         for model in ("w128", "w64") for comp in components
                         for block in range(3) for step in (0, 1, 2, 4)])  # fmt: skip


def test_line_grid_leaves_out_missing_components() -> None:
    keys = [(c, "weight", "norm") for c in ("qkv", "q", "k", "v", "attn_out")]
    llama = line_grid(_rows(["q", "k", "v", "attn_out"]), keys, "F8")
    neox = line_grid(_rows(["qkv", "attn_out"]), keys, "F8")

    def panels(fig):
        return [a for a in fig.axes if a.get_label() != "<colorbar>"]

    assert len(panels(llama)) == 8 and len(panels(neox)) == 4  # a row per key, a column per model
    assert len(neox.axes) == 5  # and the depth colourbar
    assert neox.get_size_inches()[1] < llama.get_size_inches()[1]
    with pytest.raises(ValueError, match="no rows"):
        line_grid(_rows(["qkv"]), [("mlp_in", "weight", "norm")], "F7")


def test_animation_writes_gif_and_mp4_a_frame_per_step(tmp_path: Path) -> None:
    fig, axes = panels(1, 1, width=3.1, height=2.3)  # odd pixel sizes: padded for H.264
    ax = axes[0][0]
    (line,) = ax.plot([], [])
    ax.set_xlim(0, 5)
    ax.set_ylim(0, 5)

    def update(step: int):
        line.set_data([0, step], [0, step])
        ax.set_title(f"step {step}")
        return [line, ax.title]

    anim = Animation(fig.figure, [1, 2, 3, 4, 5], update)
    frames = list(anim.frames())
    assert len(frames) == 5 and not np.array_equal(frames[0], frames[-1])
    gif, mp4 = write_animation(iter(frames), tmp_path / "x")
    assert (gif.name, mp4.name) == ("x.gif", "x.mp4")
    assert len(imageio.mimread(gif)) == 5
    with imageio.get_reader(mp4, format="FFMPEG") as reader:
        assert sum(1 for _ in reader) == 5
    with pytest.raises(ValueError, match="no frames"):
        write_animation(iter([]), tmp_path / "y")


def test_tile_lays_images_row_by_row_white_padded() -> None:
    from ckptscope.plots.animation import tile

    images = [np.full((2, 3, 3), i, dtype=np.uint8) for i in range(3)]
    grid = tile(images, ncols=2)
    assert grid.shape == (4, 6, 3)
    assert (grid[:2, :3] == 0).all() and (grid[:2, 3:] == 1).all() and (grid[2:, :3] == 2).all()
    assert (grid[2:, 3:] == 255).all()  # the empty cell
    with pytest.raises(ValueError, match="differ in shape"):
        tile([images[0], np.zeros((3, 3, 3), np.uint8)])


def test_frames_at_chosen_steps_match_the_full_run() -> None:
    fig = Figure()
    ax = fig.add_subplot()
    (line,) = ax.plot([], [])
    ax.set_xlim(0, 4)
    ax.set_ylim(0, 4)

    def update(step: int) -> list:
        line.set_data([0, step], [0, step])
        return [line]

    anim = Animation(fig, [0, 1, 2, 3], update)
    every = list(anim.frames())
    some = list(anim.frames([1, 3]))
    assert len(every) == 4 and len(some) == 2
    np.testing.assert_array_equal(some[0], every[1])
    np.testing.assert_array_equal(some[1], every[3])
    assert not np.array_equal(every[1], every[3])


def test_fixed_layout_frames_skip_the_layout_draw_and_match_it() -> None:
    """A figure with fixed margins has no layout to compute: its frames, blitted over a
    background drawn once, are those drawn after a first full (layout) draw, pixel for
    pixel."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    def make() -> Animation:
        fig, axes = panels(1, 2, width=2.5, height=2.0, fixed=True)
        lines = []
        for ax in (axes[0][0], axes[0][1]):
            ax.plot([0, 4], [4, 0], color="0.7")
            (line,) = ax.plot([], [], color="C3")
            ax.set_xlim(0, 4)
            ax.set_ylim(0, 4)
            ax.set_title("panel")
            lines.append(line)
        sup = fig.suptitle("step 0")

        def update(step: int) -> list:
            for k, line in enumerate(lines):
                line.set_data([0, step], [k, step])
            sup.set_text(f"step {step}")
            return [sup, *lines]

        return Animation(fig.figure, [1, 2, 3], update)

    frames = list(make().frames(dpi=80))
    ref = make()  # the frames as drawn with a full draw first
    ref.fig.set_dpi(80)
    canvas = FigureCanvasAgg(ref.fig)
    changed = ref.update(1)
    canvas.draw()
    for artist in changed:
        artist.set_visible(False)
    canvas.draw()
    background = canvas.copy_from_bbox(ref.fig.bbox)
    assert len(frames) == 3
    for step, frame in zip([1, 2, 3], frames, strict=True):
        canvas.restore_region(background)
        for artist in ref.update(step):
            artist.set_visible(True)
            ref.fig.draw_artist(artist)
        np.testing.assert_array_equal(frame, np.asarray(canvas.buffer_rgba())[..., :3])
    assert not np.array_equal(frames[0], frames[2])


def test_log_y_axis_draws_few_minor_ticks() -> None:
    """matplotlib's minor ticks within 1.5 decades (a short range still reads), 2 and 5 x
    10^k up to 6 decades, none over more (matplotlib draws 8 per decade)."""
    from ckptscope.plots.style import log_y_axis

    fig, axes = panels(1, 3)
    short, mid, wide = axes[0]
    for ax, lo in ((short, 0.15), (mid, 1e-2), (wide, 1e-7)):
        ax.plot([0, 1], [lo, 0.9])
        log_y_axis(ax)
        ax.set_ylim(lo, 0.9)
    fig.canvas.draw()

    def mantissas(ax) -> list[float]:
        lo, hi = ax.get_ylim()
        ticks = [v for v in ax.yaxis.get_minorticklocs() if lo <= v <= hi]
        return sorted({round(v / 10 ** np.floor(np.log10(v)), 6) for v in ticks})

    assert mantissas(short) == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert mantissas(mid) == [2.0, 5.0]
    locator = wide.yaxis.get_minor_locator()
    assert len(locator.tick_values(1e-7, 0.9)) == 0  # 6.95 decades
    assert len(locator.tick_values(1e-5, 0.9)) > 0  # 4.95 decades


def test_log_panel_titles_are_not_placed_automatically() -> None:
    """A log axis (no offset text to clear) keeps its title at a fixed height: matplotlib's
    placement measures every tick label per draw. A linear axis keeps the placement."""
    from ckptscope.plots.style import log_y_axis

    fig, axes = panels(1, 2)
    log_panel, linear = axes[0]
    log_y_axis(log_panel)
    for ax in (log_panel, linear):
        ax.plot([0, 1], [1e-6, 2e-6])
        ax.set_title("a title")
    fig.canvas.draw()
    assert log_panel._autotitlepos is False and linear._autotitlepos is True
    assert log_panel.title.get_position()[1] == 1.0


@pytest.mark.parametrize("kind", ["lines", "heatmap"])
def test_gif_frames_are_close_to_the_drawn_ones(tmp_path: Path, kind: str) -> None:
    """The shared palette reproduces each frame as closely as a palette per frame (the
    writer's former way, kept here as the reference), with every frame written: lines of
    several colours, and a heatmap whose values move through its colour map."""
    from PIL import Image

    fig, axes = panels(1, 1, width=4.0, height=3.0)
    ax = axes[0][0]
    x = np.linspace(0, 1, 200)
    lines = [ax.plot([], [], lw=1.2)[0] for _ in range(6)] if kind == "lines" else []
    grid = np.add.outer(np.linspace(0, 1, 24), np.linspace(0, 1, 24))
    image = ax.imshow(grid, vmin=0, vmax=3, cmap="viridis") if kind == "heatmap" else None
    if image is not None:
        fig.colorbar(image, ax=ax)
    else:
        ax.set_xlim(0, 1)
        ax.set_ylim(-1.2, 1.2)

    def update(step: int):
        for k, line in enumerate(lines):
            line.set_data(x, np.sin(6 * x + k + step / 4) * (k + 1) / 6)
        if image is not None:
            image.set_data(grid + step / 30)
        ax.set_title(f"step {step}")
        return [*lines, *([image] if image is not None else []), ax.title]

    frames = list(Animation(fig.figure, list(range(30)), update).frames())
    (gif,) = write_animation(iter(frames), tmp_path / "x", formats=("gif",))
    decoded = [np.asarray(Image.fromarray(f).convert("RGB")) for f in imageio.mimread(gif)]
    assert len(decoded) == len(frames)

    def per_frame(im: np.ndarray) -> np.ndarray:
        q = Image.fromarray(im).quantize(256, method=Image.Quantize.FASTOCTREE,
                                         dither=Image.Dither.NONE)  # fmt: skip
        return np.asarray(q.convert("RGB"))

    for got, want in zip(decoded, frames, strict=True):
        err = np.abs(got.astype(int) - want).mean()
        reference = np.abs(per_frame(want).astype(int) - want).mean()
        assert err <= max(1.25 * reference, 0.5), (err, reference)
