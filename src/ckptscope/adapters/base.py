"""Architecture adapters: raw parameter names -> canonical (component, block, param).

Each architecture is one small registered module. Canonical tensors use the
``nn.Linear`` orientation ``[out_features, in_features]``; embeddings are ``[vocab, d_model]``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ckptscope.errors import UnknownArchitectureError

if TYPE_CHECKING:
    import torch

# Canonical component names, in the order figures list them.
COMPONENTS: tuple[str, ...] = (
    "embed",
    "pos_embed",  # learned position embeddings (GPT-2's wpe)
    "ln1",
    "qkv",
    "q",
    "k",
    "v",
    "q_norm",  # OLMo-2's norms on the query and key projections
    "k_norm",
    "attn_out",
    "ln2",
    "mlp_in",
    "mlp_gate",  # gated MLPs (Llama/OLMo): the gate half of the input projection
    "mlp_out",
    "ln_final",
    "unembed",
)
MATRIX_COMPONENTS: frozenset[str] = frozenset(
    {
        "embed",
        "pos_embed",
        "qkv",
        "q",
        "k",
        "v",
        "attn_out",
        "mlp_in",
        "mlp_gate",
        "mlp_out",
        "unembed",
    }
)


@dataclass(frozen=True, order=True)
class Component:
    """Where a tensor sits in the model: ``block`` is None for embed, unembed and ln_final."""

    component: str
    block: int | None
    param: str  # "weight" or "bias"

    def label(self) -> str:
        where = "" if self.block is None else f".{self.block}"
        return f"{self.component}{where}.{self.param}"


@dataclass(frozen=True)
class HeadWeights:
    """Per-head attention weights of one block, split with the architecture's layout."""

    q: torch.Tensor  # (n_heads, d_head, d_model)
    k: torch.Tensor  # (n_heads, d_head, d_model)
    v: torch.Tensor  # (n_heads, d_head, d_model)
    o: torch.Tensor  # (n_heads, d_model, d_head)


ReadFn = Callable[[Component], "torch.Tensor"]


class Adapter(ABC):
    """Maps one architecture's checkpoints onto canonical components."""

    name: ClassVar[str]
    #: values of ``config["model_type"]`` this adapter handles
    model_types: ClassVar[tuple[str, ...]]

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    #: config.json keys of the shapes: Hugging Face's standard names by default
    config_keys: ClassVar[dict[str, str]] = {
        "n_layers": "num_hidden_layers",
        "d_model": "hidden_size",
        "n_heads": "num_attention_heads",
        "d_mlp": "intermediate_size",
    }

    # -- shapes read from config.json -------------------------------------------------
    @property
    def n_layers(self) -> int:
        return int(self.config[self.config_keys["n_layers"]])

    @property
    def d_model(self) -> int:
        return int(self.config[self.config_keys["d_model"]])

    @property
    def n_heads(self) -> int:
        return int(self.config[self.config_keys["n_heads"]])

    @property
    def d_mlp(self) -> int:
        """The MLP width (4 x d_model when the config leaves it out)."""
        return int(self.config.get(self.config_keys["d_mlp"]) or 4 * self.d_model)

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def parallel_residual(self) -> bool:
        return False

    # -- names ------------------------------------------------------------------------
    #: In-memory parameter name -> stored name, where a ``transformers`` model names a
    #: tensor in memory otherwise than in the files ``save_pretrained`` writes; raw names
    #: (``canonical``, ``raw_name``) are the stored ones.
    memory_names: ClassVar[dict[str, str]] = {}

    def stored_name(self, memory_name: str) -> str:
        """The name ``save_pretrained`` stores an in-memory parameter under."""
        return self.memory_names.get(memory_name, memory_name)

    @abstractmethod
    def canonical(self, raw_name: str) -> Component | None:
        """The canonical place of a raw tensor name; None for non-parameters (buffers)."""

    @abstractmethod
    def raw_name(self, comp: Component) -> str:
        """The raw tensor name that holds ``comp`` (inverse of ``canonical``)."""

    def to_canonical(self, comp: Component, tensor: torch.Tensor) -> torch.Tensor:
        """Reorient a raw tensor to the canonical layout (e.g. GPT-2's Conv1D transpose).

        An adapter whose reorientation only transposes (or otherwise permutes) elements
        overrides :meth:`canonical_shape` to match: element-wise statistics then read the
        stored tensor as it is, without torch (``CheckpointContext.read_host``).
        """
        return tensor

    def canonical_shape(self, comp: Component, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape :meth:`to_canonical` gives a stored tensor of ``shape`` (no data read).

        An adapter that overrides :meth:`to_canonical` and not this gets it from
        ``to_canonical`` on an empty meta tensor (which imports torch).
        """
        if not self.custom_reorientation():
            return tuple(shape)
        import torch

        return tuple(self.to_canonical(comp, torch.empty(shape, device="meta")).shape)

    def custom_reorientation(self) -> bool:
        """Whether :meth:`to_canonical` is overridden without :meth:`canonical_shape`: then it
        is not known to only transpose, and element-wise reads go through it (torch)."""
        cls = type(self)
        return (
            cls.to_canonical is not Adapter.to_canonical
            and cls.canonical_shape is Adapter.canonical_shape
        )

    @abstractmethod
    def heads(self, read: ReadFn, block: int) -> HeadWeights:
        """Split block ``block``'s attention into per-head Q, K, V, O (canonical reads)."""

    def expected_shape(self, comp: Component) -> tuple[int, ...] | None:
        """The canonical shape the config implies, or None when not checked."""
        return None

    def fused_qkv_shapes(self) -> dict[str, tuple[int, ...]]:
        """Weight shapes ``[out, in]`` of a GPT-style block (fused qkv, 4x MLP, LayerNorms);
        a bias has the weight's first dimension (see :meth:`shape_for`)."""
        d, vocab = self.d_model, int(self.config["vocab_size"])
        return {"embed": (vocab, d), "unembed": (vocab, d), "qkv": (3 * d, d),
                "attn_out": (d, d), "mlp_in": (self.d_mlp, d), "mlp_out": (d, self.d_mlp),
                "ln1": (d,), "ln2": (d,), "ln_final": (d,)}  # fmt: skip

    @staticmethod
    def shape_for(comp: Component, shapes: dict[str, tuple[int, ...]]) -> tuple[int, ...] | None:
        """``comp``'s shape from a table of weight shapes (a bias: the first dimension)."""
        shape = shapes.get(comp.component)
        if shape is None:
            return None
        return shape if comp.param == "weight" else shape[:1]


_REGISTRY: dict[str, type[Adapter]] = {}


def register_adapter(cls: type[Adapter]) -> type[Adapter]:
    """Class decorator: make an adapter available to ``get_adapter``."""
    for model_type in cls.model_types:
        _REGISTRY[model_type] = cls
    return cls


def supported_model_types() -> list[str]:
    """The ``model_type`` values with a registered adapter."""
    return sorted(_REGISTRY)


def get_adapter(config: dict[str, Any]) -> Adapter:
    """The registered adapter for a Hugging Face config, or a clear error listing those known."""
    model_type = config.get("model_type")
    cls = _REGISTRY.get(str(model_type))
    if cls is None:
        raise UnknownArchitectureError(
            f"no adapter for model_type {model_type!r}; supported: {', '.join(supported_model_types())}"
        )
    return cls(config)
