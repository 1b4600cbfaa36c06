"""Architecture adapters: raw parameter names -> canonical (component, block, param).

Each architecture is one small registered module. Canonical tensors use the
``nn.Linear`` orientation ``[out_features, in_features]``; embeddings are ``[vocab, d_model]``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ckptscope.errors import UnknownArchitectureError

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


ReadFn = Callable[[Component], torch.Tensor]


class Adapter(ABC):
    """Maps one architecture's checkpoints onto canonical components."""

    name: ClassVar[str]
    #: values of ``config["model_type"]`` this adapter handles
    model_types: ClassVar[tuple[str, ...]]

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    # -- shapes read from config.json -------------------------------------------------
    @property
    @abstractmethod
    def n_layers(self) -> int: ...

    @property
    @abstractmethod
    def d_model(self) -> int: ...

    @property
    @abstractmethod
    def n_heads(self) -> int: ...

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def parallel_residual(self) -> bool:
        return False

    # -- names ------------------------------------------------------------------------
    @abstractmethod
    def canonical(self, raw_name: str) -> Component | None:
        """The canonical place of a raw tensor name; None for non-parameters (buffers)."""

    @abstractmethod
    def raw_name(self, comp: Component) -> str:
        """The raw tensor name that holds ``comp`` (inverse of ``canonical``)."""

    def to_canonical(self, comp: Component, tensor: torch.Tensor) -> torch.Tensor:
        """Reorient a raw tensor to the canonical layout (e.g. GPT-2's Conv1D transpose)."""
        return tensor

    @abstractmethod
    def heads(self, read: ReadFn, block: int) -> HeadWeights:
        """Split block ``block``'s attention into per-head Q, K, V, O (canonical reads)."""

    def expected_shape(self, comp: Component) -> tuple[int, ...] | None:
        """The canonical shape the config implies, or None when not checked."""
        return None


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
