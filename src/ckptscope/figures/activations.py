"""Activation and gradient figures F3-F6 and the evaluation loss.

* F3: residual-stream histogram, all blocks pooled (``resid``/``resid_embed`` block None).
* F4: weight-gradient histograms pooled over blocks (kind ``grad_hist``).
* F5: ``max_abs`` of the residual after each block against step.
* F6: ``max_abs_ever`` (derivation ``resid_outliers``, a running max) at each model's last
  step, per block.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure, FigureBase

from ckptscope.figures.catalogue import FigureSpec, Query, register
from ckptscope.figures.kinds import hist_spec, line_spec
from ckptscope.figures.rows import thinned_arrays
from ckptscope.plots.plotly_specs import Spec, at_step, plot_text, typed
from ckptscope.plots.style import panels
from ckptscope.store import Store

MATRICES = ("qkv", "attn_out", "mlp_in", "mlp_out")

hist_spec(
    "F3",
    "Residual-stream histograms over training",
    "activations",
    "The post (Pythia): a rapid shift to a peaked, heavy-tailed shape.",
    "activations",
    "arrays: hist of resid, resid_embed (all blocks pooled)",
    lambda store, q: thinned_arrays(
        store, q, "activations", kind="hist", component=["resid", "resid_embed"], block=None
    ),
    file_by="model",
    stem="F3_resid_hist_",
)
hist_spec(
    "F4",
    "Weight-gradient histograms over training, all blocks pooled",
    "gradients",
    "The post (Pythia): shrinking variance, widening tails.",
    "activations",
    "arrays: grad_hist (all blocks pooled)",
    lambda store, q: thinned_arrays(
        store,
        q,
        "gradients",
        kind="grad_hist",
        component=list(MATRICES),
        param="weight",
        block=None,
    ),
    file_by="model",
    stem="F4_grad_hist_",
)
line_spec("F5", "Max |residual| per block against step", "activations",
          "The post (Pythia): rises fast, crests, slowly declines.", "activations",
          [("resid", "", "max_abs")], files=lambda rows: [("F5_max_abs_resid", rows)])  # fmt: skip


def _f6_rows(store: Store, q: Query) -> pd.DataFrame:
    rows = store.scalars(component="resid", metric="max_abs_ever",
                         **({"model": list(q.models)} if q.models else {}))  # fmt: skip
    return rows.dropna(subset=["block"])


def _f6_last(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Each model's rows of its last step (a running max: the max over all steps)."""
    return [(str(m), at_step(p, int(p.step.max())).sort_values("block"))
            for m, p in rows.groupby("model", sort=True)]  # fmt: skip


def _f6_static(rows: pd.DataFrame, q: Query, into: FigureBase | None = None) -> Figure:
    fig, axes = panels(1, 1, width=6.0, height=4.0, into=into)
    ax = axes[0][0]
    for model, last in _f6_last(rows):
        n_blocks = int(last.block.max()) + 1
        depth = (last.block.to_numpy() + 0.5) / n_blocks
        ax.plot(depth, last.value, marker="o", lw=1.4, label=f"{model} ({n_blocks} blocks)")
    ax.set_xlabel("relative depth (block + 0.5) / n_blocks")
    ax.set_ylabel("max |residual| over all steps")
    ax.set_title("F6: largest residual value ever seen, per block")
    ax.legend(fontsize=7)
    return fig.figure


def _f6_interactive(rows: pd.DataFrame, q: Query) -> Spec:
    traces = [{"type": "scatter", "mode": "lines+markers", "name": plot_text(model),
               "x": typed(last.block, "i4"), "y": typed(last.value)}
              for model, last in _f6_last(rows)]  # fmt: skip
    layout = {"title": {"text": "F6: max |residual| ever observed, per block"}, "height": 420,
              "xaxis": {"title": {"text": "block"}, "dtick": 1},
              "yaxis": {"title": {"text": "max |residual|"}}}  # fmt: skip
    return {"data": traces, "layout": layout}


register(FigureSpec("F6", "Largest residual value ever, per block", "activations",
                    "The post (Pythia): an inverted U over depth.", "activations",
                    "scalars: resid max_abs_ever (last step)", _f6_rows, _f6_static,
                    _f6_interactive, files=lambda rows: [("F6_max_abs_ever", rows)]))  # fmt: skip
line_spec("loss", "Loss on the evaluation batch", "activations",
          "Not a figure of the post: the evaluation loss, to place the other curves in "
          "training.", "activations", [("model", "", "loss")])  # fmt: skip
