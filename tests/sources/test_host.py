"""HostTensor: stored elements in NumPy, bit for bit what torch holds, for every dtype."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ckptscope.sources.host import ITEMSIZE, NUMPY_DTYPES, HostTensor

DTYPES = list(NUMPY_DTYPES)


def _sample(dtype: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, generator=g) * 3
    if dtype == "bool":
        return x > 0
    return x.to(getattr(torch, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_from_torch_and_back_is_bit_exact(dtype: str) -> None:
    t = _sample(dtype)
    host = HostTensor.from_torch(t)
    assert host.dtype == dtype and host.shape == (6, 5) and host.numel == 30
    assert host.nbytes == 30 * ITEMSIZE[dtype] == 30 * t.element_size()
    back = host.to_torch()
    assert back.dtype == t.dtype and back.shape == t.shape
    assert torch.equal(back.view(torch.uint8), t.view(torch.uint8))  # the same bits


@pytest.mark.parametrize("dtype", DTYPES)
def test_from_buffer_reads_the_stored_bytes(dtype: str) -> None:
    """The bytes safetensors stores (little-endian, row-major) give the same tensor."""
    t = _sample(dtype)
    raw = np.frombuffer(t.contiguous().view(torch.uint8).numpy().tobytes(), np.uint8).copy()
    host = HostTensor.from_buffer(raw, dtype, (6, 5))
    assert np.shares_memory(host.data, raw)  # a view, no copy
    assert torch.equal(host.to_torch().view(torch.uint8), t.view(torch.uint8))


def test_numpy_sees_the_values_where_it_has_the_type() -> None:
    t = torch.tensor([1.5, -2.0, 65504.0], dtype=torch.float16)
    np.testing.assert_array_equal(HostTensor.from_torch(t).data, t.numpy())
    b = torch.tensor([1.5, -2.0], dtype=torch.bfloat16)  # NumPy has no bfloat16: the bits
    bits = HostTensor.from_torch(b).data
    assert bits.dtype == np.uint16
    widened = (bits.astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_array_equal(widened, [1.5, -2.0])


def test_to_torch_shares_memory() -> None:
    host = HostTensor.from_torch(torch.zeros(4, dtype=torch.bfloat16))
    host.to_torch()[1] = 3.0
    assert host.data[1] != 0


def test_bad_arrays_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported dtype 'complex64'"):
        HostTensor(np.zeros(2, np.complex64), "complex64", (2,))
    with pytest.raises(ValueError, match="contiguous 1-D uint16 array for bfloat16"):
        HostTensor(np.zeros(2, np.float32), "bfloat16", (2,))
    with pytest.raises(ValueError, match="contiguous 1-D"):
        HostTensor(np.zeros((2, 2), np.float32), "float32", (2, 2))
    with pytest.raises(ValueError, match="contiguous 1-D"):
        HostTensor(np.zeros(8, np.float32)[::2], "float32", (4,))
    with pytest.raises(ValueError, match="4 elements for shape"):
        HostTensor(np.zeros(4, np.float32), "float32", (2, 3))
    with pytest.raises(ValueError):  # 6 bytes are not a whole number of float32s
        HostTensor.from_buffer(np.zeros(6, np.uint8), "float32", (1,))
