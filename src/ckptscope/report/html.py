"""One self-contained interactive HTML report of a store: works from disk, no network.

The page (this module: markup, tables, escaping; :mod:`.sections`: what each section
shows, from the figure catalogue :mod:`ckptscope.figures`): a header (suites, store,
version), a section per finding of the post (weights F7-F12/F14, distributions F1/F2,
activations F3-F6, spectra F15/F16, embeddings F13),
opening with the replication table (each finding of the post: the verdict this suite
gives, ``report/replication.py``), then tables of detected phase changes, checkpoint-integrity warnings, failed tasks and
provenance. plotly.js is inlined once; each figure is a ``<div class="plot">`` plus a
``<script type="application/json">`` spec drawn by ``assets/report.js``; animated figures
carry plotly frames and a step slider. A Content-Security-Policy forbids every fetch.

Escaping: every string from a checkpoint, tokenizer or the store (token labels, model
names, messages) is HTML-escaped where it becomes markup, and escaped for plotly too
(plotly renders a pseudo-HTML subset, and shows ``&lt;`` as ``<``). JSON inside
``<script>`` has ``<``, ``>`` and ``&`` written as ``\\u003c`` etc., so nothing can close
the tag. Sections are built from whatever rows the store holds; a figure with no data
names the sweep that would fill it. Drawing only: series are thinned to at most
``max_frames`` evenly spaced steps (fewer for 256x256 heatmaps), histograms rebinned for
display, spectra shown at log-spaced ranks.
"""

from __future__ import annotations

import html
import json
import logging
import os
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from plotly.offline import get_plotlyjs

from ckptscope import __version__
from ckptscope.figures import FIGURES, FigureSpec
from ckptscope.figures.catalogue import Query
from ckptscope.report.replication import replication_html, seed_share_html, suite_lines
from ckptscope.report.sections import (
    Fig,
    FigureViews,
    PageData,
    Section,
    build_sections,
    page_views,
)
from ckptscope.store import Store

__all__ = ["esc", "script_json", "write_html_report", "write_page"]

log = logging.getLogger(__name__)

MAX_TABLE_ROWS = 500
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


# -- tables ---------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None or (np.ndim(value) == 0 and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def table_html(
    df: pd.DataFrame, columns: Sequence[str], empty: str, pre: Sequence[str] = ()
) -> str:
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
    tail = (
        f'<p class="note">{more} more rows: use <code>ckptscope query</code></p>'
        if more > 0
        else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{tail}"


def events_html(data: PageData) -> tuple[str, str]:
    """(phase changes, checkpoint-integrity and other warnings) as HTML tables."""
    ev = data.events
    phase = ev[ev.kind.astype(str).str.contains("phase")]
    other = ev.drop(phase.index)
    return (table_html(phase, EVENT_COLUMNS, "No phase changes detected (or none searched for)."),
            table_html(other, (*EVENT_COLUMNS, "source"), "No checkpoint-integrity warnings."))  # fmt: skip


def provenance_html(data: PageData, static_paths: Sequence[Path], out_path: Path) -> str:
    """Suites, models and steps, analyses run, evaluation batches, versions, static files."""
    generated = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    items = {"ckptscope": __version__, "store": data.store.location, "generated": generated,
             "suites": ", ".join(data.suites()) or "none"}  # fmt: skip
    parts = [
        '<dl class="prov">'
        + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items.items())
        + "</dl>"
    ]
    parts += [f'<p class="note">{esc(note)}</p>' for note in data.notes]
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
        t = t.assign(meta=[_shown_meta(m) for m in t.meta])  # bookkeeping differs per task
        metas = t[t.meta != "{}"].groupby(["analysis", "meta"]).size()
        metas = metas.reset_index(name="tasks").head(40)
        parts.append("<h3>Task options and data batches</h3>"
                     + table_html(metas, ["analysis", "tasks", "meta"], "No task metadata.", pre=["meta"]))  # fmt: skip
    batch = data.batches
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


