"""A small store holding a row of every kind the figures and the report draw, hostile strings too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ckptscope.analyses.distributions import pooled_histograms
from ckptscope.analyses.updates import UpdateRates
from ckptscope.records import Array, Derived, DerivedScalar, Event, Scalar
from ckptscope.store import Store
from ckptscope.store.store import TaskKey

XSS = "<script>alert(1)</script>"
MODELS = ("tiny", "small")
STEPS = (0, 10, 20, 40, 80)
N_BLOCKS = 2


def _hist(x: np.ndarray) -> tuple[np.ndarray, str]:
    from ckptscope.stats.histogram import UNIVERSAL_GRID, histogram

    return histogram(x), UNIVERSAL_GRID.to_json()


def make_report_store(root: Path, steps=STEPS, models=MODELS, vocab_labels=None) -> Store:
    """A store with weights, distributions, activations, spectra and embeddings rows."""
    store = Store(root)
    rng = np.random.default_rng(0)
    labels = list(
        vocab_labels or [XSS, "a", "b", "␣the", "$x$", "&amp;", *[f"t{i}" for i in range(10)]]
    )
    n = len(labels)
    for model in models:
        base = rng.normal(size=(n, 6))
        for k, step in enumerate(steps):
            t = k / max(1, len(steps) - 1)
            weights, dists, spectra, acts = [], [], [], []
            for comp in ("qkv", "attn_out", "mlp_in", "mlp_out"):
                for b in range(N_BLOCKS):
                    norm = 10 + 5 * np.sin(3 * t) + b
                    weights += [
                        Scalar(comp, b, "weight", "norm", norm),
                        Scalar(comp, b, "weight", "dist_init", 3 * t + b),
                        # the shared schedule, times each matrix's own variation
                        Scalar(
                            comp,
                            b,
                            "weight",
                            "rel_dist_prev",
                            0.1 / (1 + step) * float(np.exp(0.3 * rng.normal())),
                        ),
                    ]
                    x = rng.standard_t(df=3 + 30 * (1 - t), size=4000) * 0.02
                    counts, meta = _hist(x)
                    q = np.sort(x)[::40]
                    z = np.linspace(-3, 3, len(q))
                    dists += [
                        Array(comp, b, "weight", "hist", counts, meta=meta),
                        Array(comp, b, "weight", "qq_gaussian", np.stack([z, q / q.std()])),
                        Scalar(comp, b, "weight", "t_nu", 3 + 30 * (1 - t)),
                    ]
                    s = np.sort(rng.pareto(2 + t, size=48))[::-1] + 0.1
                    spectra += [
                        Array(comp, b, "weight", "singular_values", s),
                        Scalar(comp, b, "weight", "alpha", 2 + t),
                    ]
            for c, p in (("ov", "circuit"), ("qk", "circuit"), ("q", "weight"), ("k", "weight"),
                         ("v", "weight")):  # fmt: skip
                spectra += [Scalar(c, b, p, "spectral_norm", 1 + t * (h + 1) + 3 * (h == 3), h)
                            for b in range(N_BLOCKS) for h in range(4)]  # fmt: skip
            for comp in ("ln1", "ln2", "mlp_in", "mlp_out"):
                for b in range(N_BLOCKS):
                    weights.append(Scalar(comp, b, "bias", "norm", 1 + t * (b + 1)))
            for comp in ("embed", "unembed", "ln_final"):
                weights.append(Scalar(comp, None, "weight", "norm", 20 - 3 * t))
            r = rng.standard_t(df=4, size=5000) * (1 + 10 * t)
            counts, meta = _hist(r)
            acts += [
                Array("resid", None, "", "hist", counts, meta=meta),
                Scalar("model", None, "", "loss", 5 - 3 * t),
                Array(
                    "model",
                    None,
                    "activations",
                    "eval_batch_info",
                    np.array([4.0, 32.0]),
                    meta=json.dumps({"data": "heldout", "tokens_sha256": "ab12", "note": XSS}),
                ),
            ]
            acts += [
                Scalar("resid", b, "", "max_abs", 5 + 20 * t * (b + 1)) for b in range(N_BLOCKS)
            ]
            emb = base + (1 + 3 * t) * rng.normal(size=base.shape) * (1 - t)
            corr = np.corrcoef(emb)
            order = np.argsort(corr[0])
            embeds = [
                Array(
                    "embed",
                    None,
                    "weight",
                    "embed_corr",
                    corr,
                    tuple(labels),
                    json.dumps({"set": "bytes", "tokens": [0, n]}),
                ),
                Array("embed", None, "weight", "embed_order", order),
                Array(
                    "embed", None, "weight", "embed_corr_tokens", corr[:6, :6], tuple(labels[:6])
                ),
                Array("embed", None, "weight", "embed_order_tokens", np.arange(6)),
            ]
            dists += pooled_histograms([r for r in dists if getattr(r, "kind", "") == "hist"])
            meta = {"device": "cpu", "options": {"note": XSS}, "initial_step": steps[0],
                    "previous_step": steps[k - 1] if k else None, "final_step": steps[-1]}  # fmt: skip
            for analysis, recs in (
                ("weights", weights),
                ("distributions", dists),
                ("spectra", spectra),
                ("activations", acts),
                ("embeddings", embeds),
            ):
                store.write_task(
                    TaskKey("suite<&>", model, step, analysis), recs, seconds=0.5, meta=meta
                )
        ever = [
            DerivedScalar(
                model,
                step,
                Scalar("resid", b, "", "max_abs_ever", 5 + 20 * (b + 1) * (1 - abs(b - 0.5))),
            )
            for step in steps
            for b in range(N_BLOCKS)
        ]
        store.write_derived(f"resid_outliers_{model}", "suite<&>", Derived(scalars=ever))
        for step in steps:  # pooled gradient histograms (the gradients analysis)
            grads = []
            for c in ("qkv", "mlp_out"):
                counts, meta = _hist(rng.normal(0, 1e-3, 3000))
                grads.append(Array(c, None, "weight", "grad_hist", counts, meta=meta))
            store.write_task(TaskKey("suite<&>", model, step, "gradients"), grads)
        close = [DerivedScalar(model, step, Scalar(c, b, p, m, step / steps[-1]))
                 for step in steps for m in ("svd_exact", "svd_overlap")
                 for c, b, p in (("mlp_in", 0, "weight"), ("ov", 1, "all"), ("all", None, "all"))]  # fmt: skip
        store.write_derived(f"svd_closeness_{model}", "suite<&>", Derived(scalars=close))
    rates = UpdateRates().derive(store.for_suite("suite<&>"))  # per-step update sizes
    store.write_derived(UpdateRates.name, "suite<&>", rates)
    events = [
        Event("tiny", 20, "phase_change", f"kurtosis jumps {XSS}", "qkv", 1, "weight", "kurtosis"),
        Event("small", 10, "duplicate_checkpoint", f"steps 0 and 10 are identical {XSS}"),
    ]
    store.write_derived("phases", "suite<&>", Derived(events=events))
    store.record_failure(
        TaskKey("suite<&>", "small", 80, "spectra"), f"CheckpointError: {XSS} corrupt"
    )
    return store
