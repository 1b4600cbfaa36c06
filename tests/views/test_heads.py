"""Per-head ranking and outlier marks on planted rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ckptscope.errors import UsageError
from ckptscope.store.reader import ORDER_KEYS
from ckptscope.views.heads import mark_heads, rank_heads


def _rows(values: np.ndarray, metric: str = "spectral_norm", suite: str = "s") -> pd.DataFrame:
    """values: (steps, blocks, heads)."""
    out = []
    for s, per_block in enumerate(values):
        for b, per_head in enumerate(per_block):
            for h, v in enumerate(per_head):
                out.append({"suite": suite, "model": "m", "step": 10 * s, "component": "ov", "block": b,
                            "param": "circuit", "head": h, "metric": metric, "value": v})  # fmt: skip
    return pd.DataFrame(out)


def test_one_far_head_is_marked_and_ranks_follow_the_last_step() -> None:
    rng = np.random.default_rng(0)
    values = 1 + 0.05 * np.linspace(-1, 1, 8) + 0.01 * rng.normal(size=(4, 2, 8))
    values[2:, 1, 5] = 4.0  # block 1, head 5, steps 20 and 30
    marked = mark_heads(_rows(values), "spectral_norm")
    hits = marked[marked.outlier]
    assert sorted(zip(hits.step, hits.block, hits["head"], strict=True)) == [(20, 1, 5), (30, 1, 5)]
    last = values[-1]
    for b in range(2):
        part = marked[(marked.block == b) & (marked.step == 30)].sort_values("rank")
        assert part["head"].tolist() == list(np.argsort(-last[b], kind="stable"))
        assert part["rank"].tolist() == list(range(8))
    z = marked[(marked.step == 30) & (marked.block == 1)].robust_z.to_numpy()
    x = values[3, 1]
    med = np.median(x)
    np.testing.assert_allclose(z, (x - med) / (1.4826022185056 * np.median(np.abs(x - med))))


def test_no_outlier_and_ranking_by_another_metric() -> None:
    # heads evenly spread (robust z within +-1.4): nothing stands out
    values = np.broadcast_to(1 + 0.05 * np.arange(8.0)[::-1], (3, 2, 8)).copy()
    values += 0.01 * np.arange(3.0)[:, None, None]
    other = np.broadcast_to(np.arange(8.0), (3, 2, 8))  # head 7 largest
    rows = pd.concat([_rows(values), _rows(other, "alpha")])
    marked = mark_heads(rows, "alpha")
    assert not marked[marked.metric == "spectral_norm"].outlier.any()
    top = marked[(marked.metric == "spectral_norm") & (marked["rank"] == 0)]
    assert set(top["head"]) == {7}
    ranks = rank_heads(rows, "alpha")
    assert len(ranks) == 16 and ranks.groupby("block")["rank"].max().tolist() == [7, 7]


def test_bad_k_refused() -> None:
    with pytest.raises(UsageError, match="outlier_k"):
        mark_heads(_rows(np.ones((1, 1, 4))), "spectral_norm", k=-1.0)


def test_two_suites_sharing_a_model_name_are_marked_and_ranked_apart() -> None:
    """Suites a and b both hold model m: each suite's heads are their own population."""
    near = 1 + 0.01 * np.arange(8.0)  # suite a: close together, head 5 far above
    near[5] = 1.5
    wide = 10.0 * np.arange(8.0)[::-1]  # suite b: spread widely, head 0 largest
    rows = pd.concat([_rows(np.broadcast_to(near, (3, 1, 8)).copy(), suite="a"),
                      _rows(np.broadcast_to(wide, (3, 1, 8)).copy(), suite="b")])  # fmt: skip
    marked = mark_heads(rows, "spectral_norm")
    hits = marked[marked.outlier]
    assert set(zip(hits.suite, hits["head"], strict=True)) == {("a", 5)} and len(hits) == 3
    for suite, x in (("a", near), ("b", wide)):
        part = marked[(marked.suite == suite) & (marked.step == 20)].sort_values("rank")
        assert part["rank"].tolist() == list(range(8))
        assert part["head"].tolist() == list(np.argsort(-x, kind="stable"))
        med = np.median(x)
        z = (x - med) / (1.4826022185056 * np.median(np.abs(x - med)))
        np.testing.assert_allclose(part.sort_values("head").robust_z, z)
    ranks = rank_heads(rows, "spectral_norm")
    assert len(ranks) == 16 and ranks.groupby("suite")["rank"].max().tolist() == [7, 7]