#: task meta that differs per task, not per analysis: the per-tensor bookkeeping and the
#: reference steps (the Models table has the steps); left out so options show once
PER_TASK_META = ("bookkeeping", "initial_step", "previous_step", "final_step")


def _shown_meta(meta: str | None) -> str:
    """A task's meta without what differs per task (:data:`PER_TASK_META`)."""
    try:
        doc = json.loads(meta or "{}")
    except ValueError:
        return str(meta)
    if isinstance(doc, dict):
        for key in PER_TASK_META:
            doc.pop(key, None)
    return json.dumps(doc, sort_keys=True)


#: rows of a comparison's summary shown on the page (``ckptscope compare`` prints all)
MAX_COMPARISON_ROWS = 60


def comparisons_html(data: PageData, index: int) -> tuple[str, int]:
    """The comparison section (empty without comparable groups) and the next figure index."""
    from ckptscope.report.comparisons import comparison_views

    runs = data.query.runs
    views = comparison_views(data.store, runs.groups_file if runs is not None else None)
    if not views:
        return "", index
    parts = ['<section id="comparisons"><h2>Comparisons across runs</h2><p class="finding">'
             "Groups of the same size in another variant or suite. A tensor's metric differs "
             "where |mean b - mean a| &gt; max(spread a, spread b), a spread being the highest "
             "minus the lowest seed at that step (0 for one seed, so then every difference "
             "counts); <code>docs/comparisons.md</code>.</p>"]  # fmt: skip
    for v in views:
        n = len(v.summary)
        parts.append(f"<h3>{esc(v.a)} vs {esc(v.b)} ({esc(v.seeds)})</h3>")
        if v.caveat is not None:  # a group of one seed: no spread to weigh differences by
            said = (f"{n} step ranges where a tensor's metric differs; {v.caveat}."
                    if n else f"No tensor's metric differs at any common step; {v.caveat}.")  # fmt: skip
        else:
            said = (f"{n} step ranges where a tensor's metric differs beyond the seed spread"
                    if n else "No tensor's metric differs beyond the seed spread.")  # fmt: skip
        parts.append(f'<p class="note">{esc(said)}</p>')
        if n:
            shown = v.summary.head(MAX_COMPARISON_ROWS)
            parts.append(table_html(shown, list(shown.columns), ""))
            if n > MAX_COMPARISON_ROWS:
                parts.append(f'<p class="note">{n - MAX_COMPARISON_ROWS} more: run <code>'
                             f"ckptscope compare STORE --a {esc(v.a)} --b {esc(v.b)}</code></p>")  # fmt: skip
        if v.spec is not None:
            prov = {"a": v.a, "b": v.b, "seeds": v.seeds, "metric": str(v.metric)}
            fig = Fig("compare", f"{v.a} vs {v.b}: {v.metric}", v.spec, prov,
                      "Not a figure of the post: each group's mean over seeds with its band, and "
                      "b - a shaded +- the larger seed spread.")  # fmt: skip
            parts.append(figure_html(fig, index))
            index += 1
        parts += [f'<p class="note">{esc(note)}</p>' for note in v.notes]
    return "".join(parts) + "</section>", index


# -- the page -------------------------------------------------------------------------


def _asset(name: str) -> str:
    return resources.files("ckptscope.report").joinpath("assets", name).read_text(encoding="utf-8")


def figure_html(fig: Fig, index: int, measured: str = "", anchor: bool = False) -> str:
    """A figure container: plot div, its JSON spec, caption (the post's finding, then what
    this suite shows) and provenance; ``anchor``: the first view of its figure id."""
    prov = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in fig.provenance.items())
    link = f'<span id="figure-{esc(fig.fig_id)}"></span>' if anchor else ""
    return (f'<figure class="ckfig" id="fig-{index}" data-figure="{esc(fig.fig_id)}">{link}'
            f'<div class="plot" id="fig-{index}-plot" data-spec="fig-{index}-spec"></div>'
            f'<script type="application/json" id="fig-{index}-spec">{script_json(fig.spec)}</script>'
            f"<figcaption><b>{esc(fig.fig_id)}</b>: {esc(fig.title)}"
            + (f'<span class="caption"> {esc(fig.caption)}</span>' if fig.caption else "")
            + (f'<br><span class="measured">{esc(measured)}</span>' if measured else "")
            +
            f'<details class="prov"><summary>provenance</summary><dl class="prov">{prov}</dl>'
            f"</details></figcaption></figure>")  # fmt: skip


