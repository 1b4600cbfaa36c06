"""Convert the post's released Pythia weight statistics into ckptscope's scalar rows.

The release (``{size}_{part}_{stat}[_bias]_list.npy``, MIT, by the post's authors) holds,
per 2023 Pythia size, lists with a row per checkpoint and a column per block. What the
numbers are, as checked against each other (``references/data/pythia-2023/README.md``
gives the figures):

* ``std``, ``mean``, ``max`` lists have 142 rows. Row 0 is an early checkpoint, not the
  initialisation: the MLP in weights' std there is within 1% of Pythia's init std
  ``sqrt(2 / (5 d))``, but LayerNorm gains average 0.977, not 1, and biases are not zero.
  Rows are taken as steps ``1000 * (row + 1)`` (1000 to 142000), Pythia's spacing after
  step 1000: an assumption, as the lists carry no steps.
* ``norm`` and ``diff`` lists of 141 rows are identical wherever both exist. They are
  **squared distances from the first listed checkpoint** (row 0 above), not squared
  norms: a LayerNorm weight (squared norm about ``d``) starts at 0.07 in its ``norm``
  list. Their rows are taken as steps ``1000 * (row + 2)`` (the distance at row 0 is 0
  and not listed).
* ``norm`` lists of 142 rows (19m's four weight matrices) are L2 norms themselves: they
  equal ``sqrt(numel * (std^2 + mean^2))`` from the std and mean lists to 1e-5, which
  also confirms that those lists share their rows.

In pythia-70m the attention-dense and MLP-out bias lists are identical: with Pythia's
parallel residual both biases add to the same sum, so they receive the same gradient from
the same zero start (in the larger models they differ by about 1e-5). They are kept.

So the rows written are: ``std``, ``mean``, ``max`` (the authors' max; whether of values
or of magnitudes is not recorded); ``norm = sqrt(numel * (std^2 + mean^2))`` where both
lists exist; ``dist_init = sqrt(list)`` from the norm/diff lists, the distance from row 0
(as ckptscope's own ``dist_init`` is from a model's first swept checkpoint);
``rel_dist_init = dist_init / norm`` at row 0. The LayerNorm biases have no mean lists, so
their ``norm`` is their distance from row 0: a bias starts at zero, and the two differ by
at most the bias's norm at row 0 (at least 0.02 to 0.3 by the std lists, unknown beyond
that, against 1 to 10 by the end). Arrays are read with ``allow_pickle=False`` after
their header is checked: object arrays are skipped unread. Values are kept at float32
precision, the release's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SUITE = "pythia-2023"
STEP_SPACING = 1000
#: the step of row 0 (an assumption: the first listed checkpoint is not the initialisation)
FIRST_STEP = 1000


@dataclass(frozen=True)
class Size:
    """A 2023 Pythia size: today's name, width and depth."""

    name: str
    d_model: int
    n_layers: int


#: 2023 names -> today's models (Pythia was renamed in 2023 by total, not non-embedding, size)
SIZES = {
    "19m": Size("pythia-70m", 512, 6),
    "125m": Size("pythia-160m", 768, 12),
    "350m": Size("pythia-410m", 1024, 24),
    "800m": Size("pythia-1b", 2048, 16),
    "1.3b": Size("pythia-1.4b", 2048, 24),
}
#: release part -> (canonical component, has blocks)
PARTS = {
    "mlp_h24h": ("mlp_in", True),
    "mlp_4h2h": ("mlp_out", True),
    "attn_qkv": ("qkv", True),
    "attn_dense": ("attn_out", True),
    "input_layernorm": ("ln1", True),
    "post_attention_layernorm": ("ln2", True),
    "embed": ("embed", False),
    "lm_head": ("unembed", False),
    "ln_f": ("ln_final", False),
}
STATS = ("norm", "std", "mean", "max", "diff")
_NAME = re.compile(
    rf"^({'|'.join(map(re.escape, SIZES))})_({'|'.join(PARTS)})_({'|'.join(STATS)})(_bias)?_list\.npy$"
)


def numel(component: str, param: str, d: int) -> int:
    """Elements of a Pythia block tensor (d_ff = 4 d; qkv stacks three d x d projections;
    LayerNorm weights and every bias are vectors)."""
    rows = {"qkv": 3 * d, "mlp_in": 4 * d}.get(component, d)
    if param == "bias" or component in ("ln1", "ln2", "ln_final"):
        return rows if param == "bias" else d
    return rows * (4 * d if component == "mlp_out" else d)


