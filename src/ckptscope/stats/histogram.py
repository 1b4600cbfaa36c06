"""Histograms on one universal fixed grid, display rebinning, and fixed-probability quantiles.

Every tensor of every step is counted on the same bins, so animation frames compare and
histograms of several tensors (blocks, batches) simply add. The grid does not need the
range in advance: edges are ``x = s * sinh(u)`` with ``u`` uniform, which is linear
(absolute width ``s * du``) for ``|x| << s`` and logarithmic (relative width ``du``) for
``|x| >> s``. With the defaults, ``s = 1e-7``, magnitudes up to ``1e5``, 2000 bins: each bin
spans about 2.9% of its value wherever ``|x| > 1e-6``. Values beyond ``±x_max`` are counted
in the outermost bins; NaN and Inf are never counted (callers report how many they dropped).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class UniversalGrid:
    """Symmetric asinh-spaced bin edges ``scale * sinh(u)``, ``u`` uniform on ``[-u_max, u_max]``."""

    scale: float = 1e-7  # below this magnitude the bins are linear
    x_max: float = 1e5  # the largest magnitude with its own bins
    n_bins: int = 2000  # even, so that 0 is an edge

    def __post_init__(self) -> None:
        if self.n_bins < 2 or self.n_bins % 2:
            raise ValueError(f"n_bins must be even and >= 2, got {self.n_bins}")
        if not (0 < self.scale < self.x_max):
            raise ValueError(f"need 0 < scale < x_max, got {self.scale}, {self.x_max}")

    @property
    def u_max(self) -> float:
        return float(np.arcsinh(self.x_max / self.scale))

    @property
    def du(self) -> float:
        return 2 * self.u_max / self.n_bins

    @property
    def relative_resolution(self) -> float:
        """Relative width of a bin for ``|x| >> scale``: ``exp(du) - 1``."""
        return float(np.expm1(self.du))

    @cached_property
    def edges(self) -> np.ndarray:
        """The ``n_bins + 1`` edges, exactly antisymmetric with an edge at 0."""
        u = np.linspace(-self.u_max, self.u_max, self.n_bins + 1)
        edges = self.scale * np.sinh(u)
        edges[self.n_bins // 2] = 0.0
        half = edges[self.n_bins // 2 + 1 :]
        edges[: self.n_bins // 2] = -half[::-1]
        return edges

    @cached_property
    def centers(self) -> np.ndarray:
        """Bin centres (midpoints in ``u``)."""
        u = np.linspace(-self.u_max, self.u_max, self.n_bins + 1)
        return self.scale * np.sinh(0.5 * (u[1:] + u[:-1]))

    def index(self, values: np.ndarray) -> np.ndarray:
        """The bin of each finite value; out-of-range values go to the outermost bins."""
        # float64: x / scale reaches 1e12, where float32 asinh would blur neighbouring bins.
        u = np.arcsinh(np.asarray(values, dtype=np.float64) / self.scale)
        idx = np.floor((u + self.u_max) / self.du).astype(np.int64)
        return np.clip(idx, 0, self.n_bins - 1)

    def to_json(self) -> str:
        """The grid as the ``meta`` of a stored histogram."""
        return json.dumps(
            {"grid": "asinh", "scale": self.scale, "x_max": self.x_max, "n_bins": self.n_bins},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, meta: str | None) -> UniversalGrid:
        """The grid described by a stored histogram's ``meta`` (the default when empty)."""
        if not meta:
            return cls()
        spec = json.loads(meta)
        return cls(scale=spec["scale"], x_max=spec["x_max"], n_bins=spec["n_bins"])


UNIVERSAL_GRID = UniversalGrid()


def histogram(values: np.ndarray, grid: UniversalGrid = UNIVERSAL_GRID) -> np.ndarray:
    """Counts (float64, ``grid.n_bins``) of the finite entries of ``values`` on ``grid``.

    ``values`` may also be a torch tensor on any device: see :func:`tensor_counts`.
    """
    return _counts(values, grid)[0]


def _counts(values: Any, grid: UniversalGrid) -> tuple[np.ndarray, int]:
    """Counts (float64) of the finite entries of an array or tensor, and the others' number."""
    if _is_tensor(values):
        return tensor_counts(values, grid)
    flat = np.asarray(values).ravel()
    kept = flat[np.isfinite(flat)]
    counts = np.bincount(grid.index(kept), minlength=grid.n_bins).astype(np.float64)
    return counts, int(flat.size - kept.size)


