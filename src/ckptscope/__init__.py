"""ckptscope: how a language model's internals evolve over training.

``import ckptscope as cs`` gives the Python API: ``cs.sweep`` (``api.py``), ``cs.Store``,
``cs.figure`` (a matplotlib or plotly Figure from the catalogue), ``cs.findings`` (the
post's findings as verdicts, a DataFrame), ``cs.reference`` (a shipped dataset as a
read-only store: the post's own Pythia numbers), ``cs.open_suite``, ``cs.ModelSource``
(models held in memory as a suite), ``cs.SweepConfig``, ``cs.Watcher`` (analyse a model
while it trains: ``watch/``), ``cs.TensorBoardExporter`` and ``cs.WandbExporter`` (a store's
rows to TensorBoard or W&B, ``export/``), ``cs.group_table`` (every model's suite, size,
variant and seed) and ``cs.compare`` (two groups of runs side by side,
``groups/compare.py``). Names load on first use, so importing the package stays fast and
imports neither torch nor matplotlib. ``cs.init_from_final`` runs the init-from-final
training experiment (``experiments/``).
"""

from importlib import import_module
from typing import Any

#: the one place the version is written (``pyproject.toml`` reads it from here); a
#: literal, not ``importlib.metadata``, whose import took 45-90 ms of ``import ckptscope``
__version__ = "0.1.0"

#: public name -> module that defines it
_API = {
    "sweep": "ckptscope.api",
    "Store": "ckptscope.store",
    "open_suite": "ckptscope.sources",
    "ModelSource": "ckptscope.sources",
    "SweepConfig": "ckptscope.engine.sweep",
    "figure": "ckptscope.figures",
    "reference": "ckptscope.references",
    "init_from_final": "ckptscope.experiments",
    "TensorBoardExporter": "ckptscope.export",
    "WandbExporter": "ckptscope.export",
    "compare": "ckptscope.groups",
    "group_table": "ckptscope.groups",
    "Watcher": "ckptscope.watch",
}

__all__ = ["__version__", "findings", *_API]


def __getattr__(name: str) -> Any:
    if name == "findings":  # a callable package: ``cs.findings(store)`` (findings/__init__.py)
        return import_module("ckptscope.findings")
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'ckptscope' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