def read_numeric(path: Path) -> np.ndarray | None:
    """A numeric ``.npy`` array, or None for an object array (its header is read, not it)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            _, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            _, _, dtype = np.lib.format.read_array_header_2_0(f)
    if dtype.hasobject:
        return None
    return np.load(path, allow_pickle=False)


def _rows(values: np.ndarray, first_step: int, component: str, blocked: bool, param: str,
          metric: str, model: str) -> pd.DataFrame:  # fmt: skip
    values = values.reshape(len(values), -1) if blocked else values.reshape(-1, 1)
    steps = first_step + STEP_SPACING * np.arange(len(values))
    n_blocks = values.shape[1]
    return pd.DataFrame({
        "suite": SUITE, "model": model,
        "step": np.repeat(steps, n_blocks).astype(np.int64),
        "component": component,
        "block": np.tile(np.arange(n_blocks), len(values)) if blocked else None,
        "param": param, "metric": metric,
        "value": values.astype(np.float64).ravel(),
    })  # fmt: skip


def convert(folder: Path) -> tuple[pd.DataFrame, list[str]]:
    """Every numeric list of the release as scalar rows; and the files skipped, with why."""
    lists: dict[tuple[str, str, str, str], np.ndarray] = {}
    skipped = []
    for path in sorted(Path(folder).glob("*.npy")):
        m = _NAME.match(path.name)
        if m is None:
            skipped.append(f"{path.name}: not a release list name")
            continue
        values = read_numeric(path)
        if values is None:
            skipped.append(f"{path.name}: object array, not loaded")
            continue
        size, part, stat, bias = m.groups()
        lists[(size, part, stat, "bias" if bias else "weight")] = values
    frames = []
    for (size, part, stat, param), values in lists.items():
        spec, (component, blocked) = SIZES[size], PARTS[part]
        if stat in ("std", "mean", "max"):
            frames.append(_rows(values, FIRST_STEP, component, blocked, param, stat, spec.name))
            continue
        std = lists.get((size, part, "std", param))
        if stat == "norm" and std is not None and values.shape == std.shape:
            # as long as the std list: L2 norms themselves, from step 0 (19m's matrices;
            # they equal sqrt(numel (std^2 + mean^2)) to 1e-5)
            frames.append(_rows(values, FIRST_STEP, component, blocked, param, "norm", spec.name))
            continue
        if stat == "diff" and _squared_norm_list(lists, size, part, param):
            continue  # the norm list holds the same numbers
        dist = np.sqrt(values)
        later = FIRST_STEP + STEP_SPACING  # distances from row 0 start at row 1
        frames.append(_rows(dist, later, component, blocked, param, "dist_init", spec.name))
        reconstructable = {(size, part, s, param) for s in ("std", "mean")} <= set(lists)
        if param == "bias" and not reconstructable:  # ~ the norm (module docstring)
            frames.append(_rows(dist, later, component, blocked, param, "norm", spec.name))
    for (size, part, stat, param), std in lists.items():
        mean = lists.get((size, part, "mean", param))
        if stat != "std" or mean is None or mean.shape != std.shape:
            continue
        if (
            not _squared_norm_list(lists, size, part, param)
            and (size, part, "norm", param) in lists
        ):
            continue  # the release's own norms are written as they are
        spec, (component, blocked) = SIZES[size], PARTS[part]
        norm = np.sqrt(numel(component, param, spec.d_model) * (std**2 + mean**2))
        frames.append(_rows(norm, FIRST_STEP, component, blocked, param, "norm", spec.name))
    if not frames:
        raise ValueError(f"{folder}: no numeric release lists ({'; '.join(skipped) or 'no .npy'})")
    rows = _with_relative(pd.concat(frames, ignore_index=True))
    # The release's numbers are float32 values; what is derived from them is rounded to
    # float32 too (7 digits), which lets the packaged Parquet compress 4x.
    rows["value"] = rows["value"].astype(np.float32).astype(np.float64)
    return rows, skipped


def _squared_norm_list(lists: dict, size: str, part: str, param: str) -> bool:
    """Whether a ``norm`` list exists and holds squared distances (shorter than ``std``)."""
    norm, std = lists.get((size, part, "norm", param)), lists.get((size, part, "std", param))
    return norm is not None and (std is None or norm.shape != std.shape)


def _with_relative(rows: pd.DataFrame) -> pd.DataFrame:
    """Add ``rel_dist_init`` = distance from init / norm at step 0, where both exist."""
    key = ["model", "component", "block", "param"]
    init = rows[(rows.metric == "norm") & (rows.step == FIRST_STEP)][[*key, "value"]]
    dist = rows[rows.metric == "dist_init"]
    rel = dist.merge(init.rename(columns={"value": "init"}), on=key, how="inner")
    rel = rel[rel["init"] > 0]
    rel = rel.assign(metric="rel_dist_init", value=rel["value"] / rel["init"]).drop(columns="init")
    return pd.concat([rows, rel], ignore_index=True)
