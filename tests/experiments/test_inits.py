"""The sampled and permuted inits against the final weights they come from."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from ckptscope.experiments.inits import _generator, init_from, permute_like, sample_like

#: two-sample KS critical value at alpha = 1e-4: c(alpha) = sqrt(-ln(alpha / 2) / 2)
KS_C = math.sqrt(-math.log(1e-4 / 2) / 2)


def final_like() -> dict[str, torch.Tensor]:
    """Heavy-tailed "final" tensors of the shapes a tiny model has (Student-t, nu = 3)."""
    gen = np.random.default_rng(7)
    shapes = {"embed": (512, 32), "qkv": (96, 32), "mlp_in": (128, 32), "ln.weight": (32,)}
    out = {
        k: torch.from_numpy(gen.standard_t(3, size=s).astype(np.float32)) for k, s in shapes.items()
    }
    out["ln.bias"] = torch.full((32,), 0.25)  # a constant tensor
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_sampled_reproduces_each_final_histogram(seed: int) -> None:
    final = final_like()
    init = init_from("sampled", final, seed)
    assert init.keys() == final.keys()
    for name, t in final.items():
        s = init[name]
        assert s.shape == t.shape and s.dtype == t.dtype
        n = t.numel()
        bound = KS_C * math.sqrt(2 / n)  # both samples have n values
        ks = ks_2samp(s.flatten().double().numpy(), t.flatten().double().numpy()).statistic
        assert ks < bound, (name, ks, bound)
        assert s.min() >= t.min() and s.max() <= t.max()  # inverse CDF stays in the support
    assert torch.equal(init["ln.bias"], final["ln.bias"])  # a constant draws only itself


def test_sampled_is_the_empirical_inverse_cdf() -> None:
    """The draws equal numpy's linear quantiles of the values at the same uniforms."""
    values = torch.from_numpy(np.random.default_rng(3).laplace(size=(40, 25)).astype(np.float32))
    drawn = sample_like(values, _generator("sampled", 5, "x"))
    u = torch.rand(values.numel(), generator=_generator("sampled", 5, "x"), dtype=torch.float64)
    ref = np.quantile(values.double().numpy().ravel(), u.numpy(), method="linear")
    np.testing.assert_allclose(drawn.double().numpy().ravel(), ref, rtol=0, atol=1e-6)


def test_sampled_is_not_a_copy_and_depends_on_seed() -> None:
    final = final_like()
    a, b, again = (init_from("sampled", final, s) for s in (0, 1, 0))
    assert not torch.equal(a["qkv"], final["qkv"])
    assert not torch.equal(a["qkv"], b["qkv"])
    assert all(torch.equal(a[k], again[k]) for k in a)


@pytest.mark.parametrize("seed", [0, 1])
def test_permuted_keeps_the_multiset_but_not_the_order(seed: int) -> None:
    final = final_like()
    init = init_from("permuted", final, seed)
    for name, t in final.items():
        p = init[name]
        assert p.shape == t.shape
        assert torch.equal(p.flatten().sort().values, t.flatten().sort().values), name
        if t.unique().numel() > 1:
            assert not torch.equal(p, t), name
            # a shuffle leaves few values in place: about one of n, not most of them
            assert (p == t).float().mean() < 0.2, name


def test_permute_like_is_a_permutation_of_positions() -> None:
    values = torch.arange(1000, dtype=torch.float32).reshape(10, 100)
    p = permute_like(values, _generator("permuted", 0, "x"))
    assert sorted(p.flatten().tolist()) == list(range(1000))


def test_standard_needs_no_state_and_unknown_inits_are_refused() -> None:
    assert init_from("standard", final_like(), 0) is None
    with pytest.raises(ValueError, match="unknown init 'gaussian'"):
        init_from("gaussian", final_like(), 0)
