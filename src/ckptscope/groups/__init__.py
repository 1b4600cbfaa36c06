"""Comparisons across runs: models grouped by (suite, size, variant, seed).

* :mod:`.naming`: a model's group from its name (Pythia, the offline trainer);
* :mod:`.mapping`: a user's groups file for names that do not say it;
* :mod:`.runs`: the groups of a store (a tidy table) and the ``--suites/--models/--groups``
  filters, as :class:`Runs`;
* :mod:`.bands`: a group's seeds as a mean with a band (what line figures draw);
* :mod:`.compare`: two groups side by side, their difference, and where it exceeds the
  seed spread (``cs.compare``).

docs/comparisons.md describes them.
"""

from ckptscope.groups.bands import seed_bands
from ckptscope.groups.compare import Comparison, compare
from ckptscope.groups.mapping import load_mapping
from ckptscope.groups.naming import STANDARD, ModelGroup, parse_model
from ckptscope.groups.runs import BANDS, Runs, group_table, model_groups, select_runs

__all__ = [
    "BANDS",
    "STANDARD",
    "Comparison",
    "ModelGroup",
    "Runs",
    "compare",
    "group_table",
    "load_mapping",
    "model_groups",
    "parse_model",
    "seed_bands",
    "select_runs",
]