def test_outliers_are_the_stats_rule() -> None:
    """mark_heads marks by stats.robust's rule (robust_z and mad_outliers give its z and
    marks, set by set, with the k given); COMPONENTS is one tuple for every view."""
    import ckptscope.views.extrapolation as extrapolation
    import ckptscope.views.update_structure as update_structure
    from ckptscope.stats import robust

    values = 1 + 0.01 * np.arange(8.0) + np.zeros((3, 2, 8))
    values[:, 0, 2] = 5.0
    values[1, 1, 6] = 1.12  # robust z 2.87: an outlier at k = 2, not at the default 3.5
    marked = mark_heads(_rows(values), "spectral_norm", k=2.0)
    for (_step, _block), g in marked.groupby(["step", "block"]):  # the rule, set by set
        g = g.sort_values("head")
        expected = robust.mad_outliers(g["value"].to_numpy(), 2.0)
        np.testing.assert_array_equal(g["outlier"].to_numpy(), expected)
        np.testing.assert_array_equal(g["robust_z"].to_numpy(), robust.robust_z(g["value"]))
    middle = marked.step == sorted(marked.step.unique())[1]
    assert set(zip(marked[middle & marked.outlier].block, marked[middle & marked.outlier]["head"],
                   strict=True)) == {(0, 2), (1, 6)}  # fmt: skip
    hits = marked[marked.outlier & ~middle]
    assert set(zip(hits.block, hits["head"], strict=True)) == {(0, 2)}
    assert extrapolation.COMPONENTS is update_structure.COMPONENTS


_KEYS = ["suite", "model", "component", "block", "param"]


def _naive_marks(rows: pd.DataFrame, sort_by: str, k: float) -> pd.DataFrame:
    """The rule with pandas groupbys, as mark_heads first did: robust z per (block, metric,
    step); ranks by sort_by at each block's last step (value descending, then head); heads
    without one after the block's ranked, by index."""
    from ckptscope.stats.robust import robust_z

    out = rows.reset_index(drop=True).copy()
    z = pd.Series(np.nan, index=out.index)
    for _, g in out.groupby([*_KEYS, "metric", "step"], dropna=False):
        z[g.index] = robust_z(g["value"].to_numpy(np.float64))
    out["robust_z"] = z.to_numpy()
    out["outlier"] = np.abs(np.nan_to_num(out["robust_z"], nan=0.0)) > k
    sel = out[(out.metric == sort_by) & np.isfinite(out.value)]
    last = sel.groupby(_KEYS, dropna=False)["step"].transform("max")
    at = sel[sel.step == last].sort_values([*_KEYS, "value", "head"],
                                           ascending=[True] * 5 + [False, True])  # fmt: skip
    at = at.assign(rank=at.groupby(_KEYS, dropna=False).cumcount())
    out = out.merge(at[[*_KEYS, "head", "rank"]], on=[*_KEYS, "head"], how="left")
    after = out.groupby(_KEYS, dropna=False)["rank"].transform("max").fillna(-1) + 1
    out["rank"] = out["rank"].fillna(after + out["head"]).astype("int64")
    return out


