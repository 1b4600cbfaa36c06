"""Eigenvalues of many symmetric matrices at once: batched tridiagonal reduction and bisection.

cuSOLVER's ``syevd`` solves one matrix at a time and its Householder reduction issues a few
small kernels per column, so a checkpoint's 98 Gram matrices of 2048 x 2048 (Pythia-1.4b)
take about 2 s on an H200 however many CUDA streams share the work
(``benchmarks/NOTES.md``). This module solves the whole batch in lock step instead:

1. :func:`tridiagonalize`: blocked Householder reduction of every matrix of ``(b, n, n)`` to
   tridiagonal form (LAPACK's ``sytrd``/``latrd`` scheme, lower storage): per column one
   batched matrix-vector product over the trailing block, and a batched rank-``2k`` update of
   the trailing block every ``block`` columns. Each kernel works on all ``b`` matrices, so
   launches are shared by the batch and the matrix-vector products run at memory bandwidth.
   The reduction is an orthogonal similarity, backward stable in the input's precision: the
   eigenvalues move by ``O(ε·n·‖A‖)``, the same class of error as ``torch.linalg.eigvalsh``
   in that precision.
2. :func:`tridiagonal_eigvalsh`: every eigenvalue of the tridiagonal matrices, in float64.
   On CUDA a Triton kernel runs bisection on Sturm counts, one GPU thread per eigenvalue
   (``_kernel``); elsewhere, or without Triton, LAPACK's ``dsterf`` per matrix.

:func:`eigvalsh_tridiag` chains the two. ``linalg/spectra.py`` uses it as the CUDA
eigenvalue solver for the Gram matrices.
"""

from __future__ import annotations

import contextlib
import math
import threading
from typing import Any

import numpy as np
import torch

#: Columns reduced between two updates of the trailing block (``latrd``'s ``nb``)
BLOCK = 32
#: Bisection halvings: the Gershgorin interval shrinks to ``2**-ITERS`` of its width
#: (about ``1e-16`` of the spectral radius), so the float64 result is limited by the
#: reduction's own rounding, not by the bisection.
ITERS = 56


