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

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

import torch

METHODS = ("gram64", "gram32", "svd")
#: Eigenvalue solvers of the Gram matrices: ``lapack`` is ``torch.linalg.eigvalsh`` (LAPACK
#: on the CPU, cuSOLVER's ``syevd`` on CUDA, one matrix at a time); ``batched`` is
#: ``linalg/tridiag.py`` (every matrix of a size in lock step, CUDA-graphed, then Triton
#: bisection), the CUDA default when Triton is installed.
SOLVERS = ("lapack", "batched")
#: CUDA streams that eigenvalue problems are spread over (see :func:`eigvalsh_batched`)
CUDA_STREAMS = 8


def default_method(device: str | torch.device | None) -> str:
    """``gram64`` on CPU, ``gram32`` on CUDA (see the module docstring for their accuracy)."""
    return "gram32" if torch.device(device or "cpu").type == "cuda" else "gram64"


def default_solver(device: str | torch.device | None) -> str:
    """``batched`` on CUDA where Triton is installed, else ``lapack``."""
    from ckptscope.linalg.tridiag import _has_triton

    return "batched" if torch.device(device or "cpu").type == "cuda" and _has_triton() else "lapack"


def _check(mats: torch.Tensor, method: str | None, device: str | torch.device | None) -> str:
    if mats.ndim != 3:
        raise ValueError(f"expected a (batch, m, n) tensor, got shape {tuple(mats.shape)}")
    method = method or default_method(device)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; methods: {', '.join(METHODS)}")
    return method


def nonfinite_counts(mats: torch.Tensor) -> torch.Tensor:
    """Number of NaN/Inf elements in each matrix of ``(b, ...)``: ``(b,)`` int64 on the CPU.

    Eigenvalue and SVD routines fail on such matrices ("failed to converge"); callers skip
    the matrices with a nonzero count and record it (``analyses/spectra.py``).
    """
    return (~torch.isfinite(mats)).reshape(mats.shape[0], -1).sum(dim=1).cpu()


def _require_finite(mats: torch.Tensor) -> None:
    bad = nonfinite_counts(mats).nonzero().flatten().tolist()
    if bad:
        raise ValueError(
            f"matrices {bad[:5]} of a {tuple(mats.shape)} batch hold NaN or Inf; "
            "singular values are undefined (skip them: see nonfinite_counts)"
        )


def singular_values_batched(
    mats: torch.Tensor,
    method: str | None = None,
    device: str | torch.device | None = None,
    streams: int | None = None,
    solver: str | None = None,
) -> torch.Tensor:
    """Singular values of each matrix of ``mats`` ``(b, m, n)``, ``(b, min(m, n))`` descending.

    Returned in float64 on the CPU whatever the method and device. ``streams`` and
    ``solver``: see :func:`eigvalsh_batched`.
    """
    return singular_values_stacks([mats], method, device, streams, solver)[0]


def singular_values_stacks(
    stacks: Iterable[torch.Tensor],
    method: str | None = None,
    device: str | torch.device | None = None,
    streams: int | None = None,
    solver: str | None = None,
) -> list[torch.Tensor]:
    """Singular values of each ``(b_i, m_i, n_i)`` stack, as :func:`singular_values_batched`.

    ``stacks`` may be a generator: each stack is reduced to its Gram matrices as it comes and
    can be dropped before the next one is made. On the CPU each stack's eigenvalue problems
    are solved at once (Grams in float64 of a large model would not fit in memory together);
    on CUDA every Gram of the same size, across stacks, goes into one :func:`eigvalsh_batched`
    call (see its ``solver``). Measured on one H200
    (benchmarks/NOTES.md), every matrix of a Pythia-1.4b-shaped checkpoint: 0.745 s with the
    ``batched`` solver (the CUDA default), 2.00 s with cuSOLVER over 8 streams and 2.57 s one
    stack at a time on one stream; batched fp32 ``svdvals`` took 17.1 s.
    """
    dev = torch.device(device or "cpu")
    defer = dev.type == "cuda"
    out: list[torch.Tensor | None] = []
    pending: dict[tuple[int, torch.dtype], list[tuple[int, torch.Tensor]]] = {}
    for i, mats in enumerate(stacks):
        method_i = _check(mats, method, device)
        _require_finite(mats)
        out.append(None)
        if method_i == "svd":
            out[i] = torch.linalg.svdvals(mats.to(dev, torch.float64)).cpu()
            continue
        g = gram(mats, torch.float64 if method_i == "gram64" else torch.float32, dev)
        if defer:
            pending.setdefault((g.shape[-1], g.dtype), []).append((i, g))
        else:
            out[i] = _to_singular(eigvalsh_batched(g, streams, solver))
    for items in pending.values():
        index = [i for i, _ in items]
        sizes = [g.shape[0] for _, g in items]
        grams = torch.cat([g for _, g in items]) if len(items) > 1 else items[0][1]
        items.clear()  # keep only the concatenated copy
        s = _to_singular(eigvalsh_batched(grams, streams, solver))
        for i, part in zip(index, s.split(sizes), strict=True):
            out[i] = part
    return [s for s in out if s is not None]


