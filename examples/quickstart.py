# %% [markdown]
# # ckptscope quick start (a notebook as a script: each `# %%` is a cell)
#
# Train a tiny Pythia-like suite offline, sweep two analyses over it, and read the
# results as DataFrames. CI runs this file (`tests/test_examples.py`).

# %%
import sys
import tempfile
from pathlib import Path

import ckptscope as cs
from ckptscope.train import train_suite

work = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="ckptscope-"))

# %% Train: 2 widths x 40 steps on the shipped corpus (seconds on a laptop).
suite = train_suite(work / "suite", preset="tiny")

# %% Sweep: every checkpoint, two analyses, a progress bar; rerunning skips what is stored.
result = cs.sweep(suite, work / "store", analyses=["weights", "spectra"])
print(f"{result.written} tasks written, {len(result.failed)} failed")

# %% Read: one tidy table, filtered like a DataFrame.
store = cs.Store(work / "store")
norms = store.scalars(component="mlp_in", param="weight", metric="norm")
print(norms.pivot_table(index="step", columns=["model", "block"], values="value").tail())

# %% SQL over the same tables (read-only).
print(
    store.query(
        "select model, max(step) as last_step, count(*) as rows from scalars group by model"
    )
)
