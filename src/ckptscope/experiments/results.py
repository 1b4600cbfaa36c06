"""The experiment's result, read back from its store: bands, steps to target, summary files."""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ckptscope.errors import CkptscopeError
from ckptscope.experiments.curves import (
    Spread,
    compare,
    seed_bands,
    spread,
    steps_to_target,
    trailing_mean,
)
from ckptscope.experiments.inits import INITS

if TYPE_CHECKING:
    from ckptscope.experiments.init_from_final import InitFromFinalConfig, Run
    from ckptscope.experiments.source import SourceModel
    from ckptscope.store import Store


@dataclass(frozen=True)
class InitRow:
    """One init over its seeds: steps to the target loss, initial and final held-out loss."""

    init: str
    heldout_steps: Spread  # first checkpoint at or below the target
    train_steps: Spread  # first step whose trailing-mean train loss is at or below it
    initial_heldout: Spread  # step 0
    final_heldout: Spread
    per_seed: dict[int, int | None]  # seed -> held-out steps to target


@dataclass(frozen=True)
class InitFromFinalResult:
    """Where the experiment wrote its files, the target and the per-init rows."""

    out: Path
    store: Path
    target: float
    target_rule: str
    smooth: int
    rows: tuple[InitRow, ...]
    verdicts: dict[str, str]  # init -> steps to target and final loss against standard
    figure: Path
    markdown: Path
    html: Path


