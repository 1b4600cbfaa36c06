"""No network and online mode: refused in one line when the cache lacks a checkpoint,
and read from the cache alone (no retries) when it has them all."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ckptscope.cli.app import app
from ckptscope.sources.hubcache import hub_unreachable
from ckptscope.store import Store
from sources.builders import add_revision, write_checkpoint

REPO = "EleutherAI/pythia-14m"


@pytest.fixture
def no_network(hub_cache, tmp_path, monkeypatch):
    """Online mode, with the Hub at a closed local port; steps 0 and 1 cached."""
    for step in (0, 1):
        src = write_checkpoint(tmp_path / "src" / f"step{step}", seed=step)
        add_revision(hub_cache, REPO, f"step{step}", src)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused at once
    return hub_cache


def test_probe_names_the_reason(no_network):
    why = hub_unreachable()
    assert why is not None and "\n" not in why


def test_uncached_checkpoint_is_refused_up_front(no_network, tmp_path):
    out = tmp_path / "store"
    args = ["sweep", f"hf:{REPO}", "--out", str(out), "--steps", "0,1000", "--analyses", "weights"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    line = errors[0]
    assert "Hugging Face Hub (http://127.0.0.1:9) is unreachable" in line
    assert "lacks 1 of the 2 checkpoints" in line and "step1000" in line
    assert "HF_HUB_OFFLINE=1" in line
    assert not out.exists()  # refused before the store was created


def test_everything_cached_is_swept_from_the_cache(no_network, tmp_path, caplog):
    out = tmp_path / "store"
    args = ["sweep", f"hf:{REPO}", "--out", str(out), "--steps", "0,1", "--analyses", "weights"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(Store(out).scalars(metric="norm").step.unique()) == [0, 1]
    assert sum("unreachable" in r.getMessage() for r in caplog.records) == 1


def test_behind_a_proxy_the_proxy_is_probed(hub_cache, monkeypatch):
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        for var in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")  # not resolvable
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert hub_unreachable() is None  # the proxy answers
        monkeypatch.delenv("HTTPS_PROXY")
        assert hub_unreachable() is not None  # without it, hub.invalid does not resolve
    finally:
        server.close()
