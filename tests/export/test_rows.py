"""Tags, safe names and stored histograms as exporters see them."""

from __future__ import annotations

import numpy as np
import pytest

from ckptscope.errors import UsageError
from ckptscope.export.rows import histogram_point, safe_name, safe_part, tag_of
from ckptscope.stats.histogram import UNIVERSAL_GRID, UniversalGrid, histogram


def test_tag_convention():
    assert tag_of("mlp_in", 3, "weight", None, "norm") == "mlp_in/3/norm"
    assert tag_of("embed", None, "weight", None, "norm") == "embed/-/norm"
    assert tag_of("ln1", 2, "bias", None, "norm") == "ln1/2/bias/norm"
    assert tag_of("q", 0, "weight", 3, "norm") == "q/0/h3/norm"
    assert tag_of("ov", 1, "circuit", 0, "alpha") == "ov/1/circuit/h0/alpha"
    assert tag_of("resid", float("nan"), "", float("nan"), "hist") == "resid/-/hist"


def test_unsafe_parts_cannot_add_levels_or_controls():
    assert tag_of("a/b", 0, "../..", None, "x\ny\t\x00") == "a_b/0/.._../x_y__"
    assert safe_part("..") == "_" and safe_part("") == "_" and safe_part("ok-1.5") == "ok-1.5"
    assert safe_name("../evil", "model") == ".._evil"
    for bad in ("..", ".", "", "x" * 201):
        with pytest.raises(UsageError, match="cannot name a run folder"):
            safe_name(bad, "model")


def test_histogram_point_is_the_stored_bins():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.1, 1000)
    counts = histogram(x)
    p = histogram_point("t", counts, UNIVERSAL_GRID.to_json(), "here")
    assert p is not None
    nz = np.flatnonzero(counts)
    np.testing.assert_array_equal(p.edges, UNIVERSAL_GRID.edges[nz[0] : nz[-1] + 2])
    np.testing.assert_array_equal(p.counts, counts[nz[0] : nz[-1] + 1])
    assert p.num == 1000
    # sum and sum of squares at bin centres (asinh midpoints): within a bin's 3% of the sample's
    np.testing.assert_allclose(p.sum_squares, np.sum(x.astype(np.float64) ** 2), rtol=0.03)
    centers = UNIVERSAL_GRID.centers
    assert p.sum == pytest.approx(float(np.sum(counts * centers)), rel=1e-12)
    assert histogram_point("t", np.zeros(UNIVERSAL_GRID.n_bins), None, "here") is None
    small = UniversalGrid(scale=1e-3, x_max=10.0, n_bins=20)
    q = histogram_point("t", histogram(x, small), small.to_json(), "here")
    assert q is not None and q.edges[0] >= small.edges[0] and q.num == 1000


@pytest.mark.parametrize(
    ("counts", "meta", "match"),
    [
        (np.ones(2000), "{not json", "bad grid"),
        (np.ones(2000), '{"grid": "linear"}', "bad grid"),
        (np.ones(2000), '{"grid": "asinh", "scale": 1, "x_max": 0.5, "n_bins": 4}', "bad grid"),
        (np.ones(7), None, "has shape"),
        (-np.ones(2000), None, "negative or non-finite"),
        (np.full(2000, np.nan), None, "negative or non-finite"),
    ],
)
def test_hostile_histograms_are_refused(counts, meta, match):
    with pytest.raises(UsageError, match=match) as err:
        histogram_point("w/0/hist", counts, meta, "suite 's' model 'm' step 3")
    assert str(err.value).startswith("suite 's' model 'm' step 3: histogram 'w/0/hist'")
