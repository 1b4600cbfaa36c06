"""What the HTML report shows: a section per finding of the post, built from store rows.

Each section function takes the :class:`Data` of one page (store rows read once, filtered
to the chosen models) and returns a :class:`Section` of figure specs (from
:mod:`ckptscope.report.html_figures`) plus, for figures with no rows, the sweep that would
fill them. Series are thinned to at most ``MAX_FRAMES`` evenly spaced steps per model,
chosen from the ``tasks`` table before any array is read; 256x256 heatmaps get
``MAX_HEATMAP_FRAMES`` per model within ``HEATMAP_FRAME_BUDGET`` for the whole page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ckptscope import __version__
from ckptscope.plots.embeddings import even_pick, final_order, frames_for
from ckptscope.plots.style import model_order
from ckptscope.plots.weights import WEIGHT_FIGURES
from ckptscope.report import html_figures as hf
from ckptscope.report.figures import FIGURES, ReportOptions
from ckptscope.report.html_figures import heatmap_figure, plot_text
from ckptscope.store import Store, schema

MAX_FRAMES = 60
MAX_HEATMAP_FRAMES = 30  # per model; a 256x256 int8 frame is ~87 kB of base64
HEATMAP_FRAME_BUDGET = 120  # over all models: ~10 MB of heatmaps at most
DISPLAY_BINS = 121
MATRICES = ("qkv", "attn_out", "mlp_in", "mlp_out")


@dataclass
class Fig:
    """One interactive figure: its plotly spec, caption and provenance."""

    fig_id: str
    title: str
    spec: dict[str, Any]
    provenance: dict[str, str]


@dataclass
class Section:
    """A finding of the post: its figures, notes, and hints for figures with no data."""

    key: str
    title: str
    finding: str
    figures: list[Fig] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Data:
    """Store rows read once for the whole page, filtered to the chosen models."""

    def __init__(self, store: Store, opts: ReportOptions) -> None:
        self.store, self.opts = store, opts
        self.scalars = self._keep(store.scalars())
        self.tasks = self._keep(store.table("tasks"))

    def _keep(self, df: pd.DataFrame) -> pd.DataFrame:
        if self.opts.models and "model" in df:
            df = df[df.model.isin(self.opts.models)]
        return df.reset_index(drop=True)

    def arrays(self, analysis: str, cap: int = MAX_FRAMES, **where: Any) -> pd.DataFrame:
        """Array rows (values reshaped) of at most ``cap`` evenly spaced steps per model.

        Steps are chosen from the ``tasks`` of ``analysis`` before any values are read, so a
        long sweep's report never loads arrays it will not show.
        """
        tasks = self.tasks[self.tasks.analysis == analysis] if len(self.tasks) else self.tasks
        if tasks.empty:
            return pd.DataFrame(columns=schema.ARRAYS.names)
        steps: set[int] = set()
        for _, part in tasks.groupby("model"):
            steps.update(picked_steps(part, cap))
        return self._keep(self.store.arrays(step=sorted(steps), **where))

    def metric(self, component: str, metric: str) -> pd.DataFrame:
        s = self.scalars
        return s[(s.component == component) & (s.metric == metric)]

    def suites(self) -> list[str]:
        return sorted(set(self.tasks["suite"].dropna())) if len(self.tasks) else []

    def hint(self, fig_id: str, title: str, analysis: str) -> str:
        return (f"{fig_id} ({title}): no data in this store; run "
                f"`ckptscope sweep SUITE --analyses {analysis} --out {self.store.root}`")  # fmt: skip

    def provenance(self, analysis: str, source: str, rows: pd.DataFrame,
                   shown: int | None = None) -> dict[str, str]:  # fmt: skip
        """Where a figure's rows come from: analysis, table, suites, models, steps, version."""
        steps = sorted(int(s) for s in set(rows["step"])) if len(rows) else []
        prov = {
            "analysis": analysis,
            "data": source,
            "suite": ", ".join(sorted(set(rows["suite"]))) if "suite" in rows else "",
            "models": ", ".join(model_order(rows["model"])) if len(rows) else "",
            "steps": f"{len(steps)} ({steps[0]} to {steps[-1]})" if steps else "none",
            "ckptscope": __version__,
        }
        if shown is not None and shown < len(steps):
            prov["frames"] = f"{shown} of {len(steps)} steps, evenly spaced"
        return prov


