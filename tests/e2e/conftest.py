"""Browser tests: Playwright for Python driving Debian's Chromium (never a downloaded
browser), headless, no sandbox as root, background networking off (the machines have no
internet). Screenshots go to ``var/screenshots/`` (a few are kept in docs/screenshots/)."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import IN_CI

# Playwright's sync API keeps an event loop running in the main thread for the whole
# session; the ORM calls tests (and their teardown) make are still synchronous and safe.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("QMS_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def _wait_for_request_threads(timeout: float = 10.0) -> None:
    """Let the live server's request threads finish closing their connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any("process_request_thread" in t.name for t in threading.enumerate()):
            return
        time.sleep(0.05)


@pytest.fixture(scope="session")
def browser(live_server):
    # Depends on live_server so that the browser (and its keep-alive connections) is closed
    # *before* the live server stops sharing the test database with its request threads.
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"CI=true 时必须安装 Chromium({CHROMIUM})")
        pytest.skip(f"需要 Chromium({CHROMIUM}),请 apt-get install chromium")
    from playwright.sync_api import sync_playwright

    # each test gets a new browser context: a fresh, empty profile
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"],
        )
        try:
            yield b
        finally:
            b.close()
            _wait_for_request_threads()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    p = context.new_page()
    p.set_default_timeout(15000)
    try:
        yield p
    finally:
        context.close()


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def html(page) -> str:
    """The page's HTML once it has loaded. A click that opens or posts a page returns when the
    new page has started (committed); read at once, a page still loading reads part-empty."""
    page.wait_for_load_state("load")
    return page.content()


def login(page, username: str, password: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)
