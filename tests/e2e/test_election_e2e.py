"""One 换届选举 in Chromium on the demo data, 酝酿 → 请示 → 选举 → 报批: the 体系管理员 opens the
election of 机关第一党支部 when its 换届 occurrence is due, puts up the candidates, records the
committee's 批复 on the unit page, records the 党员大会's ballots, and the new committee
(书记, 副书记, 委员) is in place with the new term started."""
from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from qms.models import Position, Unit
from tests.e2e.conftest import html, login, shot
from workflows import election
from workflows.models import Election, ElectionState
from workflows.scheduler import schedule

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
CODE = "HX-B1"


def _decision(page, kind: str, number: str) -> None:
    page.goto(f"/units/{CODE}/decisions/new/")
    page.select_option("select[name=kind]", kind)
    page.fill("input[name=doc_number]", number)
    page.click("text=保存")
    assert number in html(page)


def test_one_election_from_nominating_to_the_new_committee(page, browser, live_server):
    call_command("demo", "--no-history", stdout=io.StringIO())
    call_command("load_procedures", stdout=io.StringIO())
    schedule()
    today = timezone.localdate()
    unit = Unit.objects.get(code=CODE)
    n = election.voters(unit, today).count()
    login(page, "admin", "demo-admin-2026")
    page.goto(f"/units/{CODE}/")
    page.click("text=换届选举")
    page.click("text=发起换届")
    assert "酝酿" in html(page)
    # 酝酿: 3 seats, 4 candidates (20% 差额)
    page.fill("input[name=seats]", "3")
    boxes = page.locator("input[name=candidates]")
    for i in range(4):
        boxes.nth(i).check()
    page.click("text=保存候选人")
    assert "候选人 4 人" in html(page)
    # 请示: the committee's 批复, recorded on the unit page, then referenced
    _decision(page, "election_request", f"华信党委〔{today.year}〕21号")
    page.goto(f"/work/elections/{CODE}/")
    page.select_option("select[name=decision]", index=1)
    page.click("text=确认请示已获批准")
    assert "已请示" in html(page)
    # the pages fit a phone (390 px): the ballot form, the decision form, the unit page
    page.set_viewport_size({"width": 390, "height": 900})
    for url in (f"/work/elections/{CODE}/", f"/units/{CODE}/decisions/new/", f"/units/{CODE}/"):
        page.goto(url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, url
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"/work/elections/{CODE}/")
    # 选举: everyone entitled present, ballots per candidate
    for i in range(page.locator("input[name=present]").count()):
        page.locator("input[name=present]").nth(i).check()
    votes = page.locator("input[name^=votes_]")
    for i, v in enumerate((n, n - 1, n - 2, 1)):
        votes.nth(i).fill(str(v))
    shot(page, "e2e-election-ballots")
    page.click("text=登记选举结果")
    assert f"实到 {n} 人" in html(page)
    # 报批: 书记、副书记 approved, 委员 filed
    _decision(page, "election_approval", f"华信党委〔{today.year}〕22号")
    _decision(page, "committee_filing", f"华信党委〔{today.year}〕23号")
    page.goto(f"/work/elections/{CODE}/")
    page.select_option("select[name=secretary]", index=1)
    page.fill("input[name=secretary_votes]", "3")
    page.select_option("select[name=deputy]", index=2)
    page.fill("input[name=deputy_votes]", "3")
    page.select_option("select[name=approval]", index=1)
    page.select_option("select[name=filing]", index=1)
    page.click("text=完成报批,更新班子成员")
    assert "新一届任期自" in html(page)
    shot(page, "e2e-election-done")
    e = Election.objects.get(unit=unit)
    assert e.state == ElectionState.COMPLETED
    new = {p.title for p in Position.objects.filter(unit=unit, end__isnull=True, start=today)}
    assert {"secretary", "deputy_secretary", "committee_member"} <= new
    assert Unit.objects.get(pk=unit.pk).term_start == today
    page.goto(f"/units/{CODE}/")
    sec = Position.objects.get(unit=unit, title="secretary", end__isnull=True).member
    assert sec.name in html(page)
