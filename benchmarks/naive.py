"""The naive weight sweep ckptscope is measured against.

What a researcher writes first: load each checkpoint as a Hugging Face model, then for
every named parameter copy it to a float64 NumPy array and call NumPy/SciPy for the
norm, mean, std, skewness, excess kurtosis, max |w| and a 100-bin histogram. Its time is
split into load / moments / histogram so the comparison can leave the histogram out
(ckptscope's ``weights`` analysis draws no histogram; ``distributions`` does).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.stats


@dataclass
class NaiveTimes:
    """Seconds spent per phase over a whole naive sweep."""

    load: float = 0.0
    moments: float = 0.0
    histogram: float = 0.0
    stats: dict[str, dict[str, float]] = field(default_factory=dict)  # last checkpoint only

    @property
    def total(self) -> float:
        return self.load + self.moments + self.histogram


def naive_checkpoint(folder: Path, times: NaiveTimes) -> dict[str, dict[str, float]]:
    """Statistics of every parameter of one checkpoint folder, the naive way."""
    import torch
    from transformers import GPTNeoXForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    t0 = time.perf_counter()
    model = GPTNeoXForCausalLM.from_pretrained(folder)
    times.load += time.perf_counter() - t0
    out: dict[str, dict[str, float]] = {}
    for name, p in model.named_parameters():
        t0 = time.perf_counter()
        x = p.detach().to(torch.float32).numpy().astype(np.float64).ravel()
        with warnings.catch_warnings():  # SciPy warns on constant tensors (zero biases)
            warnings.simplefilter("ignore", RuntimeWarning)
            stats = {
                "norm": float(np.linalg.norm(x)),
                "mean": float(x.mean()),
                "std": float(x.std()),
                "skew": float(scipy.stats.skew(x)),
                "kurtosis": float(scipy.stats.kurtosis(x)),
                "max_abs": float(np.abs(x).max()),
            }
        t1 = time.perf_counter()
        counts, _ = np.histogram(x, bins=100)
        stats["hist_total"] = float(counts.sum())
        t2 = time.perf_counter()
        times.moments += t1 - t0
        times.histogram += t2 - t1
        out[name] = stats
    del model
    return out


def naive_sweep(folders: list[Path]) -> NaiveTimes:
    """Run the naive statistics over every checkpoint folder in order."""
    times = NaiveTimes()
    for folder in folders:
        times.stats = naive_checkpoint(folder, times)
    return times


def main(argv: list[str] | None = None) -> None:
    """``python benchmarks/naive.py SUITE``: the naive sweep over every checkpoint folder.

    SUITE holds ``<model>/step<N>/`` folders (or is one model's folder of ``step<N>``
    folders); they are swept in step order and the phase times printed.
    """
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("suite", type=Path)
    args = parser.parse_args(argv)
    folders = sorted(
        (p.parent for p in args.suite.glob("**/config.json")),
        key=lambda p: (str(p.parent), int(p.name.removeprefix("step"))),
    )
    if not folders:
        raise SystemExit(f"no checkpoint folders (with config.json) under {args.suite}")
    times = naive_sweep(folders)
    print(
        f"{len(folders)} checkpoints: load {times.load:.1f} s, moments {times.moments:.1f} s, "
        f"histogram {times.histogram:.1f} s"
    )


if __name__ == "__main__":
    main()
