"""Scenario 5 (issue 8), on the demo data: a branch secretary sees only their branch's world
and cannot open a sibling branch's pages by URL."""
from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from qms.models import Member
from tests.e2e.conftest import login, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_secretary_sees_own_branch_and_not_the_sibling(page):
    call_command("demo", "--no-history", stdout=io.StringIO())
    login(page, "shuji_b1", "demo-shuji-2026")
    assert page.locator("h1").first.inner_text().startswith("运行一值党支部")
    shot(page, "secretary-home")
    assert not page.locator("nav.menu a:text-is('党员')").is_visible()  # in its group, folded
    page.click("nav.menu summary:has-text('组织与党员')")
    page.click("nav.menu a:text-is('党员')")
    body = page.locator("main").inner_text()
    own = Member.objects.filter(memberships__unit__code="HX-Z1-B1", memberships__end__isnull=True).first()
    other = Member.objects.filter(memberships__unit__code="HX-Z1-B2", memberships__end__isnull=True).first()
    assert own.name in body and other.name not in body
    assert page.goto(f"/members/{other.pk}/").status == 404
    assert page.goto("/units/HX-Z1-B2/").status == 404
    assert page.goto("/units/HX-Z1-B1/").status == 200
    menu = page.locator("nav.menu").text_content()  # folded groups included
    assert "组织架构" in menu and "留痕台账" not in menu
