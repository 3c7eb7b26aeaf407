"""Scenarios 1 and 2 (issue 8), on the demo data in Chromium: a branch secretary plans and
records this month's 支委会, the checker checks it, the heatmap cell turns done; and a record
missing an element cannot be checked, the page saying which."""
from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.e2e.conftest import html, login, shot
from workflows.models import Occurrence, State
from workflows.scheduler import schedule

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _setup():
    call_command("demo", "--no-history", stdout=io.StringIO())
    call_command("load_procedures", stdout=io.StringIO())
    schedule()
    today = timezone.localdate()
    return Occurrence.objects.get(unit__code="HX-Z1-B1", obligation_key="branch_committee_meeting",
                                  period_start=today.replace(day=1)), today


def _plan_and_record(page, occ, today, *, with_speeches=True):
    page.goto(f"/work/{occ.pk}/")
    page.fill("input[name=planned_date]", today.isoformat())
    page.fill("input[name=place]", "运行部会议室")
    page.fill("input[name=topic]", "研究本月党建工作")
    page.click("text=保存计划")
    page.fill("input[name=time]", f"{today.isoformat()}T14:00")
    if with_speeches:
        page.fill("textarea[name=speeches]", "书记传达上级精神,委员逐一发言")
    page.fill("input[name=votes_for]", "3")
    page.fill("input[name=votes_against]", "0")
    page.fill("input[name=votes_abstain]", "0")
    page.click("text=保存记录")
    # the 委员 expected at a 支委会, in one submit: everyone 出席 by default, one exception 请假 with its reason
    rows = page.locator("table:has(th:text('委员(应到人员)')) tbody tr")
    last = rows.nth(rows.count() - 1)
    last.locator("select").select_option("leave")
    last.locator("input[type=text]").fill("外出培训")
    page.click("text=保存出席情况")
    assert "已保存出席情况" in html(page)
    page.fill("input[name=text]", "月底前完成班组学习安排")
    page.fill("input[name=due_date]", today.isoformat())
    page.click("text=添加决议")
    page.click("text=提交记录(D)")


def test_secretary_records_the_monthly_committee_meeting_and_it_is_checked(page, browser, live_server):
    occ, today = _setup()
    login(page, "shuji_b1", "demo-shuji-2026")
    assert "本月应开展" in html(page)
    shot(page, "e2e-secretary-home")
    _plan_and_record(page, occ, today)
    occ.refresh_from_db()
    assert occ.state == State.HELD
    shot(page, "e2e-record-submitted")
    admin = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()
    login(admin, "admin", "demo-admin-2026")
    admin.goto(f"/work/{occ.pk}/")
    admin.fill("input[name=password]", "demo-admin-2026")  # 电子签名: the checker's password again
    admin.click("text=检查通过(C)")
    occ.refresh_from_db()
    assert occ.state == State.CHECKED
    admin.goto("/work/compliance/?unit=HX-Z1-B1")
    cell = admin.locator(f"a.cell[href='/work/{occ.pk}/']")
    assert "按时完成" in cell.get_attribute("title")
    shot(admin, "e2e-heatmap")


def test_a_record_missing_an_element_cannot_be_checked(page, browser, live_server):
    occ, today = _setup()
    login(page, "shuji_b1", "demo-shuji-2026")
    _plan_and_record(page, occ, today, with_speeches=False)
    assert "尚缺必备要素:发言内容" in html(page) or "发言内容" in html(page)
    admin = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()
    login(admin, "admin", "demo-admin-2026")
    admin.goto(f"/work/{occ.pk}/")
    admin.fill("input[name=password]", "demo-admin-2026")  # 电子签名: the checker's password again
    admin.click("text=检查通过(C)")
    assert "记录要素不全,缺少:发言内容" in html(admin)
    occ.refresh_from_db()
    assert occ.state == State.HELD
    shot(admin, "e2e-missing-element")