#: elements binned at a time on an accelerator (float64 temporaries: 128 MiB each)
DEVICE_CHUNK = 1 << 24


def tensor_counts(
    t: Any, grid: UniversalGrid = UNIVERSAL_GRID, force_device_path: bool = False
) -> tuple[np.ndarray, int]:
    """Counts of the finite entries of a torch tensor and its non-finite count.

    A CPU tensor goes through NumPy (:meth:`UniversalGrid.index`). A tensor on an
    accelerator is binned where it is, by the same formula in float64 with torch
    (``asinh``, ``floor``, ``bincount``) over chunks of :data:`DEVICE_CHUNK`, and only the
    counts come back: the gradients of a Pythia-1.4b-shaped model (1.4e9 values) took most
    of a 40 s checkpoint on an H200 through the host. ``force_device_path`` runs the torch
    path on a CPU tensor (tests compare the two).
    """
    import torch

    flat = t.detach().reshape(-1)
    if flat.device.type == "cpu" and not force_device_path:
        return _counts(flat.float().numpy() if flat.dtype != torch.float64 else flat.numpy(), grid)
    counts = torch.zeros(grid.n_bins, dtype=torch.int64, device=flat.device)
    bad = torch.zeros((), dtype=torch.int64, device=flat.device)
    for lo in range(0, flat.numel(), DEVICE_CHUNK):
        x = flat[lo : lo + DEVICE_CHUNK]
        x = x.to(torch.float64) if x.dtype == torch.float64 else x.float().double()
        finite = torch.isfinite(x)
        bad += finite.numel() - finite.sum()
        u = torch.asinh(x[finite] / grid.scale)
        idx = torch.floor((u + grid.u_max) / grid.du).clamp_(0, grid.n_bins - 1).long()
        counts += torch.bincount(idx, minlength=grid.n_bins)
    return counts.cpu().numpy().astype(np.float64), int(bad)


def _is_tensor(values: Any) -> bool:
    """Whether ``values`` is a torch tensor, without importing torch when it is not loaded."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(values, torch.Tensor)


class HistogramAccumulator:
    """Streaming histogram: ``update`` with any number of tensors, ``compute`` the counts."""

    def __init__(self, grid: UniversalGrid = UNIVERSAL_GRID) -> None:
        self.grid = grid
        self.counts = np.zeros(grid.n_bins, dtype=np.float64)
        self.n_nonfinite = 0

    def update(self, values: np.ndarray) -> None:
        """Add the finite entries of ``values``; non-finite ones are only counted.

        ``values`` may be a torch tensor on any device (binned there: :func:`tensor_counts`).
        """
        counts, bad = _counts(values, self.grid)
        self.counts += counts
        self.n_nonfinite += bad

    def compute(self) -> np.ndarray:
        """The counts so far (a copy)."""
        return self.counts.copy()


def occupied_range(
    counts: np.ndarray | list[np.ndarray], grid: UniversalGrid = UNIVERSAL_GRID
) -> tuple[float, float]:
    """``(lo, hi)``: outer edges of the outermost non-empty bins over one or more histograms."""
    total = np.sum(np.atleast_2d(np.asarray(counts, dtype=np.float64)), axis=0)
    nz = np.flatnonzero(total > 0)
    if nz.size == 0:
        raise ValueError("every histogram is empty; no range to display")
    return float(grid.edges[nz[0]]), float(grid.edges[nz[-1] + 1])


def display_edges(
    counts: np.ndarray | list[np.ndarray],
    grid: UniversalGrid = UNIVERSAL_GRID,
    n_bins: int = 101,
    symmetric: bool = True,
) -> np.ndarray:
    """Linear display edges spanning every non-empty bin of the given histograms (all steps)."""
    lo, hi = occupied_range(counts, grid)
    if symmetric:
        hi = max(abs(lo), abs(hi))
        lo = -hi
    if hi <= lo:  # a single non-empty bin: widen it so the edges are increasing
        hi, lo = hi + grid.scale, lo - grid.scale
    return np.linspace(lo, hi, n_bins + 1)


def rebin(
    counts: np.ndarray, new_edges: np.ndarray, grid: UniversalGrid = UNIVERSAL_GRID
) -> np.ndarray:
    """Counts on ``new_edges``, spreading each universal bin uniformly over its width.

    Counts outside ``new_edges`` are dropped; the total is preserved when the new edges
    cover every non-empty bin.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape[-1] != grid.n_bins:
        raise ValueError(f"counts have {counts.shape[-1]} bins, grid has {grid.n_bins}")
    new_edges = np.asarray(new_edges, dtype=np.float64)
    if new_edges.ndim != 1 or new_edges.size < 2 or np.any(np.diff(new_edges) <= 0):
        raise ValueError("new_edges must be a strictly increasing 1-D array of >= 2 edges")
    # Cumulative count at every new edge, linear interpolation inside a universal bin.
    cum = np.concatenate([np.zeros((*counts.shape[:-1], 1)), np.cumsum(counts, axis=-1)], -1)
    at = np.apply_along_axis(lambda c: np.interp(new_edges, grid.edges, c), -1, cum)
    return np.diff(at, axis=-1)


