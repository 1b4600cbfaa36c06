"""The models of a store as groups, and the filters that choose some of them.

:func:`model_groups` reads every (suite, model) of a store and gives each its
:class:`~.naming.ModelGroup` (from its name, or a groups file); :func:`group_table` is the
same as a tidy DataFrame. :func:`select_runs` applies ``--suites/--models/--groups``
(each checked against the store first: a name it lacks is refused in one line) and
returns :class:`Runs`, what figures draw: which (suite, model) pairs, how lines are
labelled, and which seeds are drawn as a mean with a band.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from ckptscope.errors import UsageError
from ckptscope.groups.mapping import apply_mapping, load_mapping
from ckptscope.groups.naming import ModelGroup, parse_model

#: how seeds of a group are drawn: min-max band, mean +- one sample sd, or each seed alone
BANDS = ("minmax", "sd", "none")
GROUP_COLUMNS = ["suite", "model", "size", "variant", "seed", "group", "n_seeds"]


class Queryable(Protocol):
    """What the groups read from a store (a ``Store`` or a reference dataset)."""

    def query(self, sql: str) -> pd.DataFrame: ...


def model_groups(store: Queryable, groups_file: str | Path | None = None) -> list[ModelGroup]:
    """Every model of ``store`` with its group, by suite then name.

    Two models of one suite that land on the same (size, variant, seed) are refused: a
    groups file must tell them apart.
    """
    df = store.query(
        "select distinct suite, model from tasks union select distinct suite, model from scalars"
    )
    pairs = sorted({(str(s), str(m)) for s, m in zip(df["suite"], df["model"], strict=True)})
    groups = [parse_model(s, m) for s, m in pairs]
    if groups_file is not None:
        groups = apply_mapping(groups, load_mapping(groups_file), groups_file)
    seen: dict[tuple[str, str, str, int], str] = {}
    for g in groups:
        key = (*g.key, g.seed)
        if key in seen:
            raise UsageError(
                f"models {seen[key]!r} and {g.model!r} of suite {g.suite!r} are both size "
                f"{g.size!r}, variant {g.variant!r}, seed {g.seed}: give a groups file "
                "(--groups-file, docs/comparisons.md) that tells them apart"
            )
        seen[key] = g.model
    return groups


def group_table(store: Queryable, groups_file: str | Path | None = None) -> pd.DataFrame:
    """One row per model: suite, model, size, variant, seed, group, n_seeds (of its group)."""
    groups = model_groups(store, groups_file)
    counts: dict[str, int] = defaultdict(int)
    for g in groups:
        counts[g.group] += 1
    rows = [(g.suite, g.model, g.size, g.variant, g.seed, g.group, counts[g.group]) for g in groups]
    return pd.DataFrame(rows, columns=GROUP_COLUMNS)


@dataclass(frozen=True)
class Runs:
    """The chosen models with their groups, and how line figures draw a group's seeds.

    ``band``: ``minmax`` (default) draws a group of two or more seeds as its mean with a
    band from the lowest to the highest seed; ``sd`` as the mean +- one sample standard
    deviation (ddof=1); ``none`` draws every seed as its own line.
    """

    models: tuple[ModelGroup, ...]
    band: str = "minmax"
    #: whether a filter chose them (else: every model of the store)
    filtered: bool = False
    #: the groups file that grouped them (None: their names did)
    groups_file: str | None = None

    def __post_init__(self) -> None:
        if self.band not in BANDS:
            raise UsageError(f"--band {self.band!r}; bands: {', '.join(BANDS)}")

    def restrict(self, store: Any) -> Any:
        """``store`` seen through the chosen models only (itself when nothing was filtered)."""
        return store.for_models(self.pairs) if self.filtered else store

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """(suite, model) of every chosen model."""
        return tuple((g.suite, g.model) for g in self.models)

    @property
    def names(self) -> tuple[str, ...] | None:
        """The chosen models' bare names, what row filters of a :meth:`restrict`-ed store
        match (``model IN (...)``; ``--models suite/model`` is resolved here), or None when
        nothing was filtered (every model)."""
        if not self.filtered:
            return None
        return tuple(sorted({g.model for g in self.models}))

    @property
    def several_suites(self) -> bool:
        return len({g.suite for g in self.models}) > 1

    def label(self, suite: str, model: str) -> str:
        """A model's name on a figure: ``suite/model`` when the figure holds several suites."""
        return f"{suite}/{model}" if self.several_suites else model

    def group_label(self, g: ModelGroup, n_seeds: int) -> str:
        """A group's line: ``w64 (3 seeds)``, ``demo/w64 (3 seeds)`` with several suites."""
        name = g.group if self.several_suites else g.label
        return f"{name} ({n_seeds} seeds)"

    def seed_groups(self) -> dict[tuple[str, str], str]:
        """(suite, model) -> its group's line label, for groups of two or more seeds drawn
        with a band (none when ``band`` is ``none``)."""
        if self.band == "none":
            return {}
        by_group: dict[tuple[str, str, str], list[ModelGroup]] = defaultdict(list)
        for g in self.models:
            by_group[g.key].append(g)
        out = {}
        for members in by_group.values():
            if len(members) >= 2:
                label = self.group_label(members[0], len(members))
                out.update({(g.suite, g.model): label for g in members})
        return out


def _names(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(str(v).strip() for v in items if str(v).strip())
    return names or None


def _check(option: str, asked: Sequence[str], known: set[str], store: Any) -> None:
    missing = [a for a in asked if a not in known]
    if missing:
        listing = ", ".join(sorted(known)[:20]) or "none"
        where = getattr(store, "location", "the store")
        raise UsageError(f"{option}: no {missing[0]!r} in {where}; known: {listing}")


def select_runs(
    store: Queryable,
    *,
    suites: str | Iterable[str] | None = None,
    models: str | Iterable[str] | None = None,
    groups: str | Iterable[str] | None = None,
    groups_file: str | Path | None = None,
    band: str = "minmax",
) -> Runs:
    """The models the filters choose (all when none is given), as :class:`Runs`.

    ``suites``: suite names; ``models``: model names (``suite/model`` for one suite's);
    ``groups``: group names (``suite/label`` as :func:`group_table` lists them, or the
    ``label`` alone, e.g. ``w64``, for that group in every suite). Filters combine (a model
    must pass each one given); each name must be in the store.
    """
    if band not in BANDS:
        raise UsageError(f"--band {band!r}; bands: {', '.join(BANDS)}")
    every = model_groups(store, groups_file)
    want_suites, want_models, want_groups = _names(suites), _names(models), _names(groups)
    chosen = every
    if want_suites:
        _check("--suites", want_suites, {g.suite for g in every}, store)
        chosen = [g for g in chosen if g.suite in want_suites]
    if want_models:
        known = {g.model for g in every} | {f"{g.suite}/{g.model}" for g in every}
        _check("--models", want_models, known, store)
        chosen = [g for g in chosen if {g.model, f"{g.suite}/{g.model}"} & set(want_models)]
    if want_groups:
        known = {g.group for g in every} | {g.label for g in every}
        _check("--groups", want_groups, known, store)
        chosen = [g for g in chosen if {g.group, g.label} & set(want_groups)]
    filtered = bool(want_suites or want_models or want_groups)
    if filtered and not chosen:
        raise UsageError("the --suites/--models/--groups filters together choose no model")
    return Runs(tuple(chosen), band, filtered, None if groups_file is None else str(groups_file))
