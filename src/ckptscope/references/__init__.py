"""Reference datasets shipped with ckptscope, opened like a read-only store.

``pythia-2023`` holds the per-checkpoint weight statistics that the authors of "Basic facts
about language model internals: training dynamics" released for five Pythia sizes (MIT
licence, attribution in ``data/pythia-2023/``), converted by ``convert.py`` (what the lists
hold, units, the step assumption) and built by ``scripts/build_pythia_reference.py``.
``reference("pythia-2023")`` returns a :class:`~ckptscope.store.Store` over it, so
``findings``, ``figure`` and ``query`` read it like a swept store.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ckptscope.errors import UsageError

if TYPE_CHECKING:
    from ckptscope.store import Store


@dataclass(frozen=True)
class Reference:
    """A shipped dataset: what it is, where it came from, under which licence."""

    name: str
    version: int
    description: str
    source: str
    licence: str
    models: tuple[str, ...]
    notes: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


REFERENCES: dict[str, Reference] = {
    "pythia-2023": Reference(
        name="pythia-2023",
        version=1,
        description=(
            "The post's own Pythia weight statistics: std, mean, max per matrix and block "
            "at every 1000th step, norms reconstructed from them, and distances from the "
            "first checkpoint (the released 'norm' and 'diff' lists)."
        ),
        source="BerenMillidge/LM_facts_across_training, weight_statistics/ (the post's authors)",
        licence="MIT",
        models=("pythia-70m", "pythia-160m", "pythia-410m", "pythia-1b", "pythia-1.4b"),
        notes=(
            "Steps are assumed 1000 apart from step 1000 (rows of 142: 1000-142000; rows "
            "of 141: 2000-142000); row 0 is not the initialisation. The released 'norm' "
            "lists of 141 rows equal the 'diff' lists: squared distances from row 0, not "
            "squared norms (70m's weight-matrix 'norm' lists, of 142 rows, are norms). No "
            "embedding, unembedding or final LayerNorm weight norm can be recovered; "
            "activations, spectra and distributions were not released."
        ),
    )
}


def data_dir(name: str) -> Path:
    """The folder of a shipped dataset (a compacted store)."""
    return Path(__file__).resolve().parent / "data" / name


def available() -> list[str]:
    """Names of the shipped reference datasets."""
    return sorted(REFERENCES)


def reference(name: str) -> Store:
    """A shipped dataset as a read-only store (``findings``, ``figure``, ``query`` read it)."""
    from ckptscope.store import Store

    if name not in REFERENCES:
        raise UsageError(f"unknown reference {name!r}; available: {', '.join(available())}")
    folder = data_dir(name)
    if not folder.is_dir():
        raise UsageError(f"reference {name!r} is not installed at {folder}")
    return Store(folder, create=False, read_only=True)
