"""Singular values of many matrices at once, with a stated accuracy.

Methods of :func:`singular_values_batched` (``mats`` is ``(b, m, n)``, ``r = min(m, n)``):

``"gram64"`` (CPU default)
    Eigenvalues of the Gram matrix of the smaller side (``W Wᵀ`` or ``Wᵀ W``, ``(b, r, r)``)
    formed and diagonalised in float64; ``s = sqrt(max(λ, 0))``. The products of float32
    inputs are exact in float64, so the only error is float64 rounding of the sums and of
    ``eigvalsh``: ``|Δλ| ≲ c·ε64·s_max²``, i.e. a relative error on ``s_i`` of about
    ``ε64·(s_max/s_i)²`` (ε64 = 1.1e-16). Values with ``s_i > 1e-6·s_max`` keep ~4 digits or
    better; values below ``~1e-8·s_max`` are noise (they come out as ~1e-8·s_max or 0).
    Measured against ``numpy.linalg.svd`` in float64 (``tests/linalg/test_spectra.py``,
    ``benchmarks/bench_spectra.py``): on one Pythia-160m-shaped checkpoint (random weights
    with column scales spread over two decades) max relative error 1.1e-14 on the top 100
    values and 4.1e-7 on all (the smallest values of the square 768x768 matrices, as the
    bound predicts); power-law alpha differs by 2e-12. A matrix with singular values spread
    over 1e0..1e-6: 1e-15 at the top, 1.3e-5 at 1e-6·s_max.
``"gram32"`` (CUDA default)
    The same in float32: relative error about ``ε32·(s_max/s_i)²`` (ε32 = 6e-8): ~1e-6 on
    the top of a spectrum, ~1e-3 at ``s_i = 0.01·s_max``, meaningless below ``~3e-4·s_max``.
    Good for the top of a spectrum (alpha fits use the top) and fast on a GPU; TF32 must
    stay off (torch's default ``float32_matmul_precision="highest"``).
``"svd"``
    ``torch.linalg.svdvals`` of the batch in float64: the reference, accurate to
    ``~ε64·s_max`` absolutely on every value, about 4x slower than ``gram64`` on CPU.

Timings, one Pythia-160m-shaped checkpoint (12 blocks: qkv 2304x768, dense 768x768, mlp_in
3072x768, mlp_out 768x3072; embed and unembed 50304x768), CPU seconds on one thread of a
shared 2-core Xeon (``benchmarks/bench_spectra.py --threads 1``):

==============================  =====  ========  ===========  =======  =========
method                          cpu s  speed-up  top-100 rel  all rel  |Δ alpha|
==============================  =====  ========  ===========  =======  =========
fp32 svdvals, matrix by matrix  12.8   1.0       5.3e-6       4.8e-3   5.8e-4
gram64, batched                 6.0    2.2       1.1e-14      4.1e-7   2.3e-12
gram32, batched                 2.6    5.0       6.7e-6       (60)     1.8e-3
svd fp64, batched               23.1   0.56      7.9e-15      1.8e-11  3.4e-12
==============================  =====  ========  ===========  =======  =========

OV and QK circuits of all 144 heads: forming each 768x768 product and calling fp32
``svdvals`` 16.2 s; :func:`product_singular_values` (float64, from the factors) 0.58 s (28x).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

METHODS = ("gram64", "gram32", "svd")


def default_method(device: str | torch.device | None) -> str:
    """``gram64`` on CPU, ``gram32`` on CUDA (see the module docstring for their accuracy)."""
    return "gram32" if torch.device(device or "cpu").type == "cuda" else "gram64"


def singular_values_batched(
    mats: torch.Tensor, method: str | None = None, device: str | torch.device | None = None
) -> torch.Tensor:
    """Singular values of each matrix of ``mats`` ``(b, m, n)``, ``(b, min(m, n))`` descending.

    Returned in float64 on the CPU whatever the method and device.
    """
    if mats.ndim != 3:
        raise ValueError(f"expected a (batch, m, n) tensor, got shape {tuple(mats.shape)}")
    method = method or default_method(device)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; methods: {', '.join(METHODS)}")
    dev = torch.device(device or "cpu")
    if method == "svd":
        s = torch.linalg.svdvals(mats.to(dev, torch.float64))
        return s.cpu()
    dtype = torch.float64 if method == "gram64" else torch.float32
    lam = torch.linalg.eigvalsh(gram(mats, dtype, dev))  # ascending
    s = lam.clamp_min(0).sqrt().flip(-1)
    return s.to("cpu", torch.float64)


def gram(
    mats: torch.Tensor,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
    chunk_bytes: int = 128 * 2**20,
) -> torch.Tensor:
    """Gram matrix of the smaller side of each ``(b, m, n)`` matrix: ``(b, r, r)``, r = min(m, n).

    Accumulated over slices of the long side so that the upcast copy stays under
    ``chunk_bytes`` (a 50k-row embedding is never copied whole to float64).
    """
    w = mats if mats.shape[1] >= mats.shape[2] else mats.mT  # (b, long, r)
    b, long, r = w.shape
    dev = torch.device(device or "cpu")
    out = torch.zeros(b, r, r, dtype=dtype, device=dev)
    step = max(1, chunk_bytes // (b * r * torch.finfo(dtype).bits // 8))
    for lo in range(0, long, step):
        part = w[:, lo : lo + step].to(dev, dtype)  # (b, rows, r)
        out += part.mT @ part
    return out


def singular_values_grouped(
    mats: Sequence[torch.Tensor],
    method: str | None = None,
    device: str | torch.device | None = None,
) -> list[torch.Tensor]:
    """Singular values of matrices of any shapes: same-shaped ones go in one batched call."""
    out: list[torch.Tensor | None] = [None] * len(mats)
    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, m in enumerate(mats):
        by_shape.setdefault((m.shape[0], m.shape[1]), []).append(i)
    for idx in by_shape.values():
        s = singular_values_batched(torch.stack([mats[i] for i in idx]), method, device)
        for row, i in enumerate(idx):
            out[i] = s[row]
    return [s for s in out if s is not None]


def product_singular_values(
    left: torch.Tensor, right: torch.Tensor, device: str | torch.device | None = None
) -> torch.Tensor:
    """Singular values of ``left @ right`` for ``(b, m, r)`` @ ``(b, r, n)``, ``(b, r)`` descending.

    The product has rank <= r, so only its r nonzero values exist; they are those of the small
    ``R_l R_rᵀ`` (``left = Q_l R_l``, ``rightᵀ = Q_r R_r``), computed in float64 without
    forming the ``m x n`` product: exact to float64 rounding and ``m·n/r²`` times cheaper.
    Needs ``r <= min(m, n)``.
    """
    dev = torch.device(device or "cpu")
    r_left = torch.linalg.qr(left.to(dev, torch.float64)).R  # (b, r, r)
    r_right = torch.linalg.qr(right.mT.to(dev, torch.float64)).R  # (b, r, r)
    return torch.linalg.svdvals(r_left @ r_right.mT).cpu()


def product_left_vectors(
    left: torch.Tensor, right: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Left singular vectors ``(b, m, r)`` and values ``(b, r)`` of ``left @ right``, in float64.

    Same factorisation as :func:`product_singular_values`; columns sorted by value descending.
    """
    q_left, r_left = torch.linalg.qr(left.to(torch.float64))  # (b, m, r), (b, r, r)
    r_right = torch.linalg.qr(right.mT.to(torch.float64)).R
    u_small, s, _ = torch.linalg.svd(r_left @ r_right.mT)
    return q_left @ u_small, s
