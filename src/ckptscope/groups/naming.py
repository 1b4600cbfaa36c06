"""A model's group from its name: (suite, size, variant, seed).

Names parsed (the suffix order of the Hugging Face repos, docs/comparisons.md):

* Pythia: ``pythia-160m`` (size ``160m``, variant ``standard``, seed 0),
  ``pythia-160m-deduped``, ``pythia-160m-seed3``, ``pythia-160m-deduped-seed1``,
  ``pythia-160m-v0``; an ``org/`` prefix is ignored.
* the offline trainer (``train/config.py``, ``model_name``): ``w64`` (seed 0),
  ``w64-seed1``, ``w64l4-seed2``; its experiments put their variant between size and seed:
  ``w64-init_sampled-seed1`` (size ``w64``, variant ``init_sampled``).
* any other name: a trailing ``-seedN`` is the seed, the rest the size; variant
  ``standard``.

A name without a seed suffix is seed 0, as the trainer names its first seed (for Pythia:
the original run, the one the ``-seedN`` runs repeat with other seeds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: the variant of a model without a variant suffix
STANDARD = "standard"

_PYTHIA = re.compile(
    r"^pythia-(?P<size>\d+(?:\.\d+)?[kmb])(?P<variant>(?:-(?:deduped|v0))*)(?:-seed(?P<seed>\d{1,6}))?$"
)
_TRAINER = re.compile(
    r"^(?P<size>w\d+(?:l\d+)?)(?:-(?P<variant>(?!seed\d)[a-z][a-z0-9_]*))?(?:-seed(?P<seed>\d{1,6}))?$"
)
_SEED = re.compile(r"^(?P<base>.+?)-seed(?P<seed>\d{1,6})$")


@dataclass(frozen=True)
class ModelGroup:
    """One model of a store and its group: seeds of one (suite, size, variant) are a group."""

    suite: str
    model: str
    size: str
    variant: str = STANDARD
    seed: int = 0

    @property
    def label(self) -> str:
        """The group's name within its suite: ``w64``, ``160m-deduped``."""
        return self.size if self.variant == STANDARD else f"{self.size}-{self.variant}"

    @property
    def group(self) -> str:
        """The group's name in the store: ``suite/label`` (``demo/w64``)."""
        return f"{self.suite}/{self.label}"

    @property
    def key(self) -> tuple[str, str, str]:
        """(suite, size, variant): what the seeds of a group share."""
        return (self.suite, self.size, self.variant)


def parse_model(suite: str, model: str) -> ModelGroup:
    """The group of ``model`` of ``suite``, parsed from its name (see the module docstring)."""
    name = model.rsplit("/", 1)[-1]
    m = _PYTHIA.match(name.lower())
    if m:
        variant = m.group("variant").strip("-") or STANDARD
        seed = int(m.group("seed")) if m.group("seed") else 0
        return ModelGroup(suite, model, m.group("size"), variant, seed)
    t = _TRAINER.match(name)
    if t:
        seed = int(t.group("seed")) if t.group("seed") else 0
        return ModelGroup(suite, model, t.group("size"), t.group("variant") or STANDARD, seed)
    s = _SEED.match(name)
    if s:
        return ModelGroup(suite, model, s.group("base"), STANDARD, int(s.group("seed")))
    return ModelGroup(suite, model, name, STANDARD, 0)
