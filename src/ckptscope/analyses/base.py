"""What an analysis is: a named function from one checkpoint to small typed records.

The sweep opens a checkpoint once, builds a :class:`CheckpointContext` around it, and hands
that context to every pending analysis. Tensors read through the context are cached for
the duration of one checkpoint, so several analyses never read a tensor twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ckptscope.adapters.base import Adapter, Component
from ckptscope.analyses.options import names, parse
from ckptscope.errors import CheckpointError
from ckptscope.models.cache import WorkerCache
from ckptscope.records import (
    Array,
    Bookkeeping,
    Derived,
    DerivedScalar,
    Event,
    Label,
    Record,
    Scalar,
    StoreReader,
    metric_records,
)
from ckptscope.sources.base import Checkpoint
from ckptscope.sources.host import HostTensor

if TYPE_CHECKING:
    import torch

# The records live in ``ckptscope/records.py`` (below both analyses and store); they are
# re-exported here for the analyses that import them from this module.
__all__ = [
    "Analysis",
    "AnalysisSkipped",
    "Array",
    "Bookkeeping",
    "CheckpointContext",
    "Derivation",
    "Derived",
    "DerivedScalar",
    "Event",
    "Label",
    "Record",
    "Scalar",
    "StoreReader",
    "SweepOptions",
    "metric_records",
]


T = TypeVar("T")


def scalars_for(comp: Component, metrics: dict[str, float]) -> Iterator[Scalar | Bookkeeping]:
    """Records for several metrics of one component (bookkeeping names as Bookkeeping)."""
    yield from metric_records(comp.component, comp.block, comp.param, metrics)


@dataclass(frozen=True)
class SweepOptions:
    """Options every analysis may read (set by the sweep config)."""

    device: str = "cpu"
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class CheckpointContext:
    """One checkpoint as analyses see it: canonical tensors, references, options.

    ``initial`` and ``previous`` are the suite's first checkpoint of the same model and the
    checkpoint before this one (None at the first step), for distances. ``analyses`` are
    the analyses the sweep runs on this checkpoint; ``cache`` is the sweep worker's
    :class:`~ckptscope.models.cache.WorkerCache` (built models, the evaluation batch), the
    only state that outlives a checkpoint; ``shared`` holds what analyses of this
    checkpoint compute once for each other (the evaluation pass) and dies with it.
    """

    def __init__(
        self,
        suite_name: str,
        checkpoint: Checkpoint,
        adapter: Adapter,
        *,
        initial: Checkpoint | None = None,
        previous: Checkpoint | None = None,
        options: SweepOptions | None = None,
        analyses: tuple[str, ...] = (),
        cache: WorkerCache | None = None,
        cache_bytes: int = 512 * 2**20,
    ) -> None:
        self.suite = suite_name
        self.checkpoint = checkpoint
        self.adapter = adapter
        self.initial = initial
        self.previous = previous
        self.options = options or SweepOptions()
        self.analyses = analyses
        self.cache = cache if cache is not None else WorkerCache()
        self.shared: dict[Hashable, Any] = {}
        self._cache: OrderedDict[tuple[str, Component, str | None], torch.Tensor] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._cached = 0
        self.bytes_read = 0
        self._mapping: dict[Component, str] | None = None

    @property
    def model(self) -> str:
        return self.checkpoint.model

    @property
    def step(self) -> int:
        return self.checkpoint.step

    def components(self) -> list[Component]:
        """Every canonical component of this checkpoint, each exactly once, sorted."""
        return sorted(self._components())

    def _components(self) -> dict[Component, str]:
        if self._mapping is None:
            mapping: dict[Component, str] = {}
            for info in self.checkpoint.tensors():
                comp = self.adapter.canonical(info.name)
                if comp is None:
                    continue
                if comp in mapping:
                    raise CheckpointError(
                        f"{self.model} step {self.step}: tensors {mapping[comp]!r} and "
                        f"{info.name!r} both map to {comp.label()}"
                    )
                mapping[comp] = info.name
            self._mapping = mapping
        return self._mapping

    def _ckpt(self, which: str) -> Checkpoint:
        ckpt = {"current": self.checkpoint, "initial": self.initial, "previous": self.previous}[
            which
        ]
        if ckpt is None:
            raise ValueError(f"no {which} checkpoint for {self.model} step {self.step}")
        return ckpt

    def _check_shape(self, ckpt: Checkpoint, comp: Component, raw: str, shape: tuple) -> None:
        """CheckpointError unless ``shape`` (canonical) is the one the config implies."""
        expected = self.adapter.expected_shape(comp)
        if expected is not None and tuple(shape) != tuple(expected):
            raise CheckpointError(
                f"{ckpt.model} step {ckpt.step}: tensor {raw!r} has shape {tuple(shape)}, "
                f"config implies {tuple(expected)}"
            )

    def read(
        self,
        comp: Component,
        which: str = "current",
        *,
        dtype: torch.dtype | str | None = "float32",
        cache: bool = True,
    ) -> torch.Tensor:
        """A canonical tensor, float32 by default; ``which`` is current/initial/previous.

        ``dtype`` is a torch dtype or its name; ``dtype=None`` returns the stored dtype (no
        upcast copy: for code that upcasts chunk by chunk itself); ``cache=False`` neither
        stores the tensor nor evicts others (for a tensor read once, so that it is freed as
        soon as the caller drops it).
        """
        import torch

        ckpt = self._ckpt(which)
        if isinstance(dtype, str):
            named = getattr(torch, dtype, None)
            if not isinstance(named, torch.dtype):
                raise ValueError(f"unknown dtype {dtype!r} (a torch dtype name, e.g. float32)")
            dtype = named
        key = (which, comp, None if dtype is None else str(dtype))
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        raw = self.adapter.raw_name(comp)
        tensor = ckpt.read(raw)
        self.bytes_read += tensor.numel() * tensor.element_size()
        tensor = self.adapter.to_canonical(comp, tensor)
        self._check_shape(ckpt, comp, raw, tuple(tensor.shape))
        if dtype is not None:
            # float32 for every analysis: fp16/bf16 statistics overflow and lose precision.
            tensor = tensor.to(dtype)
        size = tensor.numel() * tensor.element_size()
        if cache and size <= self._cache_bytes:
            self._cache[key] = tensor
            self._cached += size
            while self._cached > self._cache_bytes:
                _, old = self._cache.popitem(last=False)
                self._cached -= old.numel() * old.element_size()
        return tensor

    def read_host(self, comp: Component, which: str = "current") -> HostTensor:
        """A tensor's stored elements as a :class:`HostTensor`, uncached, in its stored
        dtype and stored order (not reoriented: for element-wise statistics, which a
        transpose does not change); its shape is checked like :meth:`read`'s.

        Reads through NumPy where the checkpoint can (safetensors files): no torch import.
        An adapter that reorients without saying how the shape changes
        (``Adapter.custom_reorientation``) is read through :meth:`read` instead, canonical.
        """
        if self.adapter.custom_reorientation():
            return HostTensor.from_torch(self.read(comp, which, dtype=None, cache=False))
        ckpt = self._ckpt(which)
        raw = self.adapter.raw_name(comp)
        host = ckpt.read_host(raw)
        self.bytes_read += host.nbytes
        self._check_shape(ckpt, comp, raw, self.adapter.canonical_shape(comp, host.shape))
        return host

    def release(self) -> None:
        """Drop cached tensors and what the analyses shared."""
        self._cache.clear()
        self._cached = 0
        self.shared.clear()


class AnalysisSkipped(Exception):
    """Raised by an analysis that cannot run on this suite (no tokenizer, no data).

    The sweep logs the reason once and treats the task as skipped, not failed.
    """


class Analysis(ABC):
    """A named analysis. ``run`` yields records for one checkpoint."""

    name: ClassVar[str]
    #: what it needs besides the checkpoint: "initial", "previous", "tokenizer", "data"
    requires: ClassVar[frozenset[str]] = frozenset()
    #: bump when the records an analysis writes change meaning (stored with each part)
    version: ClassVar[int] = 1
    #: the frozen dataclass of its options (``--set NAME=VALUE``, ``options.py``); None: none
    Options: ClassVar[type | None] = None
    #: the option names it reads (the fields of ``Options``); others are refused
    options: ClassVar[frozenset[str]] = frozenset()

    #: whether ``run_series`` does better than ``run`` on each context in turn (the sweep
    #: then hands it consecutive checkpoints of one model at once)
    series: ClassVar[bool] = False

    @abstractmethod
    def run(self, ctx: CheckpointContext) -> Iterable[Record]:
        """Records for one checkpoint."""

    def run_series(self, ctxs: Sequence[CheckpointContext]) -> list[list[Record] | Exception]:
        """Records of each of ``ctxs`` (one model's checkpoints in step order), or the
        exception that failed it: one checkpoint's failure does not fail the others."""
        out: list[list[Record] | Exception] = []
        for ctx in ctxs:
            try:
                out.append(list(self.run(ctx)))
            except Exception as err:
                out.append(err)
        return out

    def parse_options(self, extra: Mapping[str, Any]) -> Any:
        """Its ``Options`` from the sweep's options; ValueError naming a bad value.

        The sweep calls it once before any task runs (one line, exit code 1), and ``run``
        calls it again with the same values, so a value that passes cannot fail a task.
        """
        return None if self.Options is None else parse(self.Options, extra)


_ANALYSES: dict[str, type[Analysis]] = {}


def register_analysis(cls: type[Analysis]) -> type[Analysis]:
    """Class decorator: make an analysis selectable by name in sweeps."""
    if cls.Options is not None:
        cls.options = names(cls.Options)
    _ANALYSES[cls.name] = cls
    return cls


def available_analyses() -> list[str]:
    """Names of every registered analysis."""
    from ckptscope.analyses import load_all

    load_all()
    return sorted(_ANALYSES)


def get_analysis(name: str) -> Analysis:
    """An instance of the registered analysis ``name``.

    Imports only the built-in module of that name when it registers it (start-up of a
    sweep that runs one analysis), else every module.
    """
    import importlib.util

    from ckptscope.analyses import load_all

    if name not in _ANALYSES:
        module = f"ckptscope.analyses.{name}"
        if (
            isinstance(name, str)
            and name.isidentifier()
            and not name.startswith("_")
            and name != "base"
            and importlib.util.find_spec(module) is not None
        ):
            importlib.import_module(module)
        if name not in _ANALYSES:
            load_all()
    try:
        return _ANALYSES[name]()
    except KeyError:
        raise ValueError(
            f"unknown analysis {name!r}; available: {', '.join(sorted(_ANALYSES))}"
        ) from None


class Derivation(ABC):
    """A computation over the whole store after a sweep (trajectories, closeness to final).

    ``derive`` reads with ``store.query(sql)`` and returns everything it finds; the store
    replaces the derivation's previous output atomically, so it can run after every sweep.
    """

    name: ClassVar[str]

    @abstractmethod
    def derive(self, store: StoreReader) -> Derived:
        """Derived rows and events from the store's current contents."""


_DERIVATIONS: dict[str, type[Derivation]] = {}


def register_derivation(cls: type[Derivation]) -> type[Derivation]:
    """Class decorator: run this derivation after every sweep."""
    _DERIVATIONS[cls.name] = cls
    return cls


def available_derivations() -> list[Derivation]:
    """An instance of every registered derivation."""
    from ckptscope.analyses import load_derivations

    load_derivations()
    return [cls() for _, cls in sorted(_DERIVATIONS.items())]
