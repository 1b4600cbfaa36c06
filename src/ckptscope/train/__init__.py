"""Train ckptscope's own Pythia-like checkpoint suite on the CPU (or a GPU)."""

from ckptscope.train.config import PRESETS, ModelSize, SuiteConfig, TrainConfig, preset
from ckptscope.train.loop import TrainProgress, resolve_config, train_suite
from ckptscope.train.model import build_model, neox_config, pythia_init
from ckptscope.train.objective import heldout_loss
from ckptscope.train.schedule import checkpoint_steps, lr_at, warmup_steps
from ckptscope.train.suite import MANIFEST, read_manifest

__all__ = [
    "MANIFEST",
    "PRESETS",
    "ModelSize",
    "SuiteConfig",
    "TrainConfig",
    "TrainProgress",
    "build_model",
    "checkpoint_steps",
    "heldout_loss",
    "lr_at",
    "neox_config",
    "preset",
    "pythia_init",
    "read_manifest",
    "resolve_config",
    "train_suite",
    "warmup_steps",
]
