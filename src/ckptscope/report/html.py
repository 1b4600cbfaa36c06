"""One self-contained interactive HTML report of a store: works from disk, no network.

The page: a header (suites, store, version), a section per finding of the post (weights
F7-F12/F14, distributions F1/F2, activations F3-F6, spectra F15/F16, embeddings F13),
then tables of detected phase changes, checkpoint-integrity warnings, failed tasks and
provenance. plotly.js is inlined once; each figure is a ``<div class="plot">`` plus a
``<script type="application/json">`` spec drawn by ``assets/report.js``; animated figures
carry plotly frames and a step slider. A Content-Security-Policy forbids every fetch.

Escaping: every string from a checkpoint, tokenizer or the store (token labels, model
names, messages) is HTML-escaped where it becomes markup, and escaped for plotly too
(plotly renders a pseudo-HTML subset, and shows ``&lt;`` as ``<``). JSON inside
``<script>`` has ``<``, ``>`` and ``&`` written as ``\\u003c`` etc., so nothing can close
the tag. Sections are built from whatever rows the store holds; a figure with no data
names the sweep that would fill it. Drawing only: series are thinned to at most
``MAX_FRAMES`` evenly spaced steps (``MAX_HEATMAP_FRAMES`` for 256x256 heatmaps),
histograms rebinned for display, spectra shown at log-spaced ranks.
"""

from __future__ import annotations

import html
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from plotly.offline import get_plotlyjs

from ckptscope import __version__
from ckptscope.plots.embeddings import even_pick, final_order, frames_for
from ckptscope.plots.weights import WEIGHT_FIGURES
from ckptscope.report import html_figures as hf
from ckptscope.report.figures import ReportOptions
from ckptscope.report.html_figures import heatmap_figure, plot_text
from ckptscope.store import Store, schema

__all__ = ["esc", "heatmap_figure", "plot_text", "script_json", "write_html_report"]

log = logging.getLogger(__name__)

MAX_FRAMES = 60
MAX_HEATMAP_FRAMES = 30  # per model; a 256x256 int8 frame is ~87 kB of base64
HEATMAP_FRAME_BUDGET = 120  # over all models: ~10 MB of heatmaps at most
DISPLAY_BINS = 121
MAX_TABLE_ROWS = 500
MATRICES = ("qkv", "attn_out", "mlp_in", "mlp_out")
EVENT_COLUMNS = ("model", "step", "component", "block", "param", "metric", "kind", "message")
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                 "\u2029": "\\u2029"}  # fmt: skip
_CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:")  # fmt: skip


def esc(value: Any) -> str:
    """Text for HTML markup (element content or attribute value)."""
    return html.escape(str(value), quote=True)


def script_json(obj: Any) -> str:
    """JSON safe inside ``<script>``: ``<``, ``>``, ``&`` (and U+2028/9) as ``\\uXXXX``."""
    text = json.dumps(obj, separators=(",", ":"), default=str, allow_nan=False)
    for char, code in _JSON_ESCAPES.items():
        text = text.replace(char, code)
    return text


# -- the page model -------------------------------------------------------------------


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
            "models": ", ".join(sorted(map(str, set(rows["model"])))) if len(rows) else "",
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

_WEIGHT_FINDINGS = {
    "F7": "MLP norms rise, peak, then decline under weight decay; less so in larger models.",
    "F8": "Attention norms behave alike with more spread; late blocks' QKV grows most.",
    "F9": "MLP biases rise and level off well above their zero init.",
    "F10": "LayerNorm weights rise or fall by depth; biases rise, most in early blocks.",
    "F11": "Distance from init tracks the norms; block 0's MLP in moves least.",
    "F12": "Unembedding and final LayerNorm norms are idiosyncratic per size.",
    "F14": "The embedding norm rises, then slowly decays.",
    "update": "How far each matrix moves between consecutive checkpoints.",
}


def line_fig(data: Data, sec: Section, fig_id: str, title: str, analysis: str,
             rows: Sequence[tuple[str, str, str]], per_block: bool, caption: str = "") -> None:  # fmt: skip
    """Add a scalars-vs-step figure to ``sec``, or the sweep that would fill it."""
    df = data.scalars[data.scalars.metric.isin({m for _, _, m in rows})]
    spec = hf.lines_figure(df, rows, f"{fig_id}: {title}", per_block, data.opts.log_steps)
    if spec is None:
        sec.missing.append(data.hint(fig_id, title, analysis))
        return
    used = pd.concat([hf.select(df, *r) for r in rows])
    source = "scalars: " + ", ".join(sorted({f"{c}.{p} {m}".replace(". ", " ") for c, p, m in rows}))
    caption = f"{title}. {caption}" if caption else title
    sec.figures.append(Fig(fig_id, caption, spec, data.provenance(analysis, source, used)))


