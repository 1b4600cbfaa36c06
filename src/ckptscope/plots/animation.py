"""The one animation writer: a figure redrawn per step, saved as GIF and MP4.

An :class:`Animation` is a figure laid out once plus an ``update(step)`` that changes its
artists and returns them; :meth:`Animation.frames` renders each step by blitting those
artists over a background drawn once (a full draw per frame is mostly tick layout).
:func:`write_animation` writes the frames with imageio: GIF through Pillow (fast octree colours), MP4 (H.264,
x264's ``veryfast`` preset: plots compress well at any preset) through the ffmpeg that the
``imageio-ffmpeg`` wheel bundles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure, FigureBase
from PIL import Image

FPS = 4
GIF_DPI = 100  # frames of about 900 px a row of panels: tick labels read


@dataclass
class Animation:
    """A figure, the steps it shows, and how to show one step (returns the changed artists)."""

    fig: Figure
    steps: Sequence[int]
    update: Callable[[int], list[Artist]]

    def still(self, step: int | None = None) -> Figure:
        """The figure at ``step`` (default: the last) as a static Figure."""
        self.update(self.steps[-1] if step is None else step)
        return self.fig

    def frames(
        self, steps: Sequence[int] | None = None, dpi: int = GIF_DPI
    ) -> Iterator[np.ndarray]:
        """One RGB image per step (default: every step of the animation), blitting the
        changed artists over a background drawn once."""
        steps = self.steps if steps is None else steps
        fig = self.fig
        fig.set_dpi(dpi)
        canvas = FigureCanvasAgg(fig)
        changed = self.update(steps[0])
        if fig.get_layout_engine() is not None:
            canvas.draw()  # lays out once, titles included; later frames keep these positions
            fig.set_layout_engine("none")
        for artist in changed:
            artist.set_visible(False)
        canvas.draw()
        background = canvas.copy_from_bbox(fig.bbox)
        for step in steps:
            canvas.restore_region(background)
            for artist in self.update(step):
                artist.set_visible(True)
                fig.draw_artist(artist)
            yield np.asarray(canvas.buffer_rgba())[..., :3].copy()


def small_multiples(
    draw: Callable[[FigureBase], Animation],
    steps: Sequence[int],
    ncols: int = 2,
    into: FigureBase | None = None,
) -> Figure:
    """A still of the animation at each of ``steps``, in a grid of ``ncols`` (for papers).

    ``draw(into)`` lays the animated figure out in a sub-figure (see
    :func:`~ckptscope.plots.style.panels`, which records the size it wants as ``ck_size``).
    """
    ncols = max(1, min(ncols, len(steps)))
    nrows = math.ceil(len(steps) / ncols)
    fig = into if into is not None else Figure(layout="constrained")
    subs = fig.subfigures(nrows, ncols, squeeze=False).ravel()
    sizes = []
    for sub, step in zip(subs, steps, strict=False):
        draw(sub).still(step)
        sizes.append(getattr(sub, "ck_size", (6.0, 4.0)))
    size = (max(s[0] for s in sizes) * ncols, max(s[1] for s in sizes) * nrows)
    if into is not None:
        into.ck_size = size  # type: ignore[attr-defined]
    else:
        fig.set_size_inches(*size)
    return fig.figure


def tile(images: Sequence[np.ndarray], ncols: int = 2) -> np.ndarray:
    """Same-sized RGB images laid out in a grid of ``ncols``, row by row, white padded."""
    if not images:
        raise ValueError("no images to tile")
    h, w, c = images[0].shape
    if any(im.shape != (h, w, c) for im in images):
        raise ValueError(f"images to tile differ in shape: {sorted({im.shape for im in images})}")
    ncols = max(1, min(ncols, len(images)))
    nrows = math.ceil(len(images) / ncols)
    out = np.full((nrows * h, ncols * w, c), 255, dtype=images[0].dtype)
    for i, im in enumerate(images):
        r, col = divmod(i, ncols)
        out[r * h : (r + 1) * h, col * w : (col + 1) * w] = im
    return out


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad to even height and width with white (H.264 in yuv420p needs both even)."""
    h, w = frame.shape[:2]
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), constant_values=255)


#: frames a GIF's shared palette is drawn from, evenly spaced over the animation
PALETTE_FRAMES = 12


def gif_palette(images: Sequence[np.ndarray]) -> Image.Image:
    """One 256-colour palette for every frame: a fast octree over up to ``PALETTE_FRAMES``
    frames evenly spaced, the first and last among them (a plot's colours are in most of
    its frames; a colour seen in none of these is drawn in its nearest)."""
    picks = np.unique(np.linspace(0, len(images) - 1, min(len(images), PALETTE_FRAMES)).round())
    sample = np.concatenate([images[int(i)] for i in picks], axis=0)
    return Image.fromarray(sample).quantize(
        256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
    )


def _write_gif(images: Sequence[np.ndarray], path: Path, fps: int) -> None:
    """A looping GIF, every frame mapped undithered to one shared palette (:func:`gif_palette`).

    One palette lets the encoder store each frame as its change from the last by palette
    index alone; a palette per frame made it compare frames in RGBA, and took twice as
    long in all, for the same error (plots have few colours).
    """
    palette = gif_palette(images)
    frames = [
        Image.fromarray(im).quantize(palette=palette, dither=Image.Dither.NONE) for im in images
    ]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=1000 / fps, loop=0)


def write_animation(
    frames: Iterable[np.ndarray],
    stem: Path,
    fps: int = FPS,
    formats: Sequence[str] = ("gif", "mp4"),
) -> list[Path]:
    """Write ``stem.gif`` and ``stem.mp4``, one frame per image; returns the paths."""
    images = [_even(f) for f in frames]
    if not images:
        raise ValueError(f"no frames to write for {stem.name}")
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    if "gif" in formats:
        gif = stem.with_name(f"{stem.name}.gif")
        _write_gif(images, gif, fps)
        paths.append(gif)
    if "mp4" in formats:
        mp4 = stem.with_name(f"{stem.name}.mp4")
        with imageio.get_writer(mp4, format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                pixelformat="yuv420p", macro_block_size=1, ffmpeg_log_level="error",
                                output_params=["-movflags", "faststart", "-preset", "veryfast"],
                                ) as writer:  # fmt: skip
            for image in images:
                writer.append_data(image)
        paths.append(mp4)
    return paths
