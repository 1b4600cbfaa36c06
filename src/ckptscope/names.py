"""Human names of components and metrics: the one table figures, captions and messages use.

Metric ids (``rel_dist_prev_per_step``) are what the store holds and queries filter on;
the names here are what a reader sees on an axis, a panel title or in a message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Full-support distribution families in the order ``fit_winner`` indexes them (the fits
#: are ``stats/fits.py``; the names live here so that readers of stored labels need no SciPy)
FAMILIES: tuple[str, ...] = ("gaussian", "logistic", "laplace", "student_t", "gennorm", "quartic")

COMPONENT_LABELS: dict[str, str] = {
    "embed": "embedding",
    "pos_embed": "position embedding",
    "qkv": "attention qkv",
    "q": "attention q",
    "k": "attention k",
    "v": "attention v",
    "attn_out": "attention dense",
    "mlp_in": "MLP in",
    "mlp_gate": "MLP gate",
    "mlp_out": "MLP out",
    "unembed": "unembedding",
    "ln1": "LayerNorm 1",
    "ln2": "LayerNorm 2",
    "ln_final": "final LayerNorm",
    "resid": "residual stream",
    "resid_embed": "residual stream after the embedding",
    "ov": "OV circuit",
    "all": "all matrices",
    "model": "model",
}

METRIC_NAMES: dict[str, str] = {
    "norm": "L2 (Frobenius) norm",
    "mean": "mean",
    "std": "standard deviation",
    "max": "max",
    "max_abs": "max |value|",
    "max_abs_ever": "max |value| over all steps so far",
    "kurtosis": "excess kurtosis",
    "skewness": "skewness",
    "dist_init": "distance from the first checkpoint",
    "rel_dist_init": "relative distance from the first checkpoint",
    "dist_prev": "distance from the previous checkpoint",
    "rel_dist_prev": "relative distance from the previous checkpoint",
    "dist_prev_per_step": "distance from the previous checkpoint, per step",
    "rel_dist_prev_per_step": "relative distance from previous checkpoint, per step",
    "t_nu": "Student-t degrees of freedom nu",
    "gennorm_beta": "generalised-normal shape beta",
    "quartic_g": "quartic coefficient g",
    "alpha": "power-law alpha of the eigenvalue spectrum",
    "alpha_tail": "tail eigenvalues in the power-law fit",
    "mp_outliers": "singular values above the Marchenko-Pastur edge",
    "svd_exact": "SVD directions equal to the final checkpoint's",
    "svd_overlap": "SVD direction overlap with the final checkpoint",
    "loss": "evaluation loss (nats per token)",
}


def component_name(component: str) -> str:
    """The reader's name of a canonical component (``mlp_in`` -> "MLP in")."""
    return COMPONENT_LABELS.get(component, component)


def metric_name(metric: str) -> str:
    """The reader's name of a metric id (unknown ids are shown as they are)."""
    return METRIC_NAMES.get(metric, metric.replace("_", " "))


def tensor_name(component: str, param: str = "") -> str:
    """A tensor's name: "MLP in", "LayerNorm 1 bias" (weights and whole tensors unsuffixed)."""
    name = component_name(component)
    return name if param in ("weight", "", "all", None) else f"{name} {param}"


_SCALE = {"k": 1e3, "m": 1e6, "b": 1e9}


def model_size(name: str) -> float | None:
    """A model's size from its name: ``pythia-160m`` -> 1.6e8, ``w128`` -> 128 (a width).

    Sizes compare only between names that parse the same way; ``None`` when the name does
    not parse. The ``-seedN`` / ``-deduped`` / ``-v0`` suffixes (in any number), a
    ``suite/`` prefix and a trailing `` (3 seeds)`` (a line of several seeds) are ignored.
    """
    base = re.sub(r"\s*\([^()]*\)$", "", name.lower())
    base = re.sub(r"(-(seed\d+|deduped|v0))+$", "", base)
    m = re.search(r"(\d+(?:\.\d+)?)([kmb])$", base)
    if m:
        return float(m.group(1)) * _SCALE[m.group(2)]
    m = re.search(r"(?:^|[^a-z])w(\d+)(?:[xl]\d+)?$", base)
    return float(m.group(1)) if m else None


def model_order(names: Iterable[object]) -> list[str]:
    """Model names, distinct, smallest first (``w64`` before ``w128``; ``160m`` before
    ``1.4b``); names without a size come first, by name."""
    return sorted({str(n) for n in names}, key=lambda n: (model_size(n) or 0.0, n))