def tridiagonalize(
    a: torch.Tensor, block: int = BLOCK, overwrite: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Diagonal ``(b, n)`` and off-diagonal ``(b, n - 1)`` of ``Qᵀ A Q``, tridiagonal.

    ``a`` is ``(b, n, n)``, symmetric (both triangles are read); it is not modified unless
    ``overwrite`` (then it is the work space, and no copy is made). The
    work is done in ``a``'s dtype and device, with no host synchronisation (so that it can
    be captured in a CUDA graph: :func:`tridiagonalize_graphed`). ``Q`` is a product of
    Householder reflectors and is not formed. The signs of the off-diagonal are LAPACK's
    (only their squares matter for the eigenvalues).

    Per panel of ``block`` columns the reflectors ``v_k`` and LAPACK's ``w_k`` (``latrd``)
    are kept interleaved twice, ``x = [v_0, w_0, v_1, w_1, ...]`` and
    ``y = [w_0, v_0, w_1, v_1, ...]``, so that ``Σ_k v_k w_kᵀ + w_k v_kᵀ = x yᵀ``: every
    correction and the trailing update are one batched product each.
    """
    if a.ndim != 3 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"expected a (batch, n, n) tensor, got shape {tuple(a.shape)}")
    a = a if overwrite else a.clone()
    b, n, _ = a.shape
    diag = a.new_empty(b, n)
    off = a.new_empty(b, max(n - 1, 0))
    xs = a.new_zeros(b, n, 2 * block)
    ys = a.new_zeros(b, n, 2 * block)
    for j0 in range(0, n - 1, block):
        nb = min(block, n - 1 - j0)  # reflectors made in this panel
        t = a[:, j0:, j0:]  # the trailing block, updated for every earlier panel
        m = n - j0
        x, y = xs[:, :m, : 2 * nb], ys[:, :m, : 2 * nb]
        x.zero_()
        y.zero_()
        for i in range(nb):
            col = t[:, i:, i]
            if i:  # apply this panel's earlier reflectors to column i
                col -= (x[:, i:, : 2 * i] @ y[:, i, : 2 * i, None]).squeeze(-1)
            diag[:, j0 + i] = col[:, 0]
            v, tau, beta = _reflector(col[:, 1:])
            off[:, j0 + i] = beta
            # w = tau (T v - x (yᵀ v)), then w -= (tau/2)(wᵀv) v
            w = t[:, i + 1 :, i + 1 :] @ v[..., None]
            if i:
                w.baddbmm_(x[:, i + 1 :, : 2 * i], y[:, i + 1 :, : 2 * i].mT @ v[..., None],
                           alpha=-1)  # fmt: skip
            w = w.squeeze(-1).mul_(tau[:, None])
            w.addcmul_(v, (torch.linalg.vecdot(w, v) * tau).mul_(-0.5)[:, None])
            x[:, i + 1 :, 2 * i] = v
            x[:, i + 1 :, 2 * i + 1] = w
            y[:, i + 1 :, 2 * i] = w
            y[:, i + 1 :, 2 * i + 1] = v
        rest = t[:, nb:, nb:]  # T -= V Wᵀ + W Vᵀ on what the next panels reduce
        rest.baddbmm_(x[:, nb:], y[:, nb:].mT, alpha=-1)
    if n:
        diag[:, n - 1] = a[:, n - 1, n - 1]
    return diag, off


class _Captured:
    """One CUDA graph of :func:`tridiagonalize` for one input shape, replayed per call.

    The graph reduces its own copy of the input in place (one copy of the batch, plus the
    graph's small work space, held while the shape is kept). Capture, replay and the copy
    in and out run on the input's device and a stream of it (a graph captured while
    another GPU is current would be empty and replay nothing), and a call returns only
    once the GPU is done with the shared buffers.
    """

    def __init__(self, a: torch.Tensor, block: int) -> None:
        self.device = a.device
        self.input = a.clone()
        self.stream = torch.cuda.Stream(a.device)
        self.stream.wait_stream(torch.cuda.current_stream(a.device))
        with torch.cuda.stream(self.stream):  # warm-up outside the capture, as graphs need
            tridiagonalize(self.input, block, overwrite=True)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, stream=self.stream):
            self.output = tridiagonalize(self.input, block, overwrite=True)
        self.stream.synchronize()

    def __call__(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        caller = torch.cuda.current_stream(self.device)
        self.stream.wait_stream(caller)  # a is ready
        with torch.cuda.stream(self.stream):
            self.input.copy_(a)
            self.graph.replay()
            out = self.output[0].clone(), self.output[1].clone()
        self.stream.synchronize()  # the next call may overwrite input and output
        return out


_GRAPHS: dict[tuple, _Captured] = {}
_GRAPHS_LOCK = threading.Lock()
#: Shapes whose graphs are kept (each holds a copy of its input and the work space)
GRAPHS_KEPT = 2


def tridiagonalize_graphed(
    a: torch.Tensor, block: int = BLOCK
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`tridiagonalize` on CUDA through a CUDA graph kept per shape.

    The reduction launches about 30 small kernels per column; replaying them as one graph
    removes the host's launch cost, which is most of an eager call's time on a fast GPU. The
    first call for a shape runs eagerly once and captures (about the time of two eager
    calls); later calls of the same shape (every checkpoint of a sweep) replay. The
    ``GRAPHS_KEPT`` most recent shapes are kept, each holding one copy of its input (1.6 GB
    for the 98 float32 Grams of a 1.4b checkpoint): :func:`clear_graphs` frees them. A
    batch of another size (a matrix skipped for NaN) is another shape and is captured
    anew. Elsewhere it is :func:`tridiagonalize`.
    """
    if a.device.type != "cuda":
        return tridiagonalize(a, block)
    key = (tuple(a.shape), a.dtype, a.device, block)
    with _GRAPHS_LOCK, torch.cuda.device(a.device):  # one replay at a time: shared buffers
        captured = _GRAPHS.pop(key, None) or _Captured(a.detach(), block)
        _GRAPHS[key] = captured  # most recent last
        while len(_GRAPHS) > GRAPHS_KEPT:
            del _GRAPHS[next(iter(_GRAPHS))]
        return captured(a.detach())


def clear_graphs() -> None:
    """Free every kept CUDA graph and its buffers."""
    with _GRAPHS_LOCK:
        _GRAPHS.clear()


