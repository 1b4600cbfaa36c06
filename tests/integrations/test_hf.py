"""The Hugging Face Trainer callback: a sweep's rows of the checkpoints the same run saved."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

import ckptscope as cs
from ckptscope.data import encode_cached, heldout_text, train_text
from ckptscope.errors import UsageError
from ckptscope.integrations.hf import CkptscopeCallback
from watch_toy import EVAL, SEQ, FakeClock, table, tiny

pytestmark = pytest.mark.slow

STEPS, EVERY = 16, 4
SCHEDULE = list(range(0, STEPS + 1, EVERY))  # the steps the Trainer saves (and step 0)
#: activations: the watcher's and the sweep's forward passes run the same fp32 weights on
#: the same token ids, so they agree to float32 rounding at most
ACTIVATION_RTOL = 1e-6


class Windows(torch.utils.data.Dataset):
    """Windows of the shipped training text, as a causal LM's inputs and labels."""

    def __init__(self) -> None:
        ids = torch.from_numpy(encode_cached(train_text()[:40_000]).astype(np.int64))
        self.windows = ids[: len(ids) // SEQ * SEQ].view(-1, SEQ)  # (n, SEQ)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.windows[i], "labels": self.windows[i]}


class Ticks(TrainerCallback):
    """Moves the watcher's clock by 100 s a training step: every analysis fits the budget."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def on_step_begin(self, args, state, control, **kwargs) -> None:
        self.clock.now += 100.0


def run(out: Path, callbacks: list[TrainerCallback]) -> torch.nn.Module:
    model = tiny()
    model.save_pretrained(out / "checkpoint-0")  # the Trainer saves from its first save_steps
    args = TrainingArguments(
        output_dir=str(out), max_steps=STEPS, per_device_train_batch_size=4, learning_rate=3e-3,
        save_strategy="steps", save_steps=EVERY, save_only_model=True, logging_strategy="no",
        report_to="none", use_cpu=True, seed=0, dataloader_num_workers=0, disable_tqdm=True,
    )  # fmt: skip
    Trainer(model=model, args=args, train_dataset=Windows(), callbacks=callbacks).train()
    return model


@pytest.fixture(scope="module")
def ids(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixed evaluation batch's source: held-out token ids."""
    path = tmp_path_factory.mktemp("batch") / "heldout.npy"
    np.save(path, encode_cached(heldout_text()[:20_000]))
    return path


def test_trainer_callback_writes_the_sweep_of_its_saved_checkpoints(
    tmp_path: Path, ids: Path
) -> None:
    analyses = ["weights", "activations"]
    clock = FakeClock()
    watch = CkptscopeCallback(tmp_path / "live", schedule=SCHEDULE, analyses=analyses,
                              budget=1.0, batch=ids, name="run", options=EVAL, clock=clock)  # fmt: skip
    watched = run(tmp_path / "run", [Ticks(clock), watch])
    assert watch.summary is not None and watch.summary.steps_watched == SCHEDULE
    assert not watch.summary.failed and not watch.summary.skipped

    plain = run(tmp_path / "plain", [Ticks(FakeClock())])
    for (name, a), b in zip(watched.state_dict().items(), plain.state_dict().values(), strict=True):
        assert torch.equal(a, b), name  # bit-identical with and without the callback

    saved = sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*"))
    assert saved == sorted(f"checkpoint-{s}" for s in SCHEDULE)
    swept = cs.sweep(tmp_path / "run", tmp_path / "post", analyses=analyses, data=str(ids),
                     options=EVAL, progress=False)  # fmt: skip
    assert swept.failed == {}
    live, post = cs.Store(tmp_path / "live"), cs.Store(tmp_path / "post")
    a, b = table(live, "scalars", ["suite"]), table(post, "scalars", ["suite"])
    assert set(a.step) == set(SCHEDULE) and len(a) == len(b)
    keys = [c for c in a.columns if c not in ("value",)]
    pd.testing.assert_frame_equal(a[keys], b[keys])
    from_activations = a.component.isin(["resid", "resid_embed", "model"])  # activations'
    weights = ~from_activations
    assert weights.sum() > 0 and from_activations.sum() > 0
    np.testing.assert_array_equal(a.value[weights], b.value[weights])  # weight statistics
    np.testing.assert_allclose(
        a.value[from_activations], b.value[from_activations], rtol=ACTIVATION_RTOL, atol=1e-9
    )


def test_callback_refuses_bad_input_before_training(tmp_path: Path) -> None:
    for kwargs, says in (
        ({"schedule": [0, 8, 4]}, "step 4 after step 8"),
        ({"budget": 0}, "budget 0 is not a fraction"),
        ({"analyses": ["weightz"]}, "weightz"),
        ({"analyses": ["activations"]}, "need evaluation data"),
        ({"loggers": [object()]}, "no write_step"),
        ({"loggers": "tb"}, "expected a list of loggers"),
    ):
        with pytest.raises(UsageError, match=says):
            CkptscopeCallback(tmp_path / "s", **kwargs)
    assert not (tmp_path / "s").exists()
