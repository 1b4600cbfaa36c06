"""Batched tridiagonal reduction and bisection against numpy/scipy in float64."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.util import find_spec

import numpy as np
import pytest
import scipy.linalg
import torch

from ckptscope.linalg import eigvalsh_batched, singular_values_batched
from ckptscope.linalg.tridiag import eigvalsh_tridiag, tridiagonal_eigvalsh, tridiagonalize

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
has_triton = pytest.mark.skipif(find_spec("triton") is None, reason="needs Triton")


def grams(b: int, n: int, dtype: torch.dtype = torch.float64, seed: int = 0) -> torch.Tensor:
    """Gram matrices of random matrices whose columns span two decades of scale."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n + 5, n, generator=g, dtype=torch.float64)
    x = x * torch.logspace(0, -2, n, dtype=torch.float64)
    return (x.mT @ x).to(dtype)


def sturm_counts(d: np.ndarray, e2: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Eigenvalues of ``tridiag(d, e)`` below each ``x``: the bisection kernel's rule in NumPy
    (LDLᵀ pivots of ``T - xI``, tiny pivots replaced by ``-pivmin`` as LAPACK's ``dstebz``)."""
    pivmin = float(np.finfo(np.float64).tiny) * max(1.0, float(e2.max()) if e2.size else 0.0)
    q = d[0] - x
    q = np.where(np.abs(q) < pivmin, -pivmin, q)
    count = (q < 0).astype(np.int64)
    for i in range(1, d.shape[0]):
        q = d[i] - x - e2[i - 1] / q
        q = np.where(np.abs(q) < pivmin, -pivmin, q)
        count += q < 0
    return count


def rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    """Largest error relative to each matrix's spectral radius."""
    return float((np.abs(got - ref) / np.abs(ref).max(-1, keepdims=True)).max())


@pytest.mark.parametrize("n", [1, 2, 3, 8, 9, 17, 40])
def test_eigenvalues_match_numpy_across_block_edges(n: int) -> None:
    a = grams(3, n)
    got = eigvalsh_tridiag(a, block=8).numpy()  # n = 8, 9, 17: panel edges
    assert rel_err(got, np.linalg.eigvalsh(a.numpy())) < 1e-14


def test_float32_error_is_float32_rounding() -> None:
    a = grams(4, 64, torch.float32)
    got = eigvalsh_tridiag(a).numpy()
    ref = np.linalg.eigvalsh(a.double().numpy())
    err = rel_err(got, ref)
    assert 1e-9 < err < 64 * np.finfo(np.float32).eps  # float32 work, float32-sized error


def test_reduction_is_a_similarity() -> None:
    """Trace and Frobenius norm are kept: sum(d) = tr A, sum(d²) + 2 sum(e²) = ‖A‖²."""
    a = grams(2, 33)
    d, e = tridiagonalize(a, block=4)
    assert torch.allclose(d.sum(-1), a.diagonal(dim1=-2, dim2=-1).sum(-1), rtol=1e-13)
    frob = (d**2).sum(-1) + 2 * (e**2).sum(-1)
    assert torch.allclose(frob, (a**2).sum((-2, -1)), rtol=1e-13)


def test_input_is_not_modified() -> None:
    a = grams(2, 12)
    before = a.clone()
    tridiagonalize(a, block=4)
    assert torch.equal(a, before)


@pytest.mark.parametrize(
    "a",
    [
        torch.zeros(2, 6, 6, dtype=torch.float64),  # every reflector has x = 0
        torch.diag_embed(torch.tensor([[3.0, 1, 2, 0, 5, -1]], dtype=torch.float64)),
        2 * torch.eye(7, dtype=torch.float64)[None],  # one repeated eigenvalue
        grams(1, 4)[:, :2, :2].repeat(1, 3, 3),  # rank 2 in 6 dimensions
    ],
    ids=["zero", "diagonal", "identity", "rank2"],
)
def test_degenerate_inputs(a: torch.Tensor) -> None:
    d, e = tridiagonalize(a, block=2)
    assert torch.isfinite(d).all() and torch.isfinite(e).all()
    got = tridiagonal_eigvalsh(d, e).numpy()
    ref = np.linalg.eigvalsh(a.numpy())
    assert np.abs(got - ref).max() <= 1e-14 * max(1.0, np.abs(ref).max())


def test_tridiagonal_eigenvalues_match_scipy() -> None:
    rng = np.random.default_rng(1)
    d, e = rng.standard_normal((3, 50)), rng.standard_normal((3, 49))
    got = tridiagonal_eigvalsh(torch.tensor(d), torch.tensor(e)).numpy()
    for k in range(3):
        ref = scipy.linalg.eigh_tridiagonal(d[k], e[k], eigvals_only=True)
        assert np.abs(got[k] - ref).max() < 1e-13


def test_sturm_counts_bracket_every_eigenvalue() -> None:
    rng = np.random.default_rng(2)
    d, e = rng.standard_normal(30), rng.standard_normal(29)
    lam = scipy.linalg.eigh_tridiagonal(d, e, eigvals_only=True)
    gaps = np.diff(lam).min() / 4
    assert (sturm_counts(d, e**2, lam - gaps) == np.arange(30)).all()
    assert (sturm_counts(d, e**2, lam + gaps) == np.arange(1, 31)).all()


def test_batched_solver_through_the_spectra_api() -> None:
    mats = grams(3, 20)[:, :, :15].float()  # (3, 20, 15) matrices, not Grams
    got = singular_values_batched(mats, "gram64", solver="batched").numpy()
    ref = np.linalg.svd(mats.double().numpy(), compute_uv=False)
    assert np.abs(got - ref).max() / ref.max() < 1e-12
    with pytest.raises(ValueError, match="unknown solver 'qr'"):
        eigvalsh_batched(grams(1, 3), solver="qr")


@has_triton
def test_bisection_kernel_in_triton_interpreter() -> None:
    """The Triton kernel, run by Triton's CPU interpreter, against numpy's eigvalsh."""
    script = textwrap.dedent(
        """
        import numpy as np, torch
        from ckptscope.linalg.tridiag import _bisect, tridiagonalize
        g = torch.Generator().manual_seed(3)
        for n, b in [(1, 2), (2, 1), (5, 3), (24, 2)]:
            x = torch.randn(b, n + 2, n, generator=g, dtype=torch.float64)
            a = x.mT @ x
            if n == 5:
                a[1] = torch.diag(torch.tensor([2.0, 2, 2, 0, 1], dtype=torch.float64))
            d, e = tridiagonalize(a)
            got = _bisect(d, e.square()).numpy()
            ref = np.linalg.eigvalsh(a.numpy())
            err = np.abs(got - ref).max() / np.abs(ref).max()
            assert err < 1e-13, (n, b, err)
            strided = d.T.contiguous().T  # the same values, column-major
            assert torch.equal(_bisect(strided, e.square()), _bisect(d, e.square()))
        print("ok")
        """
    )
    env = os.environ | {"TRITON_INTERPRET": "1"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=300)  # fmt: skip
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


@cuda
@has_triton
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_batched_equals_cusolver(dtype: torch.dtype) -> None:
    a = grams(6, 200, dtype).cuda()
    got = eigvalsh_batched(a, solver="batched").cpu().numpy()
    ref = np.linalg.eigvalsh(a.double().cpu().numpy())
    err = rel_err(got, ref)
    if dtype == torch.float64:
        assert err < 1e-12
        return
    assert err < 64 * np.finfo(np.float32).eps
    lapack = eigvalsh_batched(a, solver="lapack").double().cpu().numpy()
    # at least about as accurate as cuSOLVER's syevd in float32 (on an H200 its error here
    # was 3e-5 of the spectral radius, the batched solver's under 1e-5)
    assert err <= 1.5 * max(rel_err(lapack, ref), 8 * np.finfo(np.float32).eps)


@cuda
def test_cuda_graph_replays_new_inputs() -> None:
    """The graph for a shape gives each new input's eigenvalues, as the eager reduction does."""
    from ckptscope.linalg.tridiag import tridiagonalize_graphed

    for seed in range(3):  # capture, then two replays with other matrices
        a = grams(4, 70, torch.float32, seed=seed).cuda()
        d, e = tridiagonalize_graphed(a, block=16)
        d0, e0 = tridiagonalize(a, block=16)
        assert torch.allclose(d, d0, rtol=1e-5, atol=1e-5 * float(a.abs().max()))
        assert torch.allclose(e.abs(), e0.abs(), rtol=1e-5, atol=1e-5 * float(a.abs().max()))
