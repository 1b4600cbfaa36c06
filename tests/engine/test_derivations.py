"""Derivations run per suite: two suites in one store never mix."""

from ckptscope.analyses import base
from ckptscope.analyses.base import Derivation, Derived, Event
from ckptscope.engine import SweepConfig, run_sweep
from ckptscope.store import Store
from fakes import FakeSuite


class _CountSteps(Derivation):
    """Counts the steps it can see: one event per model."""

    name = "test_count_steps"

    def derive(self, store):
        df = store.query("select model, count(distinct step) n from scalars group by model")
        pairs = zip(df.model, df.n, strict=True)
        return Derived(events=[Event(m, None, "count", f"{n} steps") for m, n in pairs])


def test_derivations_see_only_the_swept_suite(tmp_path, monkeypatch):
    monkeypatch.setitem(base._DERIVATIONS, _CountSteps.name, _CountSteps)
    out = tmp_path / "store"
    for name, steps in (("one", (0, 1)), ("two", (0, 1, 2, 4))):
        cfg = SweepConfig(suite=name, out=out, analyses=("weights",))
        assert run_sweep(cfg, suite=FakeSuite(name=name, models=("a",), steps=steps)).exit_code == 0
    ev = Store(out).events()
    ev = ev[ev.kind == "count"]
    assert dict(zip(ev.suite, ev.message, strict=True)) == {"one": "2 steps", "two": "4 steps"}


class _Broken(Derivation):
    name = "test_broken"

    def derive(self, store):
        raise RuntimeError("boom")


def test_a_failed_derivation_is_recorded_and_sets_the_exit_code(tmp_path, monkeypatch):
    monkeypatch.setitem(base._DERIVATIONS, _Broken.name, _Broken)
    cfg = SweepConfig(suite="fake", out=tmp_path, analyses=("weights",))
    result = run_sweep(cfg, suite=FakeSuite(models=("a",), steps=(0, 1)))
    assert result.exit_code == 3 and "boom" in result.failed["derive:test_broken"]
    fails = Store(tmp_path).failures()
    assert list(fails.analysis) == ["derive:test_broken"] and len(Store(tmp_path).done()) == 2