def picked_steps(rows: pd.DataFrame, cap: int = MAX_FRAMES) -> list[int]:
    """At most ``cap`` evenly spaced steps of ``rows`` (first and last kept)."""
    steps = sorted(int(s) for s in set(rows["step"]))
    return [steps[i] for i in even_pick(len(steps), cap)]


# -- sections -------------------------------------------------------------------------


def line_fig(data: Data, sec: Section, fig_id: str, title: str, analysis: str,
             rows: Sequence[tuple[str, str, str]], per_block: bool, caption: str = "") -> None:  # fmt: skip
    """Add a scalars-vs-step figure to ``sec``, or the sweep that would fill it."""
    df = data.scalars[data.scalars.metric.isin({m for _, _, m in rows})]
    spec = hf.lines_figure(df, rows, f"{fig_id}: {title}", per_block, data.opts.log_steps)
    if spec is None:
        sec.missing.append(data.hint(fig_id, title, analysis))
        return
    used = pd.concat([hf.select(df, *r) for r in rows])
    source = "scalars: " + ", ".join(
        sorted({f"{c}.{p} {m}".replace(". ", " ") for c, p, m in rows})
    )
    caption = f"{title}. {caption}" if caption else title
    sec.figures.append(Fig(fig_id, caption, spec, data.provenance(analysis, source, used)))


def weights_section(data: Data) -> Section:
    """F7-F12, F14 and update sizes from the ``weights`` analysis."""
    sec = Section("weights", "Weight norms and distances (F7-F12, F14)",
                  "Norms rise, peak between 20k and 40k steps, then decline under weight decay.")  # fmt: skip
    for fig_id, (title, rows, per_block) in WEIGHT_FIGURES.items():
        line_fig(data, sec, fig_id, title, "weights", rows, per_block,
                 FIGURES[fig_id].finding if fig_id in FIGURES else "")  # fmt: skip
    return sec


def display_fractions(rows: pd.DataFrame) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """Display-bin centres over all rows and each row's fraction per bin (rebinning only)."""
    from ckptscope.stats.histogram import UniversalGrid, display_edges, rebin

    grids = {UniversalGrid.from_json(m) for m in rows["meta"].fillna("")}
    if len(grids) != 1:
        return None
    grid = grids.pop()
    counts = [np.asarray(v, dtype=np.float64) for v in rows["values"]]
    try:
        edges = display_edges(counts, grid, n_bins=DISPLAY_BINS)
    except ValueError:  # every histogram empty
        return None
    fracs = []
    for c in counts:
        shown = rebin(c, edges, grid) / max(c.sum(), 1.0)
        fracs.append(np.where(shown > 0, shown, np.nan))  # log axis: empty bins are gaps
    return (edges[:-1] + edges[1:]) / 2, fracs


def hist_figures(data: Data, sec: Section, fig_id: str, title: str, analysis: str,
                 rows: pd.DataFrame, label: Callable[[pd.Series], str]) -> None:  # fmt: skip
    """Animated histograms, one figure per model, a line per label, a frame per step."""
    if rows.empty:
        sec.missing.append(data.hint(fig_id, title, analysis))
        return
    for model, part in rows.groupby("model", sort=True):
        part = part.reset_index(drop=True)
        shown = display_fractions(part)
        if shown is None:
            sec.notes.append(f"{fig_id} {model}: histograms empty or on mixed grids")
            continue
        centres, fracs = shown
        part = part.assign(frac=pd.Series(fracs, index=part.index, dtype=object),
                           label=[label(r) for _, r in part.iterrows()])  # fmt: skip
        steps = picked_steps(part)
        spec = hf.hist_figure(part, centres, steps, f"{fig_id}: {title}, {model}")
        kinds = ", ".join(sorted(set(part.kind)))
        prov = data.provenance(analysis, f"arrays: {kinds}", part, len(steps))
        sec.figures.append(Fig(fig_id, f"{title}, {model}", spec, prov))


