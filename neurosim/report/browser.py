"""Open a report in headless Chromium and check it as a reader's browser sees it.

Talks the Chrome DevTools Protocol over ``--remote-debugging-port`` with the small ``websocket-client`` package
(the ``dev`` extra): no Selenium, no driver binary. :func:`check_page` loads a local HTML file, records every
network request and console error, measures every image (``naturalWidth``), and takes a full-page screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurosim.errors import ModelPackageMissing, NeurosimError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
                  "--remote-allow-origins=*"]


def find_chromium() -> str | None:
    """The Chromium binary: ``$NEUROSIM_CHROMIUM`` or the first of the usual names on PATH."""
    env = os.environ.get("NEUROSIM_CHROMIUM")
    if env:
        return env if shutil.which(env) else None
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageCheck:
    url: str
    images: list[dict[str, Any]] = field(default_factory=list)  # src (prefix), alt, naturalWidth, naturalHeight
    requests: list[str] = field(default_factory=list)  # every URL other than the page itself and data: URLs
    console_errors: list[str] = field(default_factory=list)
    page_width: int = 0
    page_height: int = 0
    viewport_width: int = 0
    screenshot: bytes = b""
    dialogs: list[str] = field(default_factory=list)  # alert/confirm/prompt: proof that a script ran
    active_elements: int = 0  # elements that could run script or load a frame: script, iframe, on* handlers, ...

    @property
    def broken_images(self) -> list[dict[str, Any]]:
        return [i for i in self.images if not i.get("naturalWidth")]


class _Cdp:
    def __init__(self, ws_url: str, timeout_s: float) -> None:
        import websocket

        self.timeout_s = timeout_s
        self.ws = websocket.create_connection(ws_url, timeout=timeout_s, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _event(self, msg: dict[str, Any]) -> None:
        self.events.append(msg)
        if msg.get("method") == "Page.javascriptDialogOpening":  # a script ran: dismiss its dialog, the page goes on
            self.next_id += 1
            self.ws.send(json.dumps({"id": self.next_id, "method": "Page.handleJavaScriptDialog",
                                     "params": {"accept": False}}))

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise NeurosimError(f"chromium: {method} failed: {msg['error'].get('message')}")
                return msg.get("result", {})
            if "method" in msg:
                self._event(msg)

    def wait_for(self, method: str, deadline: float) -> None:
        import websocket

        if any(e["method"] == method for e in self.events):
            return
        while time.monotonic() < deadline:
            try:
                msg = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                break
            if "method" in msg:
                self._event(msg)
                if msg["method"] == method:
                    return
        raise NeurosimError(f"chromium: no {method} before the time limit")

    def drain(self, seconds: float) -> None:
        """Collect events for a short while (late console messages and requests)."""
        import websocket

        self.ws.settimeout(0.1)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                msg = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            if "method" in msg:
                self._event(msg)
        self.ws.settimeout(self.timeout_s)

    def close(self) -> None:
        self.ws.close()


def _devtools_port(user_dir: Path, proc: subprocess.Popen, deadline: float) -> int:
    marker = user_dir / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if marker.exists():
            lines = marker.read_text().split()
            if lines:
                return int(lines[0])
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace")[-400:] if proc.stderr else ""
            raise NeurosimError(f"chromium exited with code {proc.returncode} before it listened: {err}")
        time.sleep(0.05)
    raise NeurosimError("chromium did not open its DevTools port in time")


def check_page(html_path: str | os.PathLike, width: int = 1280, height: int = 900, timeout_s: float = 60.0,
               chromium: str | None = None) -> PageCheck:
    """Load ``html_path`` in a fresh headless Chromium and report what it loaded, requested and logged."""
    try:
        import websocket  # noqa: F401
    except ImportError:
        raise ModelPackageMissing("the browser check needs websocket-client: pip install -e '.[dev]'") from None
    binary = chromium or find_chromium()
    if binary is None:
        raise NeurosimError("no Chromium found (apt-get install -y chromium, or set NEUROSIM_CHROMIUM)")
    url = Path(html_path).resolve().as_uri()
    user_dir = Path(tempfile.mkdtemp(prefix="neurosim-chromium-"))
    deadline = time.monotonic() + timeout_s
    proc = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={user_dir}", "--remote-debugging-port=0",
                             f"--window-size={width},{height}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cdp = None
    try:
        port = _devtools_port(user_dir, proc, deadline)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            targets = json.loads(resp.read())
        page = next(t for t in targets if t.get("type") == "page")
        cdp = _Cdp(page["webSocketDebuggerUrl"], timeout_s)
        for domain in ("Page", "Network", "Runtime", "Log"):
            cdp.call(f"{domain}.enable")
        cdp.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        cdp.events.clear()
        cdp.call("Page.navigate", url=url)
        cdp.wait_for("Page.loadEventFired", deadline)
        cdp.drain(0.5)
        js = ("JSON.stringify({images: Array.from(document.images).map(i => ({src: i.src.slice(0, 48), alt: i.alt, "
              "naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight, complete: i.complete})), "
              "w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight, "
              "vw: window.innerWidth, active: document.querySelectorAll('script, iframe, frame, object, embed, "
              "base, meta[http-equiv=refresh]').length + Array.from(document.querySelectorAll('*')).filter(e => "
              "Array.from(e.attributes).some(a => /^on/i.test(a.name) || /^\\s*(javascript|vbscript):/i.test("
              "a.value))).length})")
        res = cdp.call("Runtime.evaluate", expression=js, returnByValue=True)
        info = json.loads(res["result"]["value"])
        check = PageCheck(url=url, images=info["images"], page_width=int(info["w"]), page_height=int(info["h"]),
                          viewport_width=int(info["vw"]), active_elements=int(info["active"]))
        full_h = min(max(check.page_height, height), 16000)
        cdp.call("Emulation.setDeviceMetricsOverride", width=width, height=full_h, deviceScaleFactor=1, mobile=False)
        shot = cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        check.screenshot = base64.b64decode(shot["data"])
        cdp.drain(0.2)
        for ev in cdp.events:
            m, p = ev["method"], ev.get("params", {})
            if m == "Network.requestWillBeSent":
                u = p.get("request", {}).get("url", "")
                if u != url and not u.startswith("data:"):
                    check.requests.append(u)
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                check.console_errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                                     for a in p.get("args", [])))
            elif m == "Page.javascriptDialogOpening":
                check.dialogs.append(f"{p.get('type')}: {p.get('message')}")
            elif m == "Runtime.exceptionThrown":
                check.console_errors.append(p.get("exceptionDetails", {}).get("text", "exception"))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                e = p["entry"]
                check.console_errors.append(f"{e.get('source')}: {e.get('text')} {e.get('url', '')}".strip())
        return check
    finally:
        if cdp is not None:
            with contextlib.suppress(Exception):  # the browser may already be gone
                cdp.call("Browser.close")
            cdp.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(user_dir, ignore_errors=True)
