"""A branch secretary on a phone (390 px wide), on the demo data: no page is wider than the
screen (wide tables scroll in their own box), and the menu opens from a 菜单 button."""
from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from procedures.library_loader import load_library
from qms.models import Member
from tests.e2e.conftest import login, shot
from workflows.models import Occurrence
from workflows.scheduler import schedule

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAGES = ["home", "unit_tree", "member_list", "procedure_register", "occurrence_list", "compliance", "dues_page",
         "nc_register", "audit_list", "objectives", "annual", "org_check", "notifications", "my_account", "account_list"]


def test_no_page_is_wider_than_a_phone_and_the_menu_folds(browser, live_server):
    call_command("demo", "--no-history", stdout=io.StringIO())
    load_library()
    schedule()  # this year's occurrences, so an occurrence page can be opened
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        login(page, "shuji_b1", "demo-shuji-2026")
        assert not page.locator("nav.menu").is_visible()
        page.click("label.menu-toggle")
        assert page.locator("nav.menu").is_visible()
        page.click("nav.menu summary:has-text('执行')")  # a group unfolds under its name
        assert page.locator("nav.menu a:text-is('应开展事项')").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        occ = Occurrence.objects.filter(unit__code="HX-Z1-B1").order_by("due_date").first()
        member = Member.objects.filter(user__username="dangyuan").first()
        urls = [reverse(name) for name in PAGES] + [reverse("occurrence_detail", args=[occ.pk]),
                                                    reverse("account_member", args=[member.pk])]
        wide = {}
        for url in urls:
            page.goto(url)
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > 390:
                wide[url] = width
        shot(page, "phone-account")
        page.goto(urls[-2])
        shot(page, "phone-occurrence")
        assert wide == {}, f"pages wider than the phone: {wide}"
    finally:
        context.close()
