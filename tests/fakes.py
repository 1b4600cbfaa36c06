"""Test doubles: an in-memory suite and a toy architecture adapter.

Kept apart from conftest so tests import them by name.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

import torch

from ckptscope.adapters.base import Adapter, Component, HeadWeights, register_adapter
from ckptscope.errors import CheckpointError
from ckptscope.sources.base import Checkpoint, Suite, TensorInfo

TOY_NAME = re.compile(r"blocks\.(\d+)\.(\w+)\.(weight|bias)")


@register_adapter
class ToyAdapter(Adapter):
    """Names: ``embed.weight``, ``blocks.N.<component>.<param>``, ``ln_final.weight``."""

    name = "toy"
    model_types = ("toy",)

    @property
    def n_layers(self) -> int:
        return int(self.config["n_layers"])

    @property
    def d_model(self) -> int:
        return int(self.config["d_model"])

    @property
    def n_heads(self) -> int:
        return 1

    def canonical(self, raw_name: str) -> Component | None:
        m = TOY_NAME.fullmatch(raw_name)
        if m:
            return Component(m.group(2), int(m.group(1)), m.group(3))
        comp, _, param = raw_name.partition(".")
        return Component(comp, None, param)

    def raw_name(self, comp: Component) -> str:
        if comp.block is None:
            return f"{comp.component}.{comp.param}"
        return f"blocks.{comp.block}.{comp.component}.{comp.param}"

    def heads(self, read: Any, block: int) -> HeadWeights:
        raise NotImplementedError


class FakeCheckpoint(Checkpoint):
    def __init__(self, model: str, step: int, tensors: dict[str, torch.Tensor], fail: bool) -> None:
        self.model, self.step, self._t, self._fail = model, step, tensors, fail

    def config(self) -> dict[str, Any]:
        return {"model_type": "toy", "n_layers": 2, "d_model": 4}

    def tensors(self) -> list[TensorInfo]:
        return [
            TensorInfo(k, tuple(v.shape), str(v.dtype).removeprefix("torch."))
            for k, v in self._t.items()
        ]

    def read(self, name: str) -> torch.Tensor:
        if self._fail:
            raise CheckpointError(f"fake/{self.model}/step{self.step}: tensor {name!r} is corrupt")
        return self._t[name].clone()


class FakeSuite(Suite):
    """Two blocks, random tensors that drift with the step; ``corrupt`` steps fail to read."""

    def __init__(
        self, name: str = "fake", models=("a", "b"), steps=(0, 1, 2, 4), corrupt=()
    ) -> None:
        self.name, self._models, self._steps, self._corrupt = (
            name,
            list(models),
            list(steps),
            set(corrupt),
        )

    def models(self) -> list[str]:
        return self._models

    def steps(self, model: str) -> list[int]:
        return self._steps

    def tensors_at(self, model: str, step: int) -> dict[str, torch.Tensor]:
        # crc32, not hash(): str hashes differ between processes, and workers must agree
        g = torch.Generator().manual_seed(zlib.crc32(f"{model}/init".encode()))
        out = {
            "embed.weight": torch.randn(10, 4, generator=g),
            "ln_final.weight": torch.ones(4),
        }
        for b in range(2):
            out[f"blocks.{b}.mlp_in.weight"] = torch.randn(8, 4, generator=g)
            out[f"blocks.{b}.mlp_in.bias"] = torch.zeros(8)
        g2 = torch.Generator().manual_seed(step + 1)
        return {
            k: (v + 0.1 * step * torch.randn(v.shape, generator=g2)).to(
                torch.float16 if "mlp" in k else torch.float32
            )
            for k, v in out.items()
        }

    def open(self, model: str, step: int) -> Checkpoint:
        return FakeCheckpoint(
            model, step, self.tensors_at(model, step), (model, step) in self._corrupt
        )