def distributions_section(data: Data) -> Section:
    """F1 (weight histograms), F2 (QQ: Gaussian, logistic, power law), Student-t nu."""
    sec = Section("distributions", "Weight distributions (F1, F2)",
                  "Gaussian at first, then heavy tails (QKV near 20k steps, MLP early); "
                  "no standard family fits the tails.")  # fmt: skip
    hist = data.arrays("distributions", kind="hist_pooled", component=list(MATRICES),
                       param="weight")  # fmt: skip
    hist_figures(data, sec, "F1", "Weight histograms, all blocks pooled", "distributions", hist,
                 lambda r: str(r.component))  # fmt: skip
    families = ["qq_gaussian", "qq_logistic", "qq_power_law"]
    qq = data.arrays("distributions", kind=families, component=list(MATRICES), param="weight")
    if qq.empty:
        sec.missing.append(data.hint("F2", "QQ plots", "distributions"))
    else:  # one block per component keeps the figure legible: the last (heaviest tails)
        qq = qq[qq.block == qq.groupby("component").block.transform("max")]
        for model, part in qq.groupby("model", sort=True):
            fams = [f for f in families if f in set(part.kind)]
            steps = picked_steps(part)
            spec = hf.qq_figure(part, fams, steps, f"F2: QQ, sample vs standard family "
                                                   f"(y = x fits), last block, {model}")  # fmt: skip
            prov = data.provenance("distributions", "arrays: " + ", ".join(fams), part, len(steps))
            sec.figures.append(Fig("F2", f"QQ plots, {model}", spec, prov))
    line_fig(data, sec, "fits", "Student-t degrees of freedom nu (nu -> inf is Gaussian)",
             "distributions", [(c, "weight", "t_nu") for c in MATRICES], per_block=True)  # fmt: skip
    return sec


def _where(row: pd.Series) -> str:
    return f"{row.component}{'' if pd.isna(row.block) else f' block {int(row.block)}'}"


def activations_section(data: Data) -> Section:
    """F3-F6 and the evaluation loss, from the ``activations`` and ``gradients`` analyses."""
    sec = Section("activations", "Activations and gradients (F3-F6)",
                  "Residual activations turn peaked and heavy-tailed with extreme outliers; "
                  "the max outlier rises, crests and declines, an inverted U over depth.")  # fmt: skip
    resid = data.arrays("activations", kind="hist", component=["resid", "resid_embed"])
    hist_figures(data, sec, "F3", "Residual-stream activation histogram", "activations",
                 resid[resid.block.isna()], _where)  # fmt: skip
    grads = data.arrays("gradients", kind="grad_hist", component=list(MATRICES))
    grads = grads[grads.block.isna() & (grads.param == "weight")]  # block None: pooled
    hist_figures(data, sec, "F4", "Weight-gradient histograms, all blocks pooled", "gradients",
                 grads, lambda r: str(r.component))  # fmt: skip
    line_fig(data, sec, "F5", "Max |residual| per block", "activations",
             [("resid", "", "max_abs")], per_block=True)  # fmt: skip
    ever = data.metric("resid", "max_abs_ever")
    if ever.empty:
        sec.missing.append(data.hint("F6", "Max outlier ever per block", "activations"))
    else:  # max_abs_ever is a running max: its last step holds the max over all steps
        traces = []
        for model, part in ever.groupby("model", sort=True):
            last = hf.at_step(part, int(part.step.max())).sort_values("block")
            traces.append({"type": "scatter", "mode": "lines+markers", "name": plot_text(model),
                           "x": hf.typed(last.block, "i4"), "y": hf.typed(last.value)})  # fmt: skip
        layout = {"title": {"text": "F6: max |residual| ever observed, per block"}, "height": 420,
                  "xaxis": {"title": {"text": "block"}, "dtick": 1},
                  "yaxis": {"title": {"text": "max |residual|"}}}  # fmt: skip
        prov = data.provenance("activations", "scalars: resid max_abs_ever (last step)", ever)
        sec.figures.append(
            Fig("F6", "Max outlier ever per block", {"data": traces, "layout": layout}, prov)
        )
    line_fig(data, sec, "loss", "Loss on the evaluation batch", "activations",
             [("model", "", "loss")], per_block=False)  # fmt: skip
    return sec