def _reflector(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Householder ``H = I - tau v vᵀ`` with ``H x = beta e1``, for each row of ``x`` ``(b, k)``.

    LAPACK's ``larfg`` with ``v[0] = 1``, without branches (no host synchronisation): where
    ``x`` is zero, ``alpha`` is taken as the smallest normal number, which gives
    ``tau = 2``, ``v = e1`` (a sign flip, still orthogonal) and ``beta ≈ 0``.
    """
    alpha = x[:, 0]
    tail = x[:, 1:]
    alpha = torch.where(alpha == 0, torch.finfo(x.dtype).tiny, alpha)
    beta = torch.copysign(torch.hypot(alpha, torch.linalg.vector_norm(tail, dim=-1)), alpha)
    beta = beta.neg_()
    tau = (beta - alpha).div_(beta)
    v = torch.cat([torch.ones_like(alpha)[:, None], tail / (alpha - beta)[:, None]], dim=1)
    return v, tau, beta


def tridiagonal_eigvalsh(diag: torch.Tensor, off: torch.Tensor) -> torch.Tensor:
    """Ascending eigenvalues of each symmetric tridiagonal matrix, float64 ``(b, n)``.

    On CUDA (with Triton installed) by bisection in one kernel, on the tensors' device;
    otherwise with LAPACK's ``dsterf`` on the CPU, returned on the CPU.
    """
    d = diag.to(torch.float64)
    e2 = off.to(torch.float64).square()
    if d.device.type == "cuda" and _has_triton():
        return _bisect(d, e2)
    from scipy.linalg import lapack

    d_np, e_np = d.cpu().numpy(), off.to(torch.float64).cpu().numpy()
    out = np.array(d_np)
    if out.shape[-1] < 2:
        return torch.from_numpy(out)
    for k in range(d_np.shape[0]):
        vals, info = lapack.dsterf(d_np[k], e_np[k])
        if info:
            raise ValueError(f"tridiagonal eigenvalues of matrix {k} did not converge")
        out[k] = vals
    return torch.from_numpy(out)


def eigvalsh_tridiag(a: torch.Tensor, block: int = BLOCK, graph: bool = True) -> torch.Tensor:
    """Ascending eigenvalues of each symmetric matrix of ``a`` ``(b, n, n)``, float64.

    :func:`tridiagonalize` in ``a``'s dtype (through a CUDA graph with ``graph`` on CUDA),
    then :func:`tridiagonal_eigvalsh`.
    """
    reduce = tridiagonalize_graphed if graph else tridiagonalize
    return tridiagonal_eigvalsh(*reduce(a, block))


def gershgorin(d: torch.Tensor, e2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-matrix interval ``[lo, hi]`` holding every eigenvalue, from ``d`` and ``e²``."""
    e = e2.sqrt()
    radius = torch.zeros_like(d)
    radius[:, :-1] += e
    radius[:, 1:] += e
    lo = (d - radius).amin(-1)
    hi = (d + radius).amax(-1)
    pad = 2 * torch.finfo(torch.float64).eps * torch.maximum(lo.abs(), hi.abs()) + 1e-300
    return lo - pad, hi + pad


def _has_triton() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


_KERNEL = None


def _kernel() -> Any:
    """The Triton bisection kernel, compiled on first use."""
    global _KERNEL
    if _KERNEL is None:
        import triton
        import triton.language as tl

        @triton.jit
        def bisect_kernel(d_ptr, e2_ptr, lo_ptr, hi_ptr, piv_ptr, out_ptr, N: tl.constexpr,
                          ITERS: tl.constexpr, BLOCK_J: tl.constexpr):  # fmt: skip
            mat = tl.program_id(0)
            j = tl.program_id(1) * BLOCK_J + tl.arange(0, BLOCK_J)
            base = mat.to(tl.int64) * N
            pivmin = tl.load(piv_ptr + mat)
            lo = tl.zeros([BLOCK_J], dtype=tl.float64) + tl.load(lo_ptr + mat)
            hi = tl.zeros([BLOCK_J], dtype=tl.float64) + tl.load(hi_ptr + mat)
            for _ in range(ITERS):
                x = 0.5 * (lo + hi)
                q = tl.load(d_ptr + base) - x
                q = tl.where(tl.abs(q) < pivmin, -pivmin, q)
                count = (q < 0).to(tl.int32)
                for i in range(1, N):
                    q = tl.load(d_ptr + base + i) - x - tl.load(e2_ptr + base + i - 1) / q
                    q = tl.where(tl.abs(q) < pivmin, -pivmin, q)
                    count += (q < 0).to(tl.int32)
                up = count <= j  # at most j eigenvalues below x: the j-th is at or above x
                lo = tl.where(up, x, lo)
                hi = tl.where(up, hi, x)
            tl.store(out_ptr + base + j, 0.5 * (lo + hi), mask=j < N)

        _KERNEL = bisect_kernel
    return _KERNEL


def _bisect(d: torch.Tensor, e2: torch.Tensor, iters: int = ITERS) -> torch.Tensor:
    """Bisection for every eigenvalue of each ``tridiag(d, sqrt(e2))``, on ``d``'s device."""
    import triton

    d = d.contiguous()  # the kernel indexes rows of n
    b, n = d.shape
    out = torch.empty(b, n, dtype=d.dtype, device=d.device)
    if n == 0:
        return out
    lo, hi = gershgorin(d, e2)
    e2_full = torch.zeros(b, n, dtype=d.dtype, device=d.device)  # one row stride for d, e2
    e2_full[:, : n - 1] = e2
    max_e2 = e2.amax(-1) if n > 1 else torch.zeros(b, dtype=d.dtype, device=d.device)
    piv = torch.finfo(torch.float64).tiny * max_e2.clamp_min(1.0)
    block_j = min(128, triton.next_power_of_2(n))
    grid = (b, math.ceil(n / block_j))
    with torch.cuda.device(d.device) if d.device.type == "cuda" else contextlib.nullcontext():
        _kernel()[grid](d, e2_full, lo.contiguous(), hi.contiguous(), piv.contiguous(), out,
                        N=n, ITERS=iters, BLOCK_J=block_j)  # fmt: skip
    return out
