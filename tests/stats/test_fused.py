"""The numba kernels' own contracts (their moments are tested in test_moments.py)."""

import numpy as np
import pytest
import torch

from ckptscope.stats import fused

pytestmark = pytest.mark.skipif(not fused.available(), reason="numba not installed")


def test_every_fp16_and_bf16_bit_pattern_widens_exactly():
    """All 65,536 patterns: every non-NaN one (subnormals, signed zeros, inf included) bit
    for bit as NumPy widens fp16 and torch widens bf16; fp16 NaNs stay NaN (the CPU's
    conversion quietens a signalling one)."""
    kernels = fused._kernels()
    bits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    out = np.empty(bits.size, np.float32)
    fp16 = kernels.widen(bits, kernels.FLOAT16, out)
    expected16 = bits.view(np.float16).astype(np.float32)
    nan = np.isnan(expected16)
    assert nan.sum() == 2 * 1023  # the test covers every NaN pattern
    np.testing.assert_array_equal(fp16[~nan].view(np.uint32), expected16[~nan].view(np.uint32))
    assert np.isnan(fp16[nan]).all()
    assert (np.signbit(fp16) == np.signbit(expected16)).all()
    bf16 = kernels.widen(bits, kernels.BFLOAT16, out)
    expected = torch.from_numpy(bits.view(np.int16)).view(torch.bfloat16).float().numpy()
    np.testing.assert_array_equal(bf16.view(np.uint32), expected.view(np.uint32))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_chunk_rows_match_a_naive_float64_loop(dtype):
    """Each chunk's (n, mean, M2, M3, M4) and the distance sums, against float64 NumPy."""
    g = torch.Generator().manual_seed(0)
    t = (torch.randn(10_007, generator=g) * 0.3 + 0.1).to(dtype)
    r = torch.randn(10_007, generator=g).to(dtype)
    rows, max_abs, nonfinite, pairs = fused.span_rows_and_distances(t, (r,), 0, t.numel(), 1000)
    x, y = t.double().numpy(), r.double().numpy()
    assert rows.shape == (11, 5) and nonfinite == 0 and max_abs == np.abs(x).max()
    for c, row in enumerate(rows):
        v = x[c * 1000 : (c + 1) * 1000]
        d = v - v.mean()
        naive = [v.size, v.mean(), (d**2).sum(), (d**3).sum(), (d**4).sum()]
        np.testing.assert_allclose(row, naive, rtol=1e-11, atol=1e-13)
    assert pairs[0][0] == pytest.approx(((x - y) ** 2).sum(), rel=1e-12)
    assert pairs[0][1] == pytest.approx((y**2).sum(), rel=1e-12)


def test_more_than_two_references_are_refused():
    t = torch.zeros(10)
    with pytest.raises(ValueError, match="at most 2 references"):
        fused.span_rows_and_distances(t, (t, t, t), 0, 10, 4)


def test_the_integer_fp16_decoder_widens_every_pattern_exactly():
    """The decoder used where the CPU has no fp16 conversion (x86 without F16C)."""
    import numba

    kernels = fused._kernels()

    @numba.njit
    def decode(bits, out):
        for i in range(bits.size):
            out[i] = kernels._decode_half(bits[i])

    bits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    out = np.empty(bits.size, np.float32)
    decode(bits, out)
    expected = bits.view(np.float16).astype(np.float32)
    np.testing.assert_array_equal(out.view(np.uint32), expected.view(np.uint32))


def test_a_chunk_with_nan_is_redone_within_its_span():
    """A span ending inside a chunk that holds a NaN: the redo stays in the span."""
    t = torch.arange(3000, dtype=torch.float32)
    t[1200] = float("nan")
    rows, max_abs, nonfinite, _ = fused.span_rows_and_distances(t, (), 0, 1500, 1000)
    assert nonfinite == 1 and max_abs == 1499.0
    assert rows[:, 0].tolist() == [1000, 499]
    x = np.delete(np.arange(1000, 1500, dtype=np.float64), 200)
    assert rows[1, 1] == pytest.approx(x.mean(), rel=1e-15)


def test_spans_beyond_a_tensor_are_refused():
    """The kernel reads without bounds checks: a span past the end of the tensor or of a
    shorter reference is an error, never a read out of bounds."""
    t = torch.zeros(10)
    with pytest.raises(ValueError, match="beyond a tensor of 5"):
        fused.span_rows_and_distances(t, (torch.zeros(5),), 0, 10, 4)
    with pytest.raises(ValueError, match="beyond a tensor of 10"):
        fused.span_rows_and_distances(t, (), 0, 12, 4)