def _to_singular(lam: torch.Tensor) -> torch.Tensor:
    """Ascending Gram eigenvalues -> descending singular values, float64 on the CPU."""
    return lam.clamp_min(0).sqrt().flip(-1).to("cpu", torch.float64)


def eigvalsh_batched(
    grams: torch.Tensor, streams: int | None = None, solver: str | None = None
) -> torch.Tensor:
    """Eigenvalues (ascending) of each symmetric matrix of ``grams`` ``(b, r, r)``.

    ``solver`` (default :func:`default_solver`): ``batched`` reduces every matrix to
    tridiagonal form together and bisects in float64 (``linalg/tridiag.py``); the result is
    float64, on the device with Triton on CUDA, else on the CPU. ``lapack``: on CUDA the batch is split over ``streams`` CUDA
    streams (default :data:`CUDA_STREAMS`), each driven by its own host thread, so that
    several cuSOLVER calls run at once; results are the same as one ``torch.linalg.eigvalsh``
    call's (each matrix is solved alone either way). On the CPU, or with ``streams=1``, it is
    ``torch.linalg.eigvalsh``.
    """
    solver = solver or default_solver(grams.device)
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; solvers: {', '.join(SOLVERS)}")
    if solver == "batched":
        from ckptscope.linalg.tridiag import eigvalsh_tridiag

        return eigvalsh_tridiag(grams)
    n = CUDA_STREAMS if streams is None else streams
    b = grams.shape[0]
    if grams.device.type != "cuda" or n <= 1 or b < 2:
        return torch.linalg.eigvalsh(grams)
    spans = [(int(c[0]), int(c[-1]) + 1) for c in torch.arange(b).tensor_split(min(n, b))]
    out = torch.empty(grams.shape[:-1], dtype=grams.dtype, device=grams.device)
    main = torch.cuda.current_stream(grams.device)
    side = [torch.cuda.Stream(grams.device) for _ in spans]

    def solve(k: int) -> None:
        lo, hi = spans[k]
        with torch.cuda.device(grams.device), torch.cuda.stream(side[k]):
            side[k].wait_stream(main)  # grams are ready
            out[lo:hi] = torch.linalg.eigvalsh(grams[lo:hi])

    with ThreadPoolExecutor(len(spans)) as pool:
        list(pool.map(solve, range(len(spans))))
    for stream in side:
        main.wait_stream(stream)
    return out


def gram(
    mats: torch.Tensor,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
    chunk_bytes: int | None = None,
) -> torch.Tensor:
    """Gram matrix of the smaller side of each ``(b, m, n)`` matrix: ``(b, r, r)``, r = min(m, n).

    Moved to ``device`` in its stored dtype, then accumulated over slices of the long side so
    that the upcast copy stays under ``chunk_bytes`` (default 128 MiB on the CPU, 1 GiB on
    CUDA; a 50k-row embedding is never copied whole to float64).
    """
    dev = torch.device(device or "cpu")
    if chunk_bytes is None:
        chunk_bytes = 2**30 if dev.type == "cuda" else 128 * 2**20
    w = mats.to(dev)
    w = w if w.shape[1] >= w.shape[2] else w.mT  # (b, long, r)
    b, long, r = w.shape
    if w.dtype == dtype:
        return w.mT @ w
    out = torch.zeros(b, r, r, dtype=dtype, device=dev)
    step = max(1, chunk_bytes // (b * r * torch.finfo(dtype).bits // 8))
    for lo in range(0, long, step):
        part = w[:, lo : lo + step].to(dtype)  # (b, rows, r)
        out += part.mT @ part
    return out


def singular_values_grouped(
    mats: Sequence[torch.Tensor],
    method: str | None = None,
    device: str | torch.device | None = None,
    streams: int | None = None,
) -> list[torch.Tensor]:
    """Singular values of matrices of any shapes: same-shaped ones go in one batched call."""
    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, m in enumerate(mats):
        by_shape.setdefault((m.shape[0], m.shape[1]), []).append(i)
    stacks = (torch.stack([mats[i] for i in idx]) for idx in by_shape.values())
    out: list[torch.Tensor | None] = [None] * len(mats)
    for idx, s in zip(
        by_shape.values(), singular_values_stacks(stacks, method, device, streams), strict=True
    ):
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
    _require_finite(left)
    _require_finite(right)
    r_left = torch.linalg.qr(left.to(dev, torch.float64)).R  # (b, r, r)
    r_right = torch.linalg.qr(right.mT.to(dev, torch.float64)).R  # (b, r, r)
    return torch.linalg.svdvals(r_left @ r_right.mT).cpu()


def product_left_vectors(
    left: torch.Tensor, right: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Left singular vectors ``(b, m, r)`` and values ``(b, r)`` of ``left @ right``, in float64.

    Same factorisation as :func:`product_singular_values`; columns sorted by value descending.
    """
    _require_finite(left)
    _require_finite(right)
    q_left, r_left = torch.linalg.qr(left.to(torch.float64))  # (b, m, r), (b, r, r)
    r_right = torch.linalg.qr(right.mT.to(torch.float64)).R
    u_small, s, _ = torch.linalg.svd(r_left @ r_right.mT)
    return q_left @ u_small, s