def test_marks_and_ranks_equal_pandas_groupbys_on_random_rows() -> None:
    rng = np.random.default_rng(7)
    parts = []
    for suite in ("a", "b"):
        for model in ("m1", "m2"):
            for metric in ("spectral_norm", "alpha"):
                values = rng.lognormal(size=(5, 3, 6))
                values[rng.random(values.shape) < 0.05] = np.nan
                values[..., 0] = np.round(values[..., 0], 1)  # ties
                part = _rows(values, metric, suite).assign(model=model)
                part.loc[part.component.eq("ov") & (part.block == 2), "component"] = "qk"
                parts.append(part)
    rows = pd.concat(parts, ignore_index=True)
    rows = rows[~((rows.step == 40) & (rows["head"] == 3) & (rows.suite == "b"))]  # no last value
    rows = rows.sample(frac=1.0, random_state=1)  # any order
    for sort_by in ("spectral_norm", "alpha"):
        got = mark_heads(rows, sort_by, k=2.0)
        want = _naive_marks(rows, sort_by, 2.0)
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
    # head indices far apart (no table of every head): the same marks
    far = rows.assign(head=rows["head"] * 1_000_003 - 5)
    pd.testing.assert_frame_equal(mark_heads(far, "alpha", k=2.0), _naive_marks(far, "alpha", 2.0),
                                  check_dtype=False)  # fmt: skip
    # as the store returns them: sorted by its keys, one metric (each group one run of rows)
    one = rows[rows.metric == "alpha"]
    one = one.sort_values([c for c in ORDER_KEYS if c in one], kind="stable")
    pd.testing.assert_frame_equal(mark_heads(one, "alpha", k=2.0), _naive_marks(one, "alpha", 2.0),
                                  check_dtype=False)  # fmt: skip
    # rank_heads: the heads at each block's last step, by block, then rank
    naive = _naive_marks(rows, "alpha", 2.0)
    sel = naive[(naive.metric == "alpha") & np.isfinite(naive.value)]
    at = sel[sel.step == sel.groupby(_KEYS)["step"].transform("max")]
    want = at[[*_KEYS, "head", "rank"]].sort_values([*_KEYS, "rank"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(rank_heads(rows, "alpha"), want, check_dtype=False)


def test_a_head_listed_twice_at_its_last_step_keeps_one_rank_and_every_row() -> None:
    """A step swept twice: each row is kept once (no row duplicated), ranked by the first."""
    values = np.broadcast_to(1 + 0.1 * np.arange(4.0), (2, 1, 4)).copy()
    rows = _rows(values)
    twice = pd.concat([rows, rows[(rows.step == 10) & (rows["head"] == 1)].assign(value=9.0)])
    marked = mark_heads(twice, "spectral_norm")
    assert len(marked) == len(twice)
    ranks = marked[marked.step == 10].groupby("head")["rank"].unique()
    assert ranks.map(len).eq(1).all()  # one rank per head
    assert sorted(int(r[0]) for r in ranks) == [0, 1, 2, 3]


def test_key_codes_stay_below_the_row_count_when_the_radix_grows():
    """Many values per key column: the combined codes are made dense again, so a (block,
    head) key of ``block * (heads + 1) + head`` cannot overflow and drop a head."""
    from ckptscope.views.heads import key_codes

    n = 4097
    df = pd.DataFrame({c: [f"{c}{i}" for i in range(n)] for c in ("suite", "model", "component")})
    codes = key_codes(df, ["suite", "model", "component"])
    assert codes.max() < n and len(set(codes.tolist())) == n


def test_column_codes_are_pandas_factorize_codes_for_any_column():
    """Codes by runs equal pandas' factorize codes (first appearance, NULL a value of its
    own), sorted or not, for Arrow strings (in chunks too), objects with None, nullable
    integers (past 2**53 too), floats with NaN, categoricals and mixed Python objects (bytes
    beside strings, integers past 64 bits)."""
    from ckptscope.views.heads import column_runs

    def column_codes(values: pd.Series) -> tuple[np.ndarray, int]:
        starts, codes, count = column_runs(values)
        return np.repeat(codes, np.diff(np.r_[starts, len(values)])), count

    rng = np.random.default_rng(5)
    n = 500
    pick = rng.integers(0, 4, n)
    words = np.array(["q", "k", "v", "ov"], dtype=object)
    columns = {
        "str": pd.Series(words[pick], dtype="str"),
        "object_none": pd.Series(np.where(pick == 3, None, words[pick]), dtype=object),
        "nullable_int": pd.Series(np.where(pick == 3, None, pick), dtype="Int32"),
        "float_nan": pd.Series(np.where(pick == 3, np.nan, pick * 0.5)),
        "int": pd.Series(pick.astype(np.int64)),
        "category": pd.Series(pd.Categorical(words[pick])),
        "mixed": pd.Series(np.where(pick == 3, 7, words[pick]), dtype=object),
        # past float64's integers, with NULLs (a float64 round trip would merge them)
        "big_nullable": pd.Series(np.where(pick == 3, None, 2**53 + pick), dtype="Int64"),
        "bytes_and_str": pd.Series(np.where(pick == 3, b"q", words[pick]), dtype=object),
        "huge_objects": pd.Series([2**70 if x == 3 else int(x) for x in pick], dtype=object),
        # Arrow-backed in several chunks, as the store's frames are
        "chunked": pd.Series(
            pd.arrays.ArrowExtensionArray(
                pa.chunked_array([words[pick][:150].tolist(), words[pick][150:].tolist()])
            )
        ),
    }
    for name, col in columns.items():
        for values in (col, col.iloc[np.argsort(pick, kind="stable")], col.iloc[:1], col.iloc[:0]):
            values = values.reset_index(drop=True)
            want, uniques = pd.factorize(values, use_na_sentinel=False)
            got, count = column_codes(values)
            np.testing.assert_array_equal(got, want, err_msg=name)
            assert count == len(uniques), name


def test_key_codes_are_factorize_codes_of_the_key_tuples():
    """Combined codes, by runs or not: dense, in first appearance, equal exactly where the
    rows' keys (and ``within`` codes) are equal; sorted rows, shuffled rows, one row."""
    from ckptscope.views.heads import key_codes

    rng = np.random.default_rng(11)
    n = 400
    df = pd.DataFrame({
        "suite": pd.Series(rng.choice(["a", "b"], n), dtype="str"),
        "component": pd.Series(np.where(rng.random(n) < 0.2, None, rng.choice(["q", "k"], n)),
                               dtype=object),
        "block": pd.Series(np.where(rng.random(n) < 0.2, None, rng.integers(0, 3, n)),
                           dtype="Int32"),
        "step": rng.integers(0, 4, n),
    })  # fmt: skip
    within = rng.integers(0, 3, n)
    for order in (np.arange(n), np.lexsort([df.step, within]), rng.permutation(n)[:1]):
        part, inner = df.iloc[order].reset_index(drop=True), within[order]
        cols = ["suite", "component", "block"]
        tuples = [
            tuple(None if pd.isna(v) else v for v in r) for r in part[cols].itertuples(index=False)
        ]
        want = pd.factorize(pd.Series(tuples, dtype=object))[0]
        np.testing.assert_array_equal(key_codes(part, cols), want)
        with_inner = [(w, t) for w, t in zip(inner, part.step, strict=True)]
        want = pd.factorize(pd.Series(with_inner, dtype=object))[0]
        np.testing.assert_array_equal(key_codes(part, ["step"], within=inner), want)
    assert key_codes(df.iloc[:0], ["suite"]).size == 0


def test_key_codes_densify_when_the_mixed_radix_would_overflow():
    """70 two-valued columns: 3**70 combined codes pass 2**62, so the codes are made dense
    on the way; they still equal factorize of the key tuples."""
    from ckptscope.views.heads import key_codes

    rng = np.random.default_rng(2)
    bits = rng.integers(0, 2, (300, 70))
    df = pd.DataFrame({f"c{i}": bits[:, i] for i in range(70)})
    want = pd.factorize(pd.Series([tuple(r) for r in bits.tolist()], dtype=object))[0]
    np.testing.assert_array_equal(key_codes(df, list(df.columns)), want)
