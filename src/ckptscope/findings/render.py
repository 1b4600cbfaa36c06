"""The findings table as text: a grid (findings x models), Markdown, or JSON records.

Below the grid, where a group has two or more seeds, a second grid gives per group the
share of its seeds with data that reproduce each finding ("2/3 seeds", "1/2 seeds
(1 inconclusive)", "no data": :func:`ckptscope.findings.seed_shares`).
"""

from __future__ import annotations

import json

import pandas as pd

#: the heading of the seed grid (text and Markdown)
SEEDS_TITLE = (
    "Seeds that reproduce each finding, of the seeds with data for it "
    "(inconclusive ones counted), per group:"
)

#: short marks for the grid
MARKS = {
    "reproduced": "yes",
    "not_reproduced": "no",
    "inconclusive": "?",
    "no_data": "-",
}


def grid(df: pd.DataFrame) -> pd.DataFrame:
    """Findings as rows, models as columns (size comparisons in their own column)."""
    if df.empty:
        return pd.DataFrame()
    table = df.pivot_table(index="finding", columns="model", values="verdict", aggfunc="first",
                           sort=False).fillna("")  # fmt: skip
    order = list(dict.fromkeys(df["finding"]))
    models = list(dict.fromkeys(df["model"]))
    return table.reindex(index=order, columns=models)


def seed_grid(df: pd.DataFrame) -> pd.DataFrame:
    """Findings as rows, groups of two or more seeds as columns, "k/n seeds" (n: the seeds
    with data) or "no data" in each cell."""
    from ckptscope.findings import seed_shares

    shares = seed_shares(df)
    shares = shares[shares["seeds"] >= 2]
    if shares.empty:
        return pd.DataFrame()
    table = shares.pivot_table(index="finding", columns="group", values="share",
                               aggfunc="first", sort=False).fillna("")  # fmt: skip
    order = [f for f in dict.fromkeys(df["finding"]) if f in table.index]
    return table.reindex(index=order, columns=list(dict.fromkeys(shares["group"])))


def as_text(df: pd.DataFrame) -> str:
    """A plain-text grid and, below it, each verdict's evidence."""
    if df.empty:
        return "no findings: the store holds no rows\n"
    table = grid(df).replace(MARKS)
    lines = [
        table.to_string(),
        "",
        "yes reproduced, no not reproduced, ? inconclusive, - no data",
        "",
    ]
    seeds = seed_grid(df)
    if not seeds.empty:
        lines += [SEEDS_TITLE, seeds.to_string(), ""]
    for row in df.itertuples():
        lines.append(f"{row.finding} [{row.model}] {row.verdict}: {row.evidence}")
    return "\n".join(lines) + "\n"


def as_markdown(df: pd.DataFrame) -> str:
    """A Markdown table (finding, the post's claim, one column per model)."""
    if df.empty:
        return "No findings: the store holds no rows.\n"
    table = grid(df)
    claims = df.drop_duplicates("finding").set_index("finding")["claim"]
    models = list(table.columns)
    out = ["| finding | the post's claim | " + " | ".join(models) + " |",
           "| --- | --- | " + " | ".join("---" for _ in models) + " |"]  # fmt: skip
    for finding, row in table.iterrows():
        cells = [str(v).replace("_", " ") for v in row]
        out.append(f"| {finding} | {claims[finding]} | " + " | ".join(cells) + " |")
    seeds = seed_grid(df)
    if not seeds.empty:
        groups = list(seeds.columns)
        out += ["", SEEDS_TITLE, "",
                "| finding | " + " | ".join(groups) + " |",
                "| --- | " + " | ".join("---" for _ in groups) + " |"]  # fmt: skip
        out += [f"| {f} | " + " | ".join(str(v) for v in row) + " |" for f, row in seeds.iterrows()]
    return "\n".join(out) + "\n"


def as_json(df: pd.DataFrame) -> str:
    """A JSON list of objects: finding, figure, claim, model, verdict, evidence, thresholds."""
    records = df.astype(object).where(df.notna(), None).to_dict(orient="records")
    for r in records:
        r["thresholds"] = json.loads(r["thresholds"])
    return json.dumps(records, indent=2) + "\n"
