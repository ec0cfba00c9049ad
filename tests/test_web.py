"""The phone control page (`--web`), in a real headless Chromium driven by Playwright: the
page draws the show's parameters, a fader dragged on it reaches the picture, a button picks a
kernel, the fps readout moves, and a page bound beyond loopback needs its token.

Chromium is Debian's (/usr/bin/chromium, installed by .ci/run); Playwright drives it and
downloads nothing.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from test_live import free_port, perform, scripted_show, show_state
from test_mask import sobel_show

from dreamreel.engine.live.web import WebControl

CHROMIUM = os.environ.get("DREAMREEL_CHROMIUM", "/usr/bin/chromium")
# As a closed machine needs it: no sandbox (root), no GPU, no calls home.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    pytest.importorskip("playwright", reason="playwright (the test extra) is not installed")
    if not Path(CHROMIUM).is_file() and shutil.which("chromium") is None:
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")


async def until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """`wait_for` for the browser's thread, which keeps its event loop turning meanwhile."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.01)


def test_page_fader_reaches_the_picture(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    browser_path = chromium()
    capture, programs, state = sobel_show(tmp_path, 64)
    show, shown = scripted_show(state, capture, programs, 100_000)
    web = WebControl(state, free_port(), stats=show.readout).start()
    seen: dict[str, object] = {}

    async def play() -> None:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=browser_path, args=FLAGS)
            page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            await page.goto(web.url)
            await page.wait_for_selector("#f-wet")
            await page.wait_for_function("document.getElementById('stats').textContent"
                                         ".includes('fps')", timeout=30_000)
            seen["stats"] = await page.inner_text("#stats")
            await page.click("#c-kernel-blur")
            await until(lambda: state.value("kernel") == "blur", "the kernel button")
            seen["before"] = len(shown)
            box = await page.locator("#f-wet").bounding_box()  # drag the wet fader to dry
            await page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
            await page.mouse.down()
            await page.mouse.move(box["x"] + 1, box["y"] + box["height"] / 2, steps=8)
            await page.mouse.up()
            await until(lambda: state.value("wet") < 0.02, "the wet fader")
            seen["dry_from"] = len(shown)
            await until(lambda: len(shown) > seen["dry_from"] + 5, "frames after the change")
            await page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
            seen["wet_label"] = await page.inner_text("#f-wet >> xpath=.. >> .value")
            await browser.close()

    def performer() -> None:
        # The async API on a loop of this thread's own: the sync API's greenlets, switched
        # on a thread that then ends, are a native crash waiting for the collector.
        try:
            asyncio.run(play())
        finally:
            state.quit.set()

    try:
        perform(show, performer)
    finally:
        web.stop()
        capture.stop()
    assert "fps" in seen["stats"] and "ms" in seen["stats"], seen
    assert float(seen["wet_label"]) < 0.02
    styled = [np.abs(o.astype(int) - c).mean() for _, c, o in shown[:seen["before"]]]
    dry = [np.abs(o.astype(int) - c).max() for _, c, o in shown[seen["dry_from"] + 2:]]
    assert min(styled) > 10, styled[:5]  # the effect, before the fader moved
    assert max(dry) <= 1, dry  # dry: the camera's own picture
    shot = (tmp_path / "page.png").read_bytes()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10_000


def test_page_beyond_loopback_needs_its_token() -> None:
    state = show_state(["style"])
    web = WebControl(state, 0, host="0.0.0.0").start()
    try:
        assert "token=" in web.url
        local = f"http://127.0.0.1:{web.port}/"
        for wrong in ("", "?token=wrong"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(local + wrong, timeout=10)
            refused.value.close()
            assert refused.value.code == 403
        with urllib.request.urlopen(local + "?" + web.url.split("?")[1], timeout=10) as page:
            assert page.status == 200 and b"dreamreel" in page.read()
    finally:
        web.stop()


def test_server_stops_promptly_while_a_client_holds_the_page_open() -> None:
    """Quitting the show while a browser keeps the page's connection alive: no 10 s hang."""
    web = WebControl(show_state(["style"]), 0).start()
    held = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    try:
        held.request("GET", "/")
        assert held.getresponse().read().startswith(b"<!doctype html")
        began = time.monotonic()
        web.stop()
        assert time.monotonic() - began < 5, "stop() waited out the held connection"
    finally:
        held.close()
