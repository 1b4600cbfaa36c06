"""The shipped pythia-2023 store: opened read-only, holding the release's numbers, and the
findings the post's own data supports."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ckptscope as cs
from ckptscope.errors import UsageError
from ckptscope.findings import findings
from ckptscope.references import available, data_dir, reference

MODELS = ["pythia-70m", "pythia-160m", "pythia-410m", "pythia-1b", "pythia-1.4b"]


@pytest.fixture(scope="module")
def ref():
    return reference("pythia-2023")


@pytest.fixture(scope="module")
def verdicts(ref):
    df = findings(ref)
    return {(r.finding, r.model): r for r in df.itertuples()}


def test_opens_read_only_without_writing(ref) -> None:
    before = {p: p.stat().st_mtime_ns for p in data_dir("pythia-2023").rglob("*")}
    assert available() == ["pythia-2023"] and cs.reference("pythia-2023").root == ref.root
    ref.query("select count(*) from scalars")
    after = {p: p.stat().st_mtime_ns for p in data_dir("pythia-2023").rglob("*")}
    assert before == after
    with pytest.raises(UsageError, match="unknown reference 'pythia-2099'"):
        reference("pythia-2099")


def test_models_steps_and_the_readme_numbers(ref) -> None:
    steps = ref.query("select model, min(step) lo, max(step) hi, count(distinct step) n "
                      "from tasks group by model")  # fmt: skip
    assert sorted(steps.model) == sorted(MODELS)
    assert set(steps.lo) == {1000} and set(steps.hi) == {142000} and set(steps.n) == {142}
    # sqrt of the last row of 125m_input_layernorm_norm_bias_list.npy, as the release's
    # README and the post's plot give them
    ln = ref.scalars(model="pythia-160m", component="ln1", param="bias", metric="norm",
                     step=142000).sort_values("block")  # fmt: skip
    np.testing.assert_allclose(ln.value.round(2).tolist()[:3], [4.23, 2.80, 1.12])
    np.testing.assert_allclose(ln.value.round(2).tolist()[-2:], [3.23, 4.30])
    # row 0: near Pythia's init std sqrt(2 / 5d), a norm of about 35 for 160m's MLP in
    first = ref.scalars(model="pythia-160m", component="mlp_in", param="weight", step=1000,
                        block=0)  # fmt: skip
    by = dict(zip(first.metric, first.value, strict=True))
    assert by["std"] == pytest.approx((2 / (5 * 768)) ** 0.5, rel=0.02)
    assert by["norm"] == pytest.approx(34.65, abs=0.01)
    # a LayerNorm gain is a vector of d: its norm is about sqrt(d) (gains near 1)
    ln = ref.scalars(model="pythia-160m", component="ln1", param="weight", metric="norm",
                     step=1000)  # fmt: skip
    assert ((ln.value > 0.9 * 768**0.5) & (ln.value < 1.1 * 768**0.5)).all()


def test_findings_the_data_supports(verdicts) -> None:
    for model in MODELS:
        assert verdicts[("F7", model)].verdict == "reproduced", verdicts[("F7", model)].evidence
        assert verdicts[("F9", model)].verdict == "reproduced"
        assert verdicts[("F10", model)].verdict == "reproduced"
        assert verdicts[("F14", model)].verdict == "no_data"  # no embedding norm released


def test_ln_bias_depth_order_as_the_data_shows_it(verdicts) -> None:
    f10 = verdicts[("F10-depth", "pythia-160m")]
    assert f10.verdict == "not_reproduced"
    assert "block 11 4.3, block 0 4.23" in f10.evidence  # blocks 11 and 0 grow most


def test_docs_column_is_what_the_dataset_shows(ref) -> None:
    from ckptscope.findings.docs import MEASURED, summarise

    measured = json.loads(MEASURED.read_text())["Pythia (the post's data)"]
    assert measured == summarise(findings(ref)), (
        'regenerate: python -m ckptscope.findings.docs --measure "Pythia (the post\'s data)" '
        "reference:pythia-2023 && python -m ckptscope.findings.docs > docs/findings.md"
    )


def test_the_reference_refuses_writes(ref) -> None:
    from ckptscope.records import Scalar
    from ckptscope.store import StoreError, TaskKey

    key = TaskKey("pythia-2023", "pythia-160m", 999, "weights")
    with pytest.raises(StoreError, match="is read-only"):
        ref.write_task(key, [Scalar("embed", None, "weight", "norm", 1.0)])
    with pytest.raises(StoreError, match="is read-only"):
        ref.compact()
    with pytest.raises(StoreError, match="is read-only"):
        ref.record_failure(key, "x")
