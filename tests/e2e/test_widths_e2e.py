"""Every kind of page, as every demo role, at a desktop (1366 px) and a phone (390 px) width:
no page is wider than the window (``document.documentElement.scrollWidth``). The pages are
found as the role would find them — the links of the pages two clicks from home, one page
per URL pattern — so a page added later is measured without being listed here."""
from __future__ import annotations

import io
import re
from urllib.parse import urldefrag, urlparse

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.urls import Resolver404, resolve

from procedures.library_loader import load_library
from tests.e2e.conftest import login
from workflows.scheduler import schedule

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROLES = {"admin": "demo-admin-2026", "zongzhi": "demo-zongzhi-2026", "shuji_b1": "demo-shuji-2026",
         "dangyuan": "demo-member-2026", "neishen": "demo-audit-2026", "waishen": "demo-external-2026"}
WIDTHS = (1366, 390)
HREF = re.compile(r'<a\s[^>]*href="(/[^"#]*)"')
SKIP = ("/logout/", "/static/", "/i18n/", "/admin/")


def one_page_per_pattern(username: str, depth: int = 2) -> dict[str, str]:
    """URL pattern → the first HTML page of it that ``username`` reaches from home."""
    client = Client()
    client.force_login(User.objects.get(username=username))
    found: dict[str, str] = {}
    seen, frontier = set(), ["/"]
    for _ in range(depth + 1):
        nxt = []
        for url in frontier:
            if url in seen:
                continue
            seen.add(url)
            try:
                route = resolve(urlparse(url).path).route
            except Resolver404:
                continue
            if route in found:
                continue
            r = client.get(url)
            if r.status_code != 200 or not r.get("Content-Type", "").startswith("text/html"):
                continue
            found[route] = url
            for href in HREF.findall(r.content.decode()):
                href = urldefrag(href.replace("&amp;", "&"))[0]
                if not href.startswith(SKIP):
                    nxt.append(href)
        frontier = nxt
    return found


def test_no_page_is_wider_than_the_window_for_any_role(browser, live_server):
    call_command("demo", "--no-history", stdout=io.StringIO())
    load_library()
    schedule()
    wide: dict[str, int] = {}
    measured = 0
    for username, password in ROLES.items():
        pages = one_page_per_pattern(username)
        assert len(pages) >= 8, (username, pages)
        context = browser.new_context(locale="zh-CN", viewport={"width": WIDTHS[0], "height": 900}, base_url=live_server.url)
        page = context.new_page()
        page.set_default_timeout(15000)
        try:
            login(page, username, password)
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                for url in pages.values():
                    page.goto(url)
                    measured += 1
                    scroll = page.evaluate("document.documentElement.scrollWidth")
                    if scroll > width:
                        wide[f"{username} {width}px {url}"] = scroll
        finally:
            context.close()
    assert measured > 100
    assert wide == {}, f"pages wider than the window: {wide}"