def section_html(
    sec: Section, first_index: int, measured: dict[str, str], anchored: set[str]
) -> str:
    """A finding's section: its figures, notes and the sweeps that would fill the gaps."""
    parts = [f'<section id="{esc(sec.key)}"><h2>{esc(sec.title)}</h2>',
             f'<p class="finding">{esc(sec.finding)}</p>']  # fmt: skip
    for i, fig in enumerate(sec.figures):
        parts.append(figure_html(fig, first_index + i, measured.get(fig.fig_id, ""),
                                 fig.fig_id not in anchored))  # fmt: skip
        anchored.add(fig.fig_id)
    parts += [f'<p class="note">{esc(note)}</p>' for note in sec.notes]
    parts += [f'<p class="missing">{esc(line)}</p>' for line in sec.missing]
    return "".join(parts) + "</section>"


def write_html_report(
    store: Store,
    out_path: Path,
    query: Query | None = None,
    static_paths: Sequence[Path] | None = None,
    specs: Sequence[FigureSpec] | None = None,
    reference: str | None = None,
) -> Path:
    """Write the interactive report of ``store`` to ``out_path``; returns the path.

    ``specs`` (default: the whole catalogue) are drawn in ``SECTIONS`` order; with
    ``reference`` (a shipped dataset, e.g. ``pythia-2023``) each figure that can is also
    drawn beside it. (``build_report`` draws the files too, from the same queries.)
    """
    with store.pinned():
        data = PageData(store, query or Query(), reference).prefetch()
        views = [page_views(data, s) for s in (list(FIGURES.values()) if specs is None else specs)]
        return write_page(data, views, out_path, static_paths or [])


def write_page(
    data: PageData, views: Sequence[FigureViews], out_path: Path, static_paths: Sequence[Path]
) -> Path:
    """Write the page from prefetched ``data`` and each figure's ``views``; returns the path."""
    start = time.perf_counter()
    store = data.store
    sections = build_sections(views)
    verdicts = data.verdicts if data.verdicts is not None else data.prefetch().verdicts
    assert verdicts is not None
    drawn = {fig.fig_id for sec in sections for fig in sec.figures}
    body = [f'<section id="findings"><h2>The post\'s findings in this suite</h2>'
            f"{replication_html(verdicts, esc, drawn)}{seed_share_html(verdicts, esc)}"
            "</section>"]  # fmt: skip
    measured, anchored, index = suite_lines(verdicts), set(), 0
    for sec in sections:
        body.append(section_html(sec, index, measured, anchored))
        index += len(sec.figures)
    compared, index = comparisons_html(data, index)
    body.append(compared)
    phase, warnings = events_html(data)
    fail_cols = ["suite", "model", "step", "analysis", "error", "time"]
    body.append(
        f'<section id="events"><h2>Detected phase changes</h2>{phase}</section>'
        f'<section id="integrity"><h2>Checkpoint-integrity warnings</h2>{warnings}</section>'
        f'<section id="failures"><h2>Failed tasks</h2>'
        f"{table_html(data.failures, fail_cols, 'No failed tasks.', pre=['error'])}</section>"
        f'<section id="provenance"><h2>Provenance</h2>'
        f"{provenance_html(data, static_paths, Path(out_path))}</section>"
    )
    links = [("findings", "Findings")] + [(s.key, s.title) for s in sections] + [
        *([("comparisons", "Comparisons")] if compared else []),
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
