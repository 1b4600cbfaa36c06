"""Frozen configuration of a training suite: model sizes, the train recipe, presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ckptscope.errors import UsageError


@dataclass(frozen=True)
class ModelSize:
    """One GPT-NeoX size: residual width, number of blocks, heads (MLP width is 4 x width)."""

    width: int
    n_layers: int
    n_heads: int | None = None  # None: head dim 32 below width 512, 64 from 512 (Pythia-like)
    lr: float | None = None  # None: the suite's TrainConfig.lr

    def __post_init__(self) -> None:
        if self.width <= 0 or self.n_layers <= 0:
            raise UsageError(f"model size needs positive width and layers, got {self}")
        if self.width % self.heads or (self.width // self.heads) % 4:
            raise UsageError(
                f"width {self.width} does not split into {self.heads} heads "
                "with a head dim divisible by 4 (rotary needs it)"
            )

    @property
    def heads(self) -> int:
        """The number of attention heads."""
        if self.n_heads is not None:
            return self.n_heads
        return max(1, self.width // (64 if self.width >= 512 else 32))


@dataclass(frozen=True)
class TrainConfig:
    """Pythia's recipe scaled down: Adam, warm-up then cosine decay to 0.1 x peak."""

    steps: int
    batch_size: int  # sequences per optimizer step
    seq_len: int  # tokens per sequence (context length)
    lr: float = 1e-3  # peak learning rate
    warmup_frac: float = 0.01  # Pythia's ``warmup: 0.01``
    min_warmup_steps: int = 5  # so tiny runs still warm up
    min_lr_ratio: float = 0.1  # cosine decays to min_lr_ratio x peak at the last step
    weight_decay: float = 0.1  # decoupled, on matrices only
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    grad_clip: float = 1.0
    n_even_checkpoints: int = 10  # evenly spaced checkpoints after the powers of two
    heldout_tokens: int = 32768  # held-out tokens evaluated at each checkpoint

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "seq_len", "n_even_checkpoints"):
            if getattr(self, name) <= 0:
                raise UsageError(f"train config {name} must be positive, got {getattr(self, name)}")

    @property
    def tokens_per_step(self) -> int:
        """Tokens the model predicts per optimizer step."""
        return self.batch_size * self.seq_len


@dataclass(frozen=True)
class SuiteConfig:
    """Sizes x seeds trained on one token stream with one recipe."""

    name: str
    sizes: tuple[ModelSize, ...]
    train: TrainConfig
    seeds: tuple[int, ...] = (0,)
    vocab_size: int = field(default=4096)

    def __post_init__(self) -> None:
        if not self.sizes:
            raise UsageError("a suite needs at least one model size")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise UsageError(f"seeds must be distinct and non-empty, got {self.seeds}")
        if any(s < 0 for s in self.seeds):
            raise UsageError(f"seeds must be non-negative, got {self.seeds}")
        names = [size_name(s, self.sizes) for s in self.sizes]
        if len(set(names)) != len(names):
            raise UsageError(f"duplicate model sizes: {names}")

    def models(self) -> list[tuple[str, ModelSize, int]]:
        """(model name, size, seed) for every model, sizes outer, seeds inner."""
        return [
            (model_name(size, seed, self.sizes), size, seed)
            for size in self.sizes
            for seed in self.seeds
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (used in the manifest)."""
        return asdict(self)


def size_name(size: ModelSize, sizes: tuple[ModelSize, ...]) -> str:
    """``w<width>``, or ``w<width>l<layers>`` when another size shares the width."""
    same_width = [s for s in sizes if s.width == size.width]
    return f"w{size.width}" if len(same_width) <= 1 else f"w{size.width}l{size.n_layers}"


def model_name(size: ModelSize, seed: int, sizes: tuple[ModelSize, ...]) -> str:
    """``w128`` for seed 0, ``w128-seed1`` for seed 1 (like ``pythia-70m-seed1``)."""
    base = size_name(size, sizes)
    return base if seed == 0 else f"{base}-seed{seed}"


PRESETS: dict[str, SuiteConfig] = {
    # Seconds: for tests.
    "tiny": SuiteConfig(
        name="tiny",
        sizes=(ModelSize(32, 2), ModelSize(64, 2)),
        train=TrainConfig(
            steps=40, batch_size=8, seq_len=32, lr=3e-3, n_even_checkpoints=4, heldout_tokens=2048
        ),
    ),
    # Under 5 minutes with its sweep and report on 2 CPU cores (docs/presets.md): two
    # widths 4 blocks deep, trained at once. A high learning rate and weight decay
    # compress the post's dynamics (heavy-tailed QKV, MLP and embedding norms that peak
    # and decline) into 400 steps.
    "demo": SuiteConfig(
        name="demo",
        sizes=(ModelSize(64, 4), ModelSize(128, 4)),
        train=TrainConfig(
            steps=600,
            batch_size=10,
            seq_len=128,
            lr=6e-3,
            weight_decay=0.5,
            n_even_checkpoints=6,
            heldout_tokens=8192,
        ),
    ),
    # About 40 minutes on 2 CPU cores (docs/presets.md): four sizes, all 6 blocks deep, for
    # the depth and size findings; smaller learning rates for larger models, as in Pythia.
    "study": SuiteConfig(
        name="study",
        sizes=(
            ModelSize(64, 6),
            ModelSize(128, 6),
            ModelSize(192, 6, lr=3e-3),
            ModelSize(256, 6, lr=2.5e-3),
        ),
        train=TrainConfig(
            steps=800,
            batch_size=16,
            seq_len=128,
            lr=4e-3,
            weight_decay=0.3,
            n_even_checkpoints=16,
            heldout_tokens=8192,
        ),
    ),
    # For a GPU (`--device cuda`): Pythia-70m's width and wider, 8 and 12 blocks, 1.87 epochs
    # of the shipped corpus. Not yet run: no GPU was at hand where it was written.
    "reference": SuiteConfig(
        name="reference",
        sizes=(ModelSize(512, 8, lr=2e-3), ModelSize(768, 12, lr=1.2e-3)),
        train=TrainConfig(
            steps=2400,
            batch_size=16,
            seq_len=128,
            lr=2e-3,
            weight_decay=0.3,
            n_even_checkpoints=24,
            heldout_tokens=16384,
        ),
    ),
    # 10-30 minutes on 2 CPU cores; room for the phenomena of the Pythia analyses.
    "small": SuiteConfig(
        name="small",
        sizes=(ModelSize(128, 4), ModelSize(256, 4), ModelSize(512, 6, lr=1e-3)),
        train=TrainConfig(
            steps=600,
            batch_size=8,
            seq_len=256,
            lr=2e-3,
            n_even_checkpoints=20,
            heldout_tokens=16384,
        ),
    ),
}


def preset(name: str) -> SuiteConfig:
    """The named preset; raise UsageError listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise UsageError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None
