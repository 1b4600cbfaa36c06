"""Seed bands are drawn one way: the experiments' panels, line figures and the comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection

from ckptscope.plots import bands, compare, lines
from ckptscope.plots.style import panels


def _fills(ax) -> list[PolyCollection]:
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def test_one_band_drawer() -> None:
    assert lines.draw_band is bands.draw_band and compare.draw_band is bands.draw_band
    rows = pd.DataFrame({"init": "standard", "step": [0, 10, 20], "mean": [3.0, 2.0, 1.0],
                         "lo": [2.5, 1.5, 0.8], "hi": [3.5, 2.5, 1.1]})  # fmt: skip
    fig = bands.band_panels([("loss", "nats", rows)])
    (fill,) = _fills(fig.axes[0])
    _, ax = panels(1, 1)
    bands.draw_band(ax[0][0], rows, "C0")
    (same,) = _fills(ax[0][0])
    assert fill.get_alpha() == same.get_alpha() == bands.BAND_ALPHA
    np.testing.assert_allclose(fill.get_paths()[0].vertices, same.get_paths()[0].vertices)
    ys = fill.get_paths()[0].vertices[:, 1]
    assert ys.min() == 0.8 and ys.max() == 3.5
    _, ax = panels(1, 1)
    bands.draw_band(ax[0][0], rows.assign(lo=np.nan, hi=np.nan), "C0")  # one seed: no band
    assert not _fills(ax[0][0])