def weights_section(data: Data) -> Section:
    """F7-F12, F14 and update sizes from the ``weights`` analysis."""
    sec = Section("weights", "Weight norms and distances (F7-F12, F14)",
                  "Norms rise, peak between 20k and 40k steps, then decline under weight decay.")  # fmt: skip
    for fig_id, (title, rows, per_block) in WEIGHT_FIGURES.items():
        line_fig(data, sec, fig_id, title, "weights", rows, per_block,
                 _WEIGHT_FINDINGS.get(fig_id, ""))  # fmt: skip
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
    hist = data.arrays("distributions", kind="hist", component=list(MATRICES), param="weight")
    if not hist.empty:
        from ckptscope.stats.histogram import pool_histograms

        hist = pool_histograms(hist, by=("suite", "model", "step", "component")).assign(kind="hist")
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
        sec.figures.append(Fig("F6", "Max outlier ever per block", {"data": traces, "layout": layout}, prov))
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
        spec = hf.spectra_figure(part, comps, steps, f"F15: singular values, log rank vs log value, {model}")
        prov = data.provenance("spectra", "arrays: singular_values (log-spaced ranks shown)", part, len(steps))
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
    for model in sorted(set(arrays.model)):
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


# -- tables ---------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None or (np.ndim(value) == 0 and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def table_html(df: pd.DataFrame, columns: Sequence[str], empty: str, pre: Sequence[str] = ()) -> str:
    """An escaped HTML table of ``columns`` (at most ``MAX_TABLE_ROWS`` rows)."""
    if df.empty:
        return f'<p class="note">{esc(empty)}</p>'
    cols = [c for c in columns if c in df]
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = []
    for row in df.head(MAX_TABLE_ROWS)[cols].itertuples(index=False):
        cells = [f"<td><pre>{esc(_cell(v))}</pre></td>" if c in pre else f"<td>{esc(_cell(v))}</td>"
                 for c, v in zip(cols, row, strict=True)]  # fmt: skip
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = len(df) - MAX_TABLE_ROWS
    tail = f'<p class="note">{more} more rows: use <code>ckptscope query</code></p>' if more > 0 else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{tail}"


def events_html(data: Data) -> tuple[str, str]:
    """(phase changes, checkpoint-integrity and other warnings) as HTML tables."""
    ev = data._keep(data.store.events())
    phase = ev[ev.kind.astype(str).str.contains("phase")]
    other = ev.drop(phase.index)
    return (table_html(phase, EVENT_COLUMNS, "No phase changes detected (or none searched for)."),
            table_html(other, (*EVENT_COLUMNS, "source"), "No checkpoint-integrity warnings."))  # fmt: skip


def provenance_html(data: Data, static_paths: Sequence[Path], out_path: Path) -> str:
    """Suites, models and steps, analyses run, evaluation batches, versions, static files."""
    generated = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    items = {"ckptscope": __version__, "store": data.store.root.resolve(), "generated": generated,
             "suites": ", ".join(data.suites()) or "none"}  # fmt: skip
    parts = ['<dl class="prov">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items.items()) + "</dl>"]
    t = data.tasks
    if len(t):
        models = t.groupby(["suite", "model"]).step.agg(["nunique", "min", "max"]).reset_index()
        models.columns = ["suite", "model", "steps", "first step", "last step"]
        parts.append("<h3>Models</h3>" + table_html(models, models.columns, ""))
        runs = t.groupby("analysis").agg(
            version=("version", lambda v: ", ".join(map(str, sorted(set(v))))),
            tasks=("step", "size"), seconds=("seconds", "sum"),
            ckptscope=("ckptscope", lambda v: ", ".join(sorted(set(v))))).reset_index()  # fmt: skip
        runs["seconds"] = runs["seconds"].round(1)
        parts.append("<h3>Analyses run</h3>" + table_html(runs, runs.columns, ""))
        metas = t[t.meta.fillna("{}") != "{}"].groupby(["analysis", "meta"]).size()
        metas = metas.reset_index(name="tasks").head(40)
        parts.append("<h3>Task options and data batches</h3>"
                     + table_html(metas, ["analysis", "tasks", "meta"], "No task metadata.", pre=["meta"]))  # fmt: skip
    batch = data._keep(data.store.arrays(kind="eval_batch_info"))
    if len(batch):
        batch = batch.assign(shape=[" x ".join(str(int(x)) for x in v) for v in batch["values"]])
        batch = batch.drop_duplicates(["model", "param", "meta"])
        parts.append("<h3>Evaluation batches</h3>"
                     + table_html(batch, ["model", "param", "shape", "meta"], "", pre=["meta"]))  # fmt: skip
    if static_paths:
        base = out_path.resolve().parent
        links = [f'<li><a href="{esc(Path(os.path.relpath(Path(p).resolve(), base)).as_posix())}">'
                 f"{esc(Path(p).name)}</a></li>" for p in static_paths]  # fmt: skip
        parts.append(f"<h3>Static figures (files beside this report)</h3><ul>{''.join(links)}</ul>")
    return "".join(parts)


# -- the page -------------------------------------------------------------------------


def _asset(name: str) -> str:
    return resources.files("ckptscope.report").joinpath("assets", name).read_text(encoding="utf-8")


def figure_html(fig: Fig, index: int) -> str:
    """A figure container: plot div, its JSON spec, caption and provenance."""
    prov = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in fig.provenance.items())
    return (f'<figure class="ckfig" id="fig-{index}" data-figure="{esc(fig.fig_id)}">'
            f'<div class="plot" id="fig-{index}-plot" data-spec="fig-{index}-spec"></div>'
            f'<script type="application/json" id="fig-{index}-spec">{script_json(fig.spec)}</script>'
            f"<figcaption><b>{esc(fig.fig_id)}</b>: {esc(fig.title)}"
            f'<details class="prov"><summary>provenance</summary><dl class="prov">{prov}</dl>'
            f"</details></figcaption></figure>")  # fmt: skip


