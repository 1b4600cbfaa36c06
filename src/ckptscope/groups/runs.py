"""The models of a store as groups, and the filters that choose some of them.

:func:`model_groups` reads every (suite, model) of a store and gives each its
:class:`~.naming.ModelGroup` (from its name, or a groups file); :func:`group_table` is the
same as a tidy DataFrame. :func:`select_runs` applies ``--suites/--models/--groups``
(each checked against the store first: a name it lacks is refused in one line) and
returns :class:`Runs`, what figures draw: which (suite, model) pairs, how lines are
labelled, and which seeds are drawn as a mean with a band.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from ckptscope.errors import UsageError
from ckptscope.groups.mapping import apply_mapping, load_mapping
from ckptscope.groups.naming import STANDARD, ModelGroup, parse_model

log = logging.getLogger(__name__)

#: how seeds of a group are drawn: min-max band, mean +- one sample sd, or each seed alone
BANDS = ("minmax", "sd", "none")
GROUP_COLUMNS = ["suite", "model", "size", "variant", "seed", "group", "n_seeds"]


class Queryable(Protocol):
    """What the groups read from a store (a ``Store`` or a reference dataset)."""

    def query(self, sql: str) -> pd.DataFrame: ...


def model_groups(
    store: Queryable, groups_file: str | Path | None = None, *, split_collisions: bool = False
) -> list[ModelGroup]:
    """Every model of ``store`` with its group, by suite then name.

    Two models of one suite that land on the same (size, variant, seed) (``x-seed1`` and
    ``x-seed01``; hub repos ``EleutherAI/pythia-160m`` and ``myorg/pythia-160m``) are
    refused in one line: a groups file must tell them apart. With ``split_collisions``
    (what reports, findings and figures without ``--groups`` ask for) each such model is
    instead a group of its own, labelled by its name, and a warning is logged; ``compare``
    and ``--groups``, which name groups, refuse.
    """
    df = store.query(
        "select distinct suite, model from tasks union select distinct suite, model from scalars"
    )
    pairs = sorted({(str(s), str(m)) for s, m in zip(df["suite"], df["model"], strict=True)})
    groups = [parse_model(s, m) for s, m in pairs]
    if groups_file is not None:
        groups = apply_mapping(groups, load_mapping(groups_file), groups_file)
    clashes = _collisions(groups)
    if clashes and split_collisions:
        alone = {(g.suite, g.model) for clash in clashes for g in clash}
        for clash in clashes:
            g = clash[0]
            log.warning(
                "models %s of suite %r are all size %r, variant %r, seed %d: each is drawn as "
                "a group of its own (a groups file, --groups-file, tells them apart)",
                ", ".join(repr(m.model) for m in clash), g.suite, g.size, g.variant, g.seed,
            )  # fmt: skip
        groups = [ModelGroup(g.suite, g.model, g.model, STANDARD, 0)
                  if (g.suite, g.model) in alone else g for g in groups]  # fmt: skip
        clashes = _collisions(groups)  # a model's own name could still be another's size
    if clashes:
        a, b = clashes[0][:2]
        raise UsageError(
            f"models {a.model!r} and {b.model!r} of suite {a.suite!r} are both size "
            f"{a.size!r}, variant {a.variant!r}, seed {a.seed}: give a groups file "
            "(--groups-file, docs/comparisons.md) that tells them apart"
        )
    return groups


def _collisions(groups: list[ModelGroup]) -> list[list[ModelGroup]]:
    """Models sharing a (suite, size, variant, seed), two or more per list, in store order."""
    by_key: dict[tuple[str, str, str, int], list[ModelGroup]] = defaultdict(list)
    for g in groups:
        by_key[(*g.key, g.seed)].append(g)
    return [same for same in by_key.values() if len(same) > 1]


def group_table(store: Queryable, groups_file: str | Path | None = None) -> pd.DataFrame:
    """One row per model: suite, model, size, variant, seed, group, n_seeds (of its group);
    models whose names collide are listed as groups of their own (:func:`model_groups`)."""
    groups = model_groups(store, groups_file, split_collisions=True)
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
    must pass each one given); each name must be in the store. Models whose names parse
    to the same group are groups of their own (a warning is logged), except with
    ``groups``, which is then refused in one line (:func:`model_groups`).
    """
    if band not in BANDS:
        raise UsageError(f"--band {band!r}; bands: {', '.join(BANDS)}")
    want_suites, want_models, want_groups = _names(suites), _names(models), _names(groups)
    # colliding model names: groups of their own, unless --groups names groups to choose
    every = model_groups(store, groups_file, split_collisions=not want_groups)
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