def curves(store: Store, suite: str, runs: list[Run]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, held-out) loss rows with columns init, seed, step, value."""
    info = pd.DataFrame([{"model": r.name, "init": r.init, "seed": r.seed} for r in runs])
    out = []
    for metric in ("train_loss", "heldout_loss"):
        rows = store.for_suite(suite).scalars(metric=metric, component="model")
        rows = rows.merge(info, on="model")[["init", "seed", "step", "value"]]
        missing = set(info.model) - set(store.for_suite(suite).scalars(metric=metric).model)
        if missing:
            raise CkptscopeError(f"store has no {metric} rows of {sorted(missing)[0]}")
        out.append(rows.sort_values(["init", "seed", "step"]).reset_index(drop=True))
    return out[0], out[1]


def smoothed(train: pd.DataFrame, window: int) -> pd.DataFrame:
    """The train loss as a trailing mean over ``window`` steps, per (init, seed)."""
    parts = []
    for _, g in train.groupby(["init", "seed"], sort=True):
        g = g.sort_values("step")
        parts.append(g.assign(value=trailing_mean(g.value.to_numpy(), window)))
    return pd.concat(parts, ignore_index=True)


def analyse(
    train: pd.DataFrame, heldout: pd.DataFrame, target: float | None, factor: float, window: int
) -> tuple[float, str, list[InitRow]]:
    """The target (given, or ``factor`` x the standard init's final held-out loss) and rows."""
    last = heldout[heldout.step == heldout.step.max()]
    if target is None:
        std = last[last.init == "standard"].value
        target = float(std.mean()) * factor
        rule = (f"{factor:g} x the standard init's final held-out loss (mean over seeds, "
                f"{float(std.mean()):.4f})")  # fmt: skip
    else:
        rule = "given (--target)"
    smooth = smoothed(train, window)
    rows = []
    for init in [i for i in INITS if i in set(heldout.init)]:
        per_seed, per_train = {}, []
        for seed, g in heldout[heldout.init == init].groupby("seed", sort=True):
            per_seed[int(seed)] = steps_to_target(list(g.step), list(g.value), target)
        for _, g in smooth[smooth.init == init].groupby("seed", sort=True):
            per_train.append(steps_to_target(list(g.step), list(g.value), target))
        first = heldout[(heldout.init == init) & (heldout.step == heldout.step.min())].value
        rows.append(
            InitRow(
                init=init,
                heldout_steps=spread(list(per_seed.values())),
                train_steps=spread(per_train),
                initial_heldout=spread(list(first)),
                final_heldout=spread(list(last[last.init == init].value)),
                per_seed=per_seed,
            )
        )
    return target, rule, rows


def verdicts(rows: list[InitRow]) -> dict[str, str]:
    """Each init against the standard one, on held-out steps to target over seeds."""
    std = next((r for r in rows if r.init == "standard"), None)
    out = {}
    for r in rows:
        if std is None or r.init == "standard":
            continue
        speed = {
            "lower": "reached the target faster than standard (every seed)",
            "higher": "reached the target slower than standard (every seed)",
            "overlap": "steps to target not distinguishable from standard (seed ranges overlap)",
        }[compare(r.heldout_steps, std.heldout_steps)]
        final = {
            "lower": "final held-out loss lower than standard (every seed)",
            "higher": "final held-out loss higher than standard (every seed)",
            "overlap": "final held-out loss not distinguishable from standard (ranges overlap)",
        }[compare(r.final_heldout, std.final_heldout)]
        out[r.init] = f"{speed}; {final}"
    return out


def summarise(
    store: Store,
    suite: str,
    runs: list[Run],
    source: SourceModel,
    config: InitFromFinalConfig,
    out: Path,
) -> InitFromFinalResult:
    """Read the curves back from the store, and write the figure, markdown, HTML and JSON."""
    from ckptscope.plots.bands import band_panels
    from ckptscope.plots.style import save

    train, heldout = curves(store, suite, runs)
    target, rule, rows = analyse(train, heldout, config.target, config.target_factor,
                                 config.smooth)  # fmt: skip
    verdict = verdicts(rows)
    fig = band_panels(
        [("held-out loss (checkpoints)", "loss (nats/token)", seed_bands(heldout)),
         (f"train loss, trailing mean of {config.smooth} steps", "loss (nats/token)",
          seed_bands(smoothed(train, config.smooth)))],
        order=[r.init for r in rows],
        hlines={0: (target, f"target {target:.3f}"), 1: (target, f"target {target:.3f}")},
        title=f"init-from-final: {source.model} of {source.suite_dir.name}, "
              f"{len(config.seeds)} seeds",
    )  # fmt: skip
    figure = save(fig, out / "loss_curves")[0]
    result = InitFromFinalResult(out, out / "store", target, rule, config.smooth, tuple(rows),
                                 verdict, figure, out / "summary.md", out / "summary.html")  # fmt: skip
    lines = table_lines(result, source, config)
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    (out / "summary.html").write_text(_html(lines, figure.name))
    (out / "result.json").write_text(json.dumps(_jsonable(result), indent=2) + "\n")
    return result


def table_lines(
    result: InitFromFinalResult, source: SourceModel, config: InitFromFinalConfig
) -> list[str]:
    """The markdown summary: setup, the steps-to-target table, the verdicts."""
    head = [
        f"# init-from-final: {source.model} of `{source.suite_dir}`",
        "",
        f"Seeds {', '.join(map(str, config.seeds))}; final weights from step "
        f"{source.final_step}. Target loss {result.target:.4f}: {result.target_rule}.",
        "Steps to target: the first checkpoint whose held-out loss is at or below the target, "
        f"and the first step whose train loss (trailing mean of {result.smooth} steps) is. "
        "Each cell: mean over seeds (min-max).",
        "",
        "| init | steps to target (held-out) | steps to target (train) | "
        "held-out loss at step 0 | final held-out loss |",
        "|---|---|---|---|---|",
    ]
    body = [
        f"| {r.init} | {r.heldout_steps.text()} | {r.train_steps.text()} | "
        f"{r.initial_heldout.text(3)} | {r.final_heldout.text(4)} |"
        for r in result.rows
    ]
    tail = ["", *(f"- {init}: {v}" for init, v in result.verdicts.items()), "",
            f"![loss curves]({result.figure.name})"]  # fmt: skip
    return head + body + tail


def _html(lines: list[str], figure: str) -> str:
    """A small page of the markdown summary: the table as a table, the figure inline."""
    parts = ["<!doctype html><meta charset='utf-8'><title>init-from-final</title>",
             "<style>body{font-family:sans-serif;max-width:70em}td,th{border:1px solid #ccc;"
             "padding:2px 6px}table{border-collapse:collapse}</style>"]  # fmt: skip
    rows = [line for line in lines if line.startswith("|") and not line.startswith("|---")]
    for line in lines:
        if line.startswith("# "):
            parts.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("- "):
            parts.append(f"<p>{html.escape(line[2:])}</p>")
        elif line and not line.startswith(("|", "![")):
            parts.append(f"<p>{html.escape(line)}</p>")
    cells = [[html.escape(c.strip()) for c in r.strip("|").split("|")] for r in rows]
    if cells:
        parts.append("<table>" + "".join(
            "<tr>" + "".join(f"<{t}>{c}</{t}>" for c in row) + "</tr>"
            for row, t in zip(cells, ["th"] + ["td"] * (len(cells) - 1), strict=True)
        ) + "</table>")  # fmt: skip
    parts.append(f"<p><img src='{html.escape(figure)}' alt='loss curves'></p>")
    return "\n".join(parts) + "\n"


def _jsonable(result: InitFromFinalResult) -> dict[str, Any]:
    d = asdict(result)
    for key in ("out", "store", "figure", "markdown", "html"):
        d[key] = str(d[key])
    return d