def section_html(sec: Section, first_index: int) -> str:
    """A finding's section: its figures, notes and the sweeps that would fill the gaps."""
    parts = [f'<section id="{esc(sec.key)}"><h2>{esc(sec.title)}</h2>',
             f'<p class="finding">{esc(sec.finding)}</p>']  # fmt: skip
    parts += [figure_html(fig, first_index + i) for i, fig in enumerate(sec.figures)]
    parts += [f'<p class="note">{esc(note)}</p>' for note in sec.notes]
    parts += [f'<p class="missing">{esc(line)}</p>' for line in sec.missing]
    return "".join(parts) + "</section>"


def build_sections(data: Data) -> list[Section]:
    """Every section; one that fails on odd rows becomes a note, not a failed report."""
    sections = []
    for build in SECTIONS:
        try:
            sections.append(build(data))
        except (KeyError, ValueError, IndexError, ImportError) as err:
            key = build.__name__.removesuffix("_section")
            log.warning("report section %s failed: %s", key, err)
            sections.append(Section(key, key.title(), "", notes=[f"could not draw this section: {err}"]))
    return sections


def write_html_report(
    store: Store, out_path: Path, opts: ReportOptions, static_paths: list[Path] | None = None
) -> Path:
    """Write the interactive report of ``store`` to ``out_path``; returns the path."""
    start = time.perf_counter()
    data = Data(store, opts)
    sections = build_sections(data)
    body, index = [], 0
    for sec in sections:
        body.append(section_html(sec, index))
        index += len(sec.figures)
    phase, warnings = events_html(data)
    failures = data._keep(store.failures())
    fail_cols = ["suite", "model", "step", "analysis", "error", "time"]
    body.append(
        f'<section id="events"><h2>Detected phase changes</h2>{phase}</section>'
        f'<section id="integrity"><h2>Checkpoint-integrity warnings</h2>{warnings}</section>'
        f'<section id="failures"><h2>Failed tasks</h2>'
        f"{table_html(failures, fail_cols, 'No failed tasks.', pre=['error'])}</section>"
        f'<section id="provenance"><h2>Provenance</h2>'
        f"{provenance_html(data, static_paths or [], Path(out_path))}</section>"
    )
    links = [(s.key, s.title) for s in sections] + [
        ("events", "Phase changes"), ("integrity", "Integrity"), ("failures", "Failures"),
        ("provenance", "Provenance")]  # fmt: skip
    nav = "".join(f'<a href="#{esc(k)}">{esc(t)}</a>' for k, t in links)
    suites = esc(", ".join(data.suites()) or "empty store")
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f"<title>ckptscope report: {suites}</title><style>{_asset('report.css')}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<header><h1>ckptscope report: {suites}</h1><p>{index} interactive figures from "
        f"{esc(store.root)}; ckptscope {esc(__version__)}</p></header>"
        f"<nav>{nav}</nav><main>{''.join(body)}</main>"
        f"<script>{_asset('report.js')}</script></body></html>\n"
    )
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out_path)
    log.info("wrote %s (%.1f MB, %d figures) in %.1f s", out_path, len(page) / 1e6, index,
             time.perf_counter() - start)  # fmt: skip
    return out_path
