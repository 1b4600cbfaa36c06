import math

import numpy as np
import pytest
import scipy.stats
import torch

from ckptscope.stats import moments as mod
from ckptscope.stats.moments import l2_distance, l2_distance_and_norm, l2_norm, moments


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_moments_match_numpy_float64(dtype):
    g = torch.Generator().manual_seed(0)
    t = (torch.randn(300, 70, generator=g) ** 3 + 0.2).to(dtype)
    x = t.to(torch.float64).numpy().ravel()
    m = moments(t)
    assert m.numel == x.size
    assert m.mean == pytest.approx(x.mean(), rel=1e-12)
    assert m.std == pytest.approx(x.std(), rel=1e-12)
    assert m.norm == pytest.approx(np.linalg.norm(x), rel=1e-12)
    assert m.skew == pytest.approx(scipy.stats.skew(x), rel=1e-10)
    assert m.kurtosis == pytest.approx(scipy.stats.kurtosis(x), rel=1e-10)
    assert m.max_abs == pytest.approx(np.abs(x).max(), rel=0)


def test_moments_chunked_equals_unchunked(monkeypatch):
    t = torch.randn(10_001, dtype=torch.float64)
    whole = moments(t)
    monkeypatch.setattr(mod, "CHUNK", 97)
    chunked = moments(t)
    assert chunked.kurtosis == pytest.approx(whole.kurtosis, rel=1e-12)
    assert chunked.norm == pytest.approx(whole.norm, rel=1e-12)
    assert l2_norm(t) == pytest.approx(whole.norm, rel=1e-12)


def test_constant_tensor_leaves_out_undefined_moments():
    m = moments(torch.ones(5))
    metrics = m.as_metrics()
    assert "skew" not in metrics and "kurtosis" not in metrics
    assert metrics["std"] == 0 and metrics["norm"] == pytest.approx(math.sqrt(5))


def test_nonfinite_values_are_counted_and_excluded():
    m = moments(torch.tensor([1.0, float("nan"), 3.0, float("inf")]))
    assert m.nonfinite == 2 and m.mean == 2.0


def test_l2_distance_matches_numpy_and_checks_shape():
    a, b = torch.randn(40, 3), torch.randn(40, 3)
    ref = np.linalg.norm(a.double().numpy() - b.double().numpy())
    assert l2_distance(a, b) == pytest.approx(ref, rel=1e-12)
    with pytest.raises(ValueError, match="shapes differ"):
        l2_distance(a, b.T)


def test_parallel_spans_equal_serial(monkeypatch):
    """Threads over whole chunks give the serial result, non-finite values included."""
    g = torch.Generator().manual_seed(1)
    t = torch.randn(50_003, generator=g).to(torch.float16)
    t[7], t[40_000] = float("nan"), float("-inf")
    monkeypatch.setattr(mod, "CHUNK", 1000)
    serial = moments(t)
    monkeypatch.setattr(mod, "PARALLEL_MIN", 1)
    monkeypatch.setattr(mod, "WORKERS", 3)
    par = moments(t)
    assert par.nonfinite == serial.nonfinite == 2 and par.numel == serial.numel
    for field in ("mean", "std", "norm", "skew", "kurtosis"):
        assert getattr(par, field) == pytest.approx(getattr(serial, field), rel=1e-13)
    assert par.max_abs == serial.max_abs
    assert l2_norm(t[:7]) == pytest.approx(np.linalg.norm(t[:7].double().numpy()), rel=1e-13)


def test_moments_stable_far_from_zero(monkeypatch):
    """Per-chunk centring: a large offset costs no digits (raw power sums would lose ~16)."""
    g = torch.Generator().manual_seed(2)
    t = 1e4 + torch.randn(30_000, generator=g, dtype=torch.float64) ** 3
    x = t.numpy()
    monkeypatch.setattr(mod, "CHUNK", 997)
    m = moments(t)
    assert m.std == pytest.approx(x.std(), rel=1e-12)
    assert m.skew == pytest.approx(scipy.stats.skew(x), rel=1e-9)
    assert m.kurtosis == pytest.approx(scipy.stats.kurtosis(x), rel=1e-9)


def test_distance_and_reference_norm_in_one_pass(monkeypatch):
    a = torch.randn(3000, 7).to(torch.bfloat16)
    b = torch.randn(3000, 7).to(torch.bfloat16)
    monkeypatch.setattr(mod, "CHUNK", 1001)
    dist, norm = l2_distance_and_norm(a, b)
    xa, xb = a.double().numpy(), b.double().numpy()
    assert dist == pytest.approx(np.linalg.norm(xa - xb), rel=1e-12)
    assert norm == pytest.approx(np.linalg.norm(xb), rel=1e-12)
    assert l2_distance(a, b) == dist


