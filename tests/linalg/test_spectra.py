"""Batched singular values against numpy's float64 SVD, on random and ill-conditioned matrices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ckptscope.linalg import (
    eigvalsh_batched,
    gram,
    product_left_vectors,
    product_singular_values,
    singular_values_batched,
    singular_values_grouped,
    singular_values_stacks,
)

# Max relative error vs numpy float64 SVD of the same float32 matrix, per method, on values
# >= 0.1 s_max (random) or >= 1e-3 s_max (condition 1e6). The Gram methods also obey the
# documented bound |Δs|/s <= C·eps·(s_max/s)² on every value (checked with C = 100).
TOL = {"gram64": 1e-13, "gram32": 1e-5, "svd": 1e-13}
TOL_ILL = {"gram64": 1e-8, "gram32": 1e-1, "svd": 1e-12}
EPS = {"gram64": np.finfo(np.float64).eps, "gram32": np.finfo(np.float32).eps}


def reference(mats: torch.Tensor) -> np.ndarray:
    return np.linalg.svd(mats.double().numpy(), compute_uv=False)


def ill_conditioned(rng: np.random.Generator, m: int, n: int, decades: float) -> torch.Tensor:
    u, _ = np.linalg.qr(rng.standard_normal((m, n)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = np.logspace(0, -decades, n)
    return torch.tensor((u * s) @ v.T, dtype=torch.float32)


@pytest.mark.parametrize("method", list(TOL))
@pytest.mark.parametrize("shape", [(60, 20), (20, 60), (32, 32)])
def test_random_matches_numpy(method: str, shape: tuple[int, int]) -> None:
    mats = torch.randn(3, *shape, generator=torch.Generator().manual_seed(1))
    got = singular_values_batched(mats, method).numpy()
    ref = reference(mats)
    assert got.shape == (3, min(shape))
    assert np.all(np.diff(got, axis=1) <= 0)
    rel = np.abs(got / ref - 1)
    assert rel[ref >= 0.1 * ref[:, :1]].max() < TOL[method]
    if method in EPS:
        assert np.all(rel <= 100 * EPS[method] * (ref[:, :1] / ref) ** 2)


@pytest.mark.parametrize("method", list(TOL))
def test_ill_conditioned_error_follows_condition(method: str) -> None:
    rng = np.random.default_rng(0)
    mats = ill_conditioned(rng, 200, 80, 6)[None]
    got = singular_values_batched(mats, method).numpy()[0]
    ref = reference(mats)[0]
    rel = np.abs(got / ref - 1)
    assert rel[ref >= 1e-3 * ref[0]].max() < TOL_ILL[method]
    if method in EPS:
        assert np.all(
            rel[ref >= 1e-3 * ref[0]]
            <= 100 * EPS[method] * (ref[0] / ref[ref >= 1e-3 * ref[0]]) ** 2
        )
    if method == "gram64":  # every value, down to 1e-6 s_max
        assert np.all(rel <= 100 * EPS[method] * (ref[0] / ref) ** 2)


def test_gram_chunks_agree_with_whole() -> None:
    w = torch.randn(2, 300, 7, generator=torch.Generator().manual_seed(2))
    whole = (w.double().mT @ w.double()).numpy()
    chunked = gram(w, chunk_bytes=500).numpy()
    np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gram(w.mT).numpy(), whole, rtol=1e-12, atol=1e-12)


def test_grouped_keeps_order_across_shapes() -> None:
    g = torch.Generator().manual_seed(3)
    mats = [
        torch.randn(10, 4, generator=g),
        torch.randn(5, 5, generator=g),
        torch.randn(10, 4, generator=g),
    ]
    got = singular_values_grouped(mats)
    for m, s in zip(mats, got, strict=True):
        np.testing.assert_allclose(s.numpy(), reference(m[None])[0], rtol=1e-12)


def test_product_singular_values_and_vectors() -> None:
    g = torch.Generator().manual_seed(4)
    left, right = torch.randn(3, 24, 5, generator=g), torch.randn(3, 5, 30, generator=g)
    prod = (left.double() @ right.double()).numpy()
    u_ref, s_ref, _ = np.linalg.svd(prod)
    s = product_singular_values(left, right).numpy()
    np.testing.assert_allclose(s, s_ref[:, :5], rtol=1e-10)
    u, s2 = product_left_vectors(left, right)
    np.testing.assert_allclose(s2.numpy(), s_ref[:, :5], rtol=1e-10)
    # same columns up to sign
    dots = np.abs(np.einsum("bij,bij->bj", u.numpy(), u_ref[:, :, :5]))
    np.testing.assert_allclose(dots, 1.0, atol=1e-8)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="batch"):
        singular_values_batched(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="unknown method"):
        singular_values_batched(torch.zeros(1, 3, 3), "lanczos")


def test_stacks_from_a_generator_equal_one_call_per_stack() -> None:
    g = torch.Generator().manual_seed(5)
    stacks = [torch.randn(2, 12, 6, generator=g), torch.randn(3, 6, 9, generator=g)]
    got = singular_values_stacks(iter(stacks), "gram64")
    for stack, s in zip(stacks, got, strict=True):
        np.testing.assert_array_equal(s.numpy(), singular_values_batched(stack, "gram64").numpy())
        np.testing.assert_allclose(s.numpy(), reference(stack), rtol=1e-12)


def test_eigvalsh_batched_on_cpu_is_torch() -> None:
    a = torch.randn(4, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    sym = a + a.mT
    np.testing.assert_array_equal(
        eigvalsh_batched(sym, 4).numpy(), torch.linalg.eigvalsh(sym).numpy()
    )


# CI has no GPU: these run where CUDA is (they passed on the H200 device machine)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_streams_equal_one_stream(dtype: torch.dtype) -> None:
    a = torch.randn(9, 64, 64, dtype=dtype, device="cuda", generator=None)
    sym = a + a.mT
    one = eigvalsh_batched(sym, 1)
    for streams in (2, 4, 16):
        torch.testing.assert_close(eigvalsh_batched(sym, streams), one, rtol=0, atol=0)


@cuda
def test_cuda_stacks_across_shapes_match_numpy() -> None:
    g = torch.Generator().manual_seed(7)
    # two stacks share r = 16 (their Grams are solved together), one has r = 8
    stacks = [
        torch.randn(3, 40, 16, generator=g),
        torch.randn(2, 16, 30, generator=g),
        torch.randn(4, 8, 8, generator=g),
    ]
    for method, tol in (("gram32", 1e-5), ("gram64", 1e-12), ("svd", 1e-12)):
        got = singular_values_stacks(stacks, method, "cuda", streams=3)
        for stack, s in zip(stacks, got, strict=True):
            ref = reference(stack)
            assert s.device.type == "cpu" and s.dtype == torch.float64
            rel = np.abs(s.numpy() / ref - 1)
            assert rel[ref >= 0.1 * ref[:, :1]].max() < tol, method
