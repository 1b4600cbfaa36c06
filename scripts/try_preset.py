"""Train, sweep and judge one candidate preset: the measurement behind docs/presets.md.

    python scripts/try_preset.py OUT_DIR --sizes 64x2,128x4 --steps 400 --batch 16 \
        --seq 128 --lr 4e-3 --wd 0.3 [--checkpoints 8]

Prints the wall time of training (two models at a time) and of the sweep (every analysis,
2 worker processes, the demo's sampling options) and the findings each model reproduces,
as ``ckptscope findings`` would; the suite and store stay in OUT_DIR for a look.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import ckptscope as cs
from ckptscope.cli.demo import DEMO_OPTIONS
from ckptscope.train.config import ModelSize, SuiteConfig, TrainConfig
from ckptscope.train.loop import train_suite


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--sizes", required=True, help="WIDTHxBLOCKS, comma-separated")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--wd", type=float, default=0.1)
    p.add_argument("--warmup", type=float, default=0.01)
    p.add_argument("--checkpoints", type=int, default=8, help="evenly spaced checkpoints")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    sizes = tuple(ModelSize(*map(int, s.split("x"))) for s in a.sizes.split(","))
    config = SuiteConfig(
        name=a.out.name,
        sizes=sizes,
        train=TrainConfig(steps=a.steps, batch_size=a.batch, seq_len=a.seq, lr=a.lr,
                          weight_decay=a.wd, warmup_frac=a.warmup,
                          n_even_checkpoints=a.checkpoints, heldout_tokens=8192),
    )  # fmt: skip
    start = time.perf_counter()
    train_suite(a.out / "suite", config=config, workers=a.workers)
    trained = time.perf_counter()
    cs.sweep(a.out / "suite", a.out / "store", executor="process", workers=a.workers,
             options=DEMO_OPTIONS, progress=False)  # fmt: skip
    swept = time.perf_counter()
    table = cs.findings(cs.Store(a.out / "store", create=False))
    table.to_csv(a.out / "findings.csv", index=False)
    ok = table[table.verdict == "reproduced"]
    print(
        f"{a.out.name}: train {trained - start:.0f} s, sweep {swept - trained:.0f} s; "
        f"{len(ok)} of {len(table)} verdicts reproduced"
    )
    for fid, group in ok.groupby("finding", sort=False):
        print(f"  {fid}: {', '.join(sorted(set(group.model.astype(str))))}")
    for row in table[table.verdict != "reproduced"].itertuples():
        print(f"  - {row.finding} {row.model} {row.verdict}: {str(row.evidence)[:150]}")


if __name__ == "__main__":
    main()