@pytest.fixture(params=["fused", "torch"], autouse=True)
def backend(request, monkeypatch):
    """Every test here runs on the numba kernel (when installed) and on the torch path."""
    from ckptscope.stats import fused

    if request.param == "fused" and not fused.available():
        pytest.skip(
            "numba not installed"
        )  # optional extra; make setup installs it, so CI runs both
    monkeypatch.setenv("CKPTSCOPE_MOMENTS", "" if request.param == "fused" else "torch")
    return request.param


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_moments_and_distances_equal_the_separate_calls_exactly(monkeypatch, dtype):
    """The one-pass form gives the separate calls' values bit for bit: several spans,
    many chunks per span, a ragged end, a non-finite value, and two references."""
    from ckptscope.stats import moments as mod

    monkeypatch.setattr(mod, "PARALLEL_MIN", 1)
    monkeypatch.setattr(mod, "WORKERS", 2)
    g = torch.Generator().manual_seed(3)
    n = 7 * 300_001  # 2 spans of whole chunks, 33 chunks, the last one ragged
    t = (torch.randn(n, generator=g) * 0.02 + 0.001).to(dtype)
    refs = tuple((torch.randn(n, generator=g) * 0.02).to(dtype) for _ in range(2))
    for nan in (False, True):
        if nan:
            t[n // 3] = float("nan")
        got, pairs = mod.moments_and_distances(
            t.reshape(-1, 7), tuple(r.reshape(-1, 7) for r in refs)
        )
        assert got == moments(t) and got.nonfinite == int(nan)
        for ref, pair in zip(refs, pairs, strict=True):
            np.testing.assert_equal(pair, l2_distance_and_norm(t, ref))  # NaN distance too
            assert math.isnan(pair[0]) is nan
    ref64 = refs[0].double().numpy()
    assert pairs[0][1] == pytest.approx(float(np.linalg.norm(ref64)), rel=1e-12)


def test_a_numba_that_fails_to_import_falls_back_to_torch(monkeypatch, caplog, backend):
    """numba installed but broken (e.g. built for another NumPy): the torch path, same values."""
    import sys

    from ckptscope.stats import fused

    if backend == "torch":
        pytest.skip("the fallback itself is the torch backend")
    t = torch.randn(5000, generator=torch.Generator().manual_seed(5)).to(torch.float16)
    expected = moments(t)
    # numba stays installed (find_spec finds it); importing the kernels raises ImportError
    import ckptscope.stats

    monkeypatch.setitem(sys.modules, "ckptscope.stats._fused_kernels", None)
    monkeypatch.delattr(ckptscope.stats, "_fused_kernels", raising=False)
    fused._load.cache_clear()
    try:
        with caplog.at_level("WARNING", logger="ckptscope.stats.fused"):
            assert not fused.available()
        got = moments(t)
    finally:
        fused._load.cache_clear()
    assert "numba is installed but does not import" in caplog.text
    assert got.numel == expected.numel and got.max_abs == expected.max_abs
    assert got.kurtosis == pytest.approx(expected.kurtosis, rel=1e-12)


def test_half_precision_specials_match_numpy_float64():
    """fp16 subnormals, the largest finite value, signed zeros, inf and NaN: the moments of
    the finite values, the non-finite ones counted, as NumPy's float64 gives."""
    g = torch.Generator().manual_seed(7)
    t = (torch.randn(200_000, generator=g) * 0.02).to(torch.float16)
    t[:1000] = (torch.randn(1000, generator=g) * 3e-6).to(torch.float16)  # subnormal
    t[1000], t[1001], t[1002], t[1003] = 65504.0, -65504.0, -0.0, 0.0
    t[150_000], t[150_001], t[199_999] = float("inf"), float("-inf"), float("nan")
    x = t.double().numpy()
    assert (np.abs(x[:1000]) < 2.0**-14).mean() > 0.9  # mostly subnormal
    finite = x[np.isfinite(x)]
    m = moments(t)
    assert m.nonfinite == 3 and m.numel == finite.size
    assert m.max_abs == 65504.0
    assert m.mean == pytest.approx(finite.mean(), rel=1e-12)
    assert m.std == pytest.approx(finite.std(), rel=1e-12)
    assert m.kurtosis == pytest.approx(scipy.stats.kurtosis(finite), rel=1e-10)


def test_distances_between_different_dtypes_match_numpy():
    """A fp16 checkpoint against a float32 and a bf16 reference (a suite whose dtype
    changed), in one pass."""
    g = torch.Generator().manual_seed(8)
    t = (torch.randn(70_001, generator=g) * 0.02).to(torch.float16)
    refs = ((torch.randn(70_001, generator=g) * 0.02), torch.randn(70_001).to(torch.bfloat16))
    m, pairs = mod.moments_and_distances(t, refs)
    x = t.double().numpy()
    for ref, (dist, norm) in zip(refs, pairs, strict=True):
        r = ref.double().numpy()
        assert dist == pytest.approx(np.linalg.norm(x - r), rel=1e-12)
        assert norm == pytest.approx(np.linalg.norm(r), rel=1e-12)
    assert m == moments(t)


def test_dtypes_the_kernel_does_not_read_take_the_torch_path():
    """float8 (no kernel for it) still gets exact moments and distances."""
    t = torch.randn(5000, generator=torch.Generator().manual_seed(9)).to(torch.float8_e4m3fn)
    x = t.double().numpy()
    m = moments(t)
    assert m.mean == pytest.approx(x.mean(), rel=1e-12)
    assert m.kurtosis == pytest.approx(scipy.stats.kurtosis(x), rel=1e-10)
    assert l2_norm(t) == pytest.approx(np.linalg.norm(x), rel=1e-12)


def test_a_distance_to_a_reference_the_kernel_does_not_read():
    """float32 against a float8 reference: the torch path for both, exact."""
    g = torch.Generator().manual_seed(10)
    a = torch.randn(3_000_001, generator=g)  # several spans on the threads
    b = torch.randn(3_000_001, generator=g).to(torch.float8_e4m3fn)
    dist, norm = l2_distance_and_norm(a, b)
    x, y = a.double().numpy(), b.double().numpy()
    assert dist == pytest.approx(np.linalg.norm(x - y), rel=1e-12)
    assert norm == pytest.approx(np.linalg.norm(y), rel=1e-12)
    assert l2_distance_and_norm(a, b) == (dist, norm)  # the same sums from call to call


@pytest.mark.parametrize(
    "dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.float8_e4m3fn]
)
def test_host_tensors_give_the_torch_tensors_values_exactly(monkeypatch, dtype):
    """A HostTensor (what a safetensors file is read into, without torch) and the torch
    tensor of the same bits: the same moments and distances, bit for bit, non-finite
    values (a chunk redone from the HostTensor's bits) and several spans included."""
    from ckptscope.sources.host import HostTensor

    monkeypatch.setattr(mod, "PARALLEL_MIN", 1)
    monkeypatch.setattr(mod, "WORKERS", 2)
    g = torch.Generator().manual_seed(11)
    n = 3 * 100_003
    t = (torch.randn(n, generator=g) * 0.02).to(dtype).reshape(3, -1)
    refs = tuple((torch.randn(n, generator=g) * 0.02).to(dtype).reshape(3, -1) for _ in range(2))
    if dtype != torch.float8_e4m3fn:  # e4m3fn has no inf; its NaN is enough
        t[1, 5] = float("inf")
    t[2, 7] = float("nan")
    host, host_refs = HostTensor.from_torch(t), tuple(HostTensor.from_torch(r) for r in refs)
    got, pairs = mod.moments_and_distances(host, host_refs)
    expected, expected_pairs = mod.moments_and_distances(t, refs)
    assert got == expected
    np.testing.assert_equal(pairs, expected_pairs)  # NaN distances (a NaN in t) included
    assert got == moments(host) == moments(t)
    finite = t.double().numpy().ravel()
    finite = finite[np.isfinite(finite)]
    assert got.nonfinite == n - finite.size and got.numel == finite.size
    assert got.kurtosis == pytest.approx(scipy.stats.kurtosis(finite), rel=1e-10)
    r = refs[0].double().numpy()
    assert l2_norm(host_refs[0]) == pytest.approx(np.linalg.norm(r), rel=1e-12)
    assert l2_distance_and_norm(host_refs[0], host_refs[1]) == l2_distance_and_norm(*refs)
    assert pairs[0][1] == pytest.approx(np.linalg.norm(r), rel=1e-12)
    assert math.isnan(pairs[0][0])


def test_threads_without_torch_follow_omp_num_threads(monkeypatch):
    """The span threads a torch-free sweep uses: OMP_NUM_THREADS, else the usable CPUs."""
    import os
    import sys

    from ckptscope import devices

    monkeypatch.delitem(sys.modules, "torch")  # as in a process that never imported it
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert devices.cpu_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert devices.cpu_threads() == len(os.sched_getaffinity(0))
    monkeypatch.undo()  # torch back: its setting rules
    assert devices.cpu_threads() == torch.get_num_threads()
