"""Scenario 5 (issue 8), first part: a branch secretary sees only their branch's world."""
from __future__ import annotations

import datetime as dt

import pytest

from qms import services
from tests import factories
from tests.e2e.conftest import login, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_secretary_sees_own_branch_and_not_the_sibling(page):
    t = factories.small_tree()
    u = factories.user("sec1", password="pass-12345")
    services.member_update(t["m1"][0], actor=None, reason="开通账号", user=u)
    services.position_assign(actor=None, member=t["m1"][0], unit=t["b1"], title="secretary", start=dt.date(2024, 1, 1))
    login(page, "sec1", "pass-12345")
    assert page.locator("h1").first.inner_text().startswith("第一党支部")
    shot(page, "secretary-home")
    page.click("text=党员")
    body = page.locator("main").inner_text()
    assert t["m1"][1].name in body and t["m2"][0].name not in body
    resp = page.goto(f"/members/{t['m2'][0].pk}/")
    assert resp.status == 404
    resp = page.goto("/units/B2/")
    assert resp.status == 404