def pool_histograms(
    frame: pd.DataFrame, by: tuple[str, ...] = ("model", "step", "component")
) -> pd.DataFrame:
    """Sum histogram rows (e.g. over blocks) within groups of ``by``; one row per group.

    ``frame`` has the columns of ``Store.arrays(kind="hist")``; every row's ``meta`` must
    name the same grid, or the sum would be meaningless.
    """
    import pandas as pd  # imported here: binning (a sweep's hot path) needs no pandas

    if frame.empty:
        return pd.DataFrame(columns=[*by, "values", "meta", "n_pooled"])
    metas = set(frame["meta"].fillna(""))
    grids = {UniversalGrid.from_json(m) for m in metas}
    if len(grids) > 1:
        raise ValueError(f"histograms on different grids cannot be pooled: {sorted(metas)}")
    rows = []
    for key, group in frame.groupby(list(by), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        total = np.sum(np.stack([np.asarray(v, dtype=np.float64) for v in group["values"]]), 0)
        rows.append(
            {
                **dict(zip(by, key, strict=True)),
                "values": total,
                "meta": group["meta"].iloc[0],
                "n_pooled": len(group),
            }
        )
    return pd.DataFrame(rows)


# -- quantiles -------------------------------------------------------------------------

#: 199 probabilities, uniform in logit between 1e-6 and 1 - 1e-6: dense in the tails,
#: where QQ plots tell families apart, and symmetric (``p[i] + p[-1 - i] == 1``).
QUANTILE_LOGIT_MAX = float(np.log((1 - 1e-6) / 1e-6))
QUANTILE_PROBS: np.ndarray = 1.0 / (
    1.0 + np.exp(-np.linspace(-QUANTILE_LOGIT_MAX, QUANTILE_LOGIT_MAX, 199))
)
QUANTILE_PROBS[99] = 0.5
QUANTILE_PROBS.setflags(write=False)  # a shared default argument: never mutated
#: Above this many finite values, quantiles are taken on a seeded uniform subsample.
MAX_QUANTILE_SAMPLES = 1 << 22


def quantiles(
    values: np.ndarray,
    probs: np.ndarray = QUANTILE_PROBS,
    *,
    seed: int = 0,
    max_samples: int | None = MAX_QUANTILE_SAMPLES,
) -> np.ndarray:
    """Sample quantiles (linear interpolation, float64) of the finite entries of ``values``.

    Exact on the whole tensor up to ``max_samples`` finite values, else on a uniform
    subsample without replacement drawn with ``numpy.random.default_rng(seed)``.
    """
    flat = np.asarray(values).ravel()
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        raise ValueError("no finite values to take quantiles of")
    if max_samples is not None and flat.size > max_samples:
        flat = subsample(flat, max_samples, seed)
    # one sort, then numpy's default "linear" rule by hand: np.quantile partitions once per
    # probability, which is several times slower for 199 of them
    ordered = np.sort(flat).astype(np.float64)
    h = (ordered.size - 1) * np.asarray(probs, dtype=np.float64)
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, ordered.size - 1)
    return ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo])


def subsample(values: np.ndarray, max_samples: int, seed: int) -> np.ndarray:
    """A seeded uniform subsample without replacement (the same positions for the same size)."""
    if values.size <= max_samples:
        return values
    rng = np.random.default_rng(seed)
    return values[np.sort(rng.choice(values.size, size=max_samples, replace=False))]
