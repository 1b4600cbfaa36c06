"""Stored tensors read without torch: a flat NumPy array of the elements, with the dtype.

A weights-only sweep reads every tensor of a safetensors checkpoint into one of these and
hands it to the fused NumPy/numba kernels (``stats/fused.py``), so that it never imports
torch (1.5-1.8 s of a 6 s sweep on this project's 2-core machine; benchmarks/NOTES.md).
Anything else converts it with :meth:`HostTensor.to_torch`, which shares the memory.

NumPy has no bfloat16 and no float8 types: such elements are held as their raw bits
(``uint16``, ``uint8``) and ``dtype`` says what the bits mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

#: dtype name (torch's, without the prefix) -> the NumPy dtype the elements are held in
NUMPY_DTYPES: dict[str, type[np.generic]] = {
    "float64": np.float64,
    "float32": np.float32,
    "float16": np.float16,
    "bfloat16": np.uint16,  # bits
    "float8_e4m3fn": np.uint8,  # bits
    "float8_e5m2": np.uint8,  # bits
    "int64": np.int64,
    "int32": np.int32,
    "int16": np.int16,
    "int8": np.int8,
    "uint8": np.uint8,
    "bool": np.bool_,
}
#: dtype name -> bytes per element
ITEMSIZE: dict[str, int] = {name: np.dtype(t).itemsize for name, t in NUMPY_DTYPES.items()}


@dataclass(frozen=True, eq=False)
class HostTensor:
    """One tensor in host memory: ``data`` holds its elements flat, in row-major order."""

    data: np.ndarray  # 1-D, contiguous, of NUMPY_DTYPES[dtype]
    dtype: str  # "float16", "bfloat16", "float32", ... (torch's names)
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        want = NUMPY_DTYPES.get(self.dtype)
        if want is None:
            raise ValueError(f"unsupported dtype {self.dtype!r}")
        if self.data.ndim != 1 or self.data.dtype != want or not self.data.flags.c_contiguous:
            raise ValueError(
                f"data must be a contiguous 1-D {np.dtype(want).name} array for {self.dtype}, "
                f"got {self.data.ndim}-D {self.data.dtype}"
            )
        if self.data.size != math.prod(self.shape):
            raise ValueError(f"{self.data.size} elements for shape {self.shape}")

    @classmethod
    def from_buffer(cls, buf: np.ndarray, dtype: str, shape: tuple[int, ...]) -> HostTensor:
        """A tensor over the bytes of ``buf`` (a ``uint8`` array; no copy).

        Safetensors data is little-endian, as is every platform ckptscope runs on.
        """
        if dtype not in NUMPY_DTYPES:
            raise ValueError(f"unsupported dtype {dtype!r}")
        return cls(buf.view(NUMPY_DTYPES[dtype]), dtype, tuple(shape))

    @classmethod
    def from_torch(cls, tensor: torch.Tensor) -> HostTensor:
        """A CPU copy (or view, where it already is one) of a torch tensor's elements."""
        import torch

        t = tensor.detach().to("cpu").contiguous().reshape(-1)
        dtype = str(t.dtype).removeprefix("torch.")
        if dtype not in NUMPY_DTYPES:
            raise ValueError(f"unsupported dtype {dtype!r}")
        if dtype.startswith(("bfloat16", "float8")):
            t = t.view(torch.int16 if t.element_size() == 2 else torch.uint8)
        data = t.numpy().view(NUMPY_DTYPES[dtype])
        return cls(data, dtype, tuple(tensor.shape))

    @property
    def numel(self) -> int:
        return int(self.data.size)

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    def to_torch(self) -> torch.Tensor:
        """The same memory as a torch tensor of ``dtype`` and ``shape`` (no copy)."""
        import torch

        data = self.data
        if data.dtype == np.uint16:  # torch views int16 bits as bfloat16, not uint16
            data = data.view(np.int16)
        t = torch.from_numpy(data)
        target = getattr(torch, self.dtype)
        if t.dtype != target:
            t = t.view(target)
        return t.reshape(self.shape)