def spectra_section(data: Data) -> Section:
    """F15 (singular-value spectra, ESD alpha) and F16 (closeness of SVD directions)."""
    sec = Section("spectra", "Spectra and singular directions (F15, F16)",
                  "MLP spectra turn power-law early; attention dense stays flat; top singular "
                  "directions settle late, larger models more stably.")  # fmt: skip
    sv = data.arrays("spectra", kind="singular_values", component=list(MATRICES), param="weight")
    sv = sv[sv.block.notna()]
    if sv.empty:
        sec.missing.append(data.hint("F15", "Singular-value spectra", "spectra"))
    for model, part in sv.groupby("model", sort=True):
        comps = [c for c in MATRICES if c in set(part.component)]
        steps = picked_steps(part)
        spec = hf.spectra_figure(
            part, comps, steps, f"F15: singular values, log rank vs log value, {model}"
        )
        prov = data.provenance(
            "spectra", "arrays: singular_values (log-spaced ranks shown)", part, len(steps)
        )
        sec.figures.append(Fig("F15", f"Singular-value spectra, {model}", spec, prov))
    line_fig(data, sec, "F15", "Power-law exponent alpha of each matrix's ESD", "spectra",
             [(c, "weight", "alpha") for c in MATRICES], per_block=True)  # fmt: skip
    line_fig(data, sec, "F16", "Closeness of top singular directions to the final checkpoint",
             "svd_directions", [("all", "all", "svd_exact"), ("all", "all", "svd_overlap")],
             per_block=False)  # fmt: skip
    line_fig(data, sec, "F16", "Closeness to the final checkpoint per block (set overlap)",
             "svd_directions", [("mlp_in", "weight", "svd_overlap"),
                                ("mlp_out", "weight", "svd_overlap"), ("ov", "all", "svd_overlap")],
             per_block=True)  # fmt: skip
    return sec


def embeddings_section(data: Data) -> Section:
    """F13: token-embedding correlation heatmaps (byte set per step, token set at the end)."""
    sec = Section("embeddings", "Embedding structure (F13)",
                  "Byte structure (digits, letters with and without space) appears early and stays.")  # fmt: skip
    kinds = ["embed_corr", "embed_order", "embed_corr_tokens", "embed_order_tokens"]
    n_models = max(1, data.tasks[data.tasks.analysis == "embeddings"].model.nunique())
    cap = max(2, min(MAX_HEATMAP_FRAMES, HEATMAP_FRAME_BUDGET // n_models))
    arrays = data.arrays("embeddings", cap, component="embed", kind=kinds)
    if arrays.empty:
        sec.missing.append(data.hint("F13", "Token-embedding correlations", "embeddings"))
        return sec
    sets = (("embed_corr", "embed_order", "byte tokens", True),
            ("embed_corr_tokens", "embed_order_tokens", "first non-byte tokens", False))  # fmt: skip
    for model in model_order(arrays.model):
        for corr_kind, order_kind, name, animated in sets:
            rows = frames_for(arrays, model, corr_kind)
            if rows.empty:
                continue
            steps = picked_steps(rows, cap) if animated else None
            spec = heatmap_figure(rows, final_order(arrays, model, order_kind), steps,
                                  f"F13: embedding correlations of {name}, {model}")  # fmt: skip
            prov = data.provenance("embeddings", f"arrays: {corr_kind}; order: {order_kind} of "
                                   "the last stored step", rows, len(steps) if steps else 1)  # fmt: skip
            if rows["meta"].iloc[-1]:
                prov["token set"] = str(rows["meta"].iloc[-1])
            sec.figures.append(Fig("F13", f"{name}, {model}", spec, prov))
    return sec


SECTIONS: tuple[Callable[[Data], Section], ...] = (
    weights_section, distributions_section, activations_section, spectra_section,
    embeddings_section,
)  # fmt: skip
