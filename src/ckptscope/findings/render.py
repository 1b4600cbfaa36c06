"""The findings table as text: a grid (findings x models), Markdown, or JSON records."""

from __future__ import annotations

import json

import pandas as pd

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
    return "\n".join(out) + "\n"


def as_json(df: pd.DataFrame) -> str:
    """A JSON list of objects: finding, figure, claim, model, verdict, evidence, thresholds."""
    records = df.to_dict(orient="records")
    for r in records:
        r["thresholds"] = json.loads(r["thresholds"])
    return json.dumps(records, indent=2) + "\n"
