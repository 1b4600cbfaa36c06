"""The HTML report in a real headless Chromium, driven over the DevTools protocol.

Chromium talks CDP over ``--remote-debugging-pipe`` (file descriptors 3 and 4, messages
separated by NUL): no port, no websocket library, nothing beyond the standard library.
Debian's ``chromium`` package is installed by the set-up (``make browser``, which ``make
test`` runs first); where it is missing the tests skip and name that command.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ckptscope.figures.catalogue import Query
from ckptscope.report.html import write_html_report

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
XSS = "<script>alert(1)</script>"


def _chromium() -> str:
    """Path of Chromium; the test skips, naming the command, where it is missing.

    The test installs nothing: `make test` (what CI runs) installs Debian's package first
    (`make browser`, as root).
    """
    found = shutil.which("chromium") or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    if found is None:
        pytest.skip("chromium is missing: run `sudo make browser` (Debian's chromium package)")
    return found


class Browser:
    """Headless Chromium with a CDP session on one page, over the debugging pipe."""

    def __init__(self, exe: str, profile: Path) -> None:
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()

        def fds() -> None:  # the child reads commands on fd 3 and writes replies on fd 4
            # via fds >= 10 first: a pipe end may itself be fd 3 or 4
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child_r, from_child_w)]
            for target, fd in zip((3, 4), high, strict=True):
                os.dup2(fd, target)
                os.set_inheritable(target, True)

        args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-default-apps", "--disable-extensions", "--mute-audio",
                f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"]  # fmt: skip
        self._log = open(profile.parent / "chromium.log", "wb")  # noqa: SIM115
        # close_fds=False: fds 3 and 4 made by dup2 in the child must survive into exec
        # (the pipe ends themselves are non-inheritable and close there).
        self.proc = subprocess.Popen(args, preexec_fn=fds, close_fds=False,
                                     stdout=self._log, stderr=self._log)  # fmt: skip
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf, self._id, self.events = b"", 0, []
        self.session: str | None = None
        target = self.call("Target.createTarget", {"url": "about:blank"}, browser=True)
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target["targetId"], "flatten": True}, browser=True)["sessionId"]  # fmt: skip

    def _read(self, timeout: float) -> dict[str, Any] | None:
        while b"\0" not in self._buf:
            ready, _, _ = select.select([self._r], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk
        msg, _, self._buf = self._buf.partition(b"\0")
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, *, browser: bool = False,
             timeout: float = 30) -> dict[str, Any]:  # fmt: skip
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if not browser:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = self._read(deadline - time.monotonic())
            if reply is None:
                break
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)
                if reply["method"] == "Page.javascriptDialogOpening":  # never leave one blocking
                    os.write(self._w, json.dumps({"id": 10**9 + len(self.events), "sessionId": self.session,
                             "method": "Page.handleJavaScriptDialog", "params": {"accept": True}}).encode() + b"\0")  # fmt: skip
        raise TimeoutError(f"no reply to {method} within {timeout} s")

    def js(self, expression: str, timeout: float = 30) -> Any:
        """Evaluate an expression in the page (promises awaited) and return its value."""
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True}, timeout=timeout)  # fmt: skip
        if "exceptionDetails" in res:
            raise RuntimeError(f"page error: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.2)
        raise TimeoutError(f"page never satisfied {expression!r}")

    def click(self, x: float, y: float) -> None:
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                   "clickCount": 1})  # fmt: skip

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close", browser=True, timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._r)
        os.close(self._w)
        self._log.close()


@pytest.fixture(scope="module")
def page(report_store, tmp_path_factory: pytest.TempPathFactory):
    """The small store's report, the post's Pythia numbers beside F7-F11, opened in Chromium."""
    exe = _chromium()
    out = tmp_path_factory.mktemp("browser")
    path = write_html_report(report_store, out / "report.html", Query(), reference="pythia-2023")
    browser = Browser(exe, out / "profile")
    try:
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable")
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
        browser.call("Page.navigate", {"url": path.resolve().as_uri()})
        browser.wait_for("document.readyState === 'complete'")
        browser.wait_for("[...document.querySelectorAll('.ckfig .plot')].every(d => d.dataset.ready)",
                         timeout=60)  # fmt: skip
        yield browser
    finally:
        browser.close()


def _events(browser: Browser, method: str) -> list[dict[str, Any]]:
    browser.js("1")  # flush events that arrived since the last command
    return [e["params"] for e in browser.events if e["method"] == method]


def test_no_console_errors_and_no_network(page: Browser) -> None:
    errors = [
        e for e in _events(page, "Runtime.consoleAPICalled") if e["type"] in ("error", "assert")
    ]
    errors += _events(page, "Runtime.exceptionThrown")
    errors += [e for e in _events(page, "Log.entryAdded") if e["entry"]["level"] == "error"]
    assert not errors, json.dumps(errors, indent=1)[:3000]
    urls = [e["request"]["url"] for e in _events(page, "Network.requestWillBeSent")]
    remote = [u for u in urls if not u.startswith(("file:", "data:", "blob:", "about:"))]
    assert not remote, remote


def test_every_figure_rendered(page: Browser) -> None:
    states = page.js("[...document.querySelectorAll('.ckfig .plot')].map(d => [d.id, d.dataset.ready,"
                     " !!d.querySelector('svg.main-svg, canvas'), d.querySelectorAll('.trace, .hm, image').length])")  # fmt: skip
    assert len(states) >= 10
    bad = [s for s in states if s[1] != "1" or not s[2] or s[3] == 0]
    assert not bad, bad


def test_reference_overlay_rendered(page: Browser) -> None:
    """F7-F11 beside pythia-2023: both series drawn, the legend names the reference."""
    found = page.js("[...document.querySelectorAll('.ckfig')].filter(f => f.querySelector('figcaption')"
                    ".textContent.includes('beside pythia-2023')).map(f => { const d = f.querySelector('.plot');"
                    " return [f.dataset.figure, d.dataset.ready, d.data.map(t => t.name),"
                    " [...d.querySelectorAll('.legendtext')].map(t => t.textContent),"
                    " d.querySelectorAll('.trace').length]; })")  # fmt: skip
    assert {f[0] for f in found} == {"F7", "F8", "F9", "F10", "F11"}
    for fig_id, ready, names, legend, traces in found:
        assert ready == "1" and traces >= len(names) > 0, fig_id
        assert "tiny" in names and "pythia-160m (pythia-2023)" in names, fig_id
        assert "pythia-1.4b (pythia-2023)" in legend and "tiny" in legend, fig_id


def test_slider_changes_the_frame(page: Browser) -> None:
    fig = "document.querySelector('.ckfig[data-figure=F13] .plot')"
    page.js(f"{fig}.scrollIntoView({{block: 'center'}})")
    time.sleep(0.3)
    before = page.js(f"[{fig}.querySelector('.gtitle').textContent, {fig}._fullLayout.sliders[0].active,"
                     f" Array.from({fig}.calcdata[0][0].z[1]).slice(0, 8).join(',')]")  # fmt: skip
    rect = page.js(f"(() => {{ const r = {fig}.querySelector('.slider-rail-touch-rect')"
                   ".getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom]; })()")  # fmt: skip
    page.click(rect[1] - 3, (rect[2] + rect[3]) / 2)  # the rail's right end: the last step
    page.wait_for(f"{fig}._fullLayout.sliders[0].active !== {before[1]}")
    time.sleep(0.5)
    after = page.js(f"[{fig}.querySelector('.gtitle').textContent, {fig}._fullLayout.sliders[0].active,"
                    f" Array.from({fig}.calcdata[0][0].z[1]).slice(0, 8).join(',')]")  # fmt: skip
    assert after[1] == len(page.js(f"{fig}._fullLayout.sliders[0].steps")) - 1
    assert after[0] != before[0] and after[0].endswith("step 80"), (before, after)
    assert after[2] != before[2], "the heatmap data did not change with the frame"
    # hover: a value label appears over the heatmap
    box = page.js(f"(() => {{ const r = {fig}.querySelector('.nsewdrag').getBoundingClientRect();"
                  " return [r.left + r.width / 2, r.top + r.height / 2]; })()")  # fmt: skip
    page.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": box[0], "y": box[1]})
    hover = page.wait_for(f"{fig}.querySelector('.hoverlayer .hovertext')?.textContent")
    assert "100·r = " in hover
    ARTIFACTS.mkdir(exist_ok=True)
    shot = page.call("Page.captureScreenshot", {"format": "png"})
    (ARTIFACTS / "report.png").write_bytes(base64.b64decode(shot["data"]))


def test_replication_table_renders(page: Browser, report_store) -> None:
    from ckptscope.findings import findings

    expected = findings(report_store)
    shown = page.js("[...document.querySelectorAll('#findings table.replication td.verdict')]"
                    ".map(td => [td.className, td.getBoundingClientRect().height > 0])")  # fmt: skip
    assert len(shown) == len(expected) and all(visible for _, visible in shown)
    rows = page.js("document.querySelectorAll('#findings table.replication tbody tr').length")
    assert rows == expected.finding.nunique()
    target = page.js("document.querySelector('#findings a[href=\"#figure-F7\"]') !== null && "
                     "document.getElementById('figure-F7') !== null")  # fmt: skip
    assert target


def test_hostile_token_is_text(page: Browser) -> None:
    assert not _events(page, "Page.javascriptDialogOpening"), "an alert dialog fired"
    ticks = page.js("[...document.querySelectorAll('.ckfig[data-figure=F13] .xtick text')]"
                    ".map(t => t.textContent)")  # fmt: skip
    assert XSS in ticks
    cells = page.js("[...document.querySelectorAll('td')].map(t => t.textContent)")
    assert any(XSS in c for c in cells)
    assert (
        page.js("document.querySelectorAll('td script, figcaption script, nav script').length") == 0
    )
