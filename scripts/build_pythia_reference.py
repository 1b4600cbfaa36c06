"""Build the packaged reference store ``pythia-2023`` from the post's released statistics.

    python scripts/build_pythia_reference.py PATH/TO/conjecture-pythia-stats

PATH holds the authors' ``{size}_{part}_{stat}[_bias]_list.npy`` files (MIT; see
``src/ckptscope/references/data/pythia-2023/LICENSE``). The lists are converted by
``ckptscope.references.convert`` (documented there: units, steps, what the lists hold),
written as one ``weights`` task per (model, step) into a schema-2 store, and compacted into
a few Parquet files at ``src/ckptscope/references/data/pythia-2023/``, which is replaced.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from ckptscope import __version__
from ckptscope.records import Scalar
from ckptscope.references import REFERENCES, data_dir
from ckptscope.references.convert import SUITE, convert
from ckptscope.store import Store, TaskKey


def build(source: Path) -> Path:
    rows, skipped = convert(source)
    out = data_dir(SUITE)
    keep = {name: (out / name).read_bytes() for name in ("LICENSE", "README.md")
            if (out / name).is_file()}  # fmt: skip
    if out.exists():
        shutil.rmtree(out)
    store = Store(out)
    for (model, step), part in rows.groupby(["model", "step"], sort=True):
        records = [
            Scalar(c, None if b != b or b is None else int(b), p, m, float(v))
            for c, b, p, m, v in part[
                ["component", "block", "param", "metric", "value"]
            ].itertuples(index=False)
        ]
        store.write_task(TaskKey(SUITE, str(model), int(step), "weights"), records,
                         meta={"source": "conjecture-pythia-stats"})  # fmt: skip
    store.compact()
    for folder in sorted(out.rglob("*"), reverse=True):  # empty store folders: not shipped
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    for name, data in keep.items():
        (out / name).write_bytes(data)
    info = {**REFERENCES[SUITE].as_json(), "built_with": f"ckptscope {__version__}",
            "rows": len(rows), "skipped": skipped}  # fmt: skip
    (out / "reference.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(build(Path(sys.argv[1])))
