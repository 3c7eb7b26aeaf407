"""Scenario 3 (issue 8), on the demo data in Chromium: the internal auditor (a member of
another branch) plans an audit of two branches, draws a sample, holds the opening meeting,
records two nonconformities and raises them as findings; the branch secretary takes one
ticket through cause, plan and implementation with an attached file; the auditor verifies and
closes it — and the 整改率 goes from 0% to 50% on the register and the committee's dashboard,
where the objectives and the ranking show too."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from audits.models import Audit, NCState, Nonconformity
from tests.e2e.conftest import html, login, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _new_page(browser, live_server, user, password):
    p = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}, base_url=live_server.url).new_page()
    p.set_default_timeout(15000)
    login(p, user, password)
    return p


def test_audit_finding_ticket_closed_and_rectification_rate_moves(page, browser, live_server):
    call_command("demo", "--no-history", stdout=io.StringIO())
    call_command("load_procedures", stdout=io.StringIO())
    today = timezone.localdate()

    auditor = _new_page(browser, live_server, "neishen", "demo-audit-2026")
    auditor.goto("/audits/new/")
    auditor.fill("input[name=title]", "运行部年度内审")
    auditor.select_option("select[name=units]", label=["运行一值党支部", "运行二值党支部"])
    from django.contrib.auth import get_user_model

    from qms.people import person

    neishen = get_user_model().objects.get(username="neishen")
    auditor.select_option("select[name=lead]", label=person(neishen))  # people are listed by name
    auditor.fill("input[name=start]", today.isoformat())
    auditor.fill("input[name=end]", (today + dt.timedelta(days=5)).isoformat())
    auditor.click("text=保存计划")
    audit = Audit.objects.get(title="运行部年度内审")
    assert audit.units.count() == 2 and audit.items.exists()
    auditor.fill("input[name=seed]", "2026")
    auditor.fill("input[name=per_unit]", "2")
    auditor.click("button:text('抽样')")
    assert "随机种子 2026" in html(auditor)
    auditor.fill("input[name=place]", "运行部会议室")
    auditor.locator("input[name=auditees]").first.check()
    auditor.fill("textarea[name=notes]", "介绍审核范围、方法和日程")
    auditor.click("text=记录首次会议,开始审核")
    assert "审核会议记录" in html(auditor)
    for unit_name, note in (("运行一值党支部", "抽查3月支委会记录,无表决情况"), ("运行二值党支部", "党课记录缺签到表")):
        row = auditor.locator("tbody tr", has_text=unit_name).first
        row.locator("select[name=result]").select_option("nonconform")
        row.locator("input[name=note]").fill(note)
        row.locator("button:text('保存')").click()
        auditor.locator("tbody tr", has_text=note).locator("button:text('开具不符合项报告单')").click()
    findings = Nonconformity.objects.filter(audit=audit).order_by("code")
    assert findings.count() == 2
    shot(auditor, "e2e-audit-findings")

    login(page, "admin", "demo-admin-2026")
    page.goto("/audits/problems/")
    assert "0%" in page.locator(".stat").first.inner_text()

    nc = findings.get(unit__code="HX-Z1-B1")
    sec = _new_page(browser, live_server, "shuji_b1", "demo-shuji-2026")
    sec.goto(f"/audits/problems/{nc.pk}/")
    sec.click("button:has-text('确认不符合项')")  # the 下一步 line names the step too
    sec.fill("input[name=why1]", "为什么没有记录表决情况?")
    sec.fill("textarea[name=root_cause]", "记录模板未设表决栏,记录人不清楚要求")
    sec.click("text=提交原因分析")
    sec.fill("textarea[name=correction]", "补记3月表决情况")
    sec.fill("textarea[name=corrective_action]", "启用含表决栏的新记录表并培训记录人")
    sec.fill("input[name=due_date]", (today + dt.timedelta(days=14)).isoformat())
    sec.click("text=提交措施")
    sec.fill("textarea[name=evidence]", "已补记,并于本月支委会使用新表")
    sec.set_input_files("input[name=evidence_file]", files=[{"name": "补记的表决情况.pdf", "mimeType": "application/pdf",
                                                              "buffer": b"%PDF-1.4 votes recorded"}])
    sec.click("text=提交整改")
    nc.refresh_from_db()
    assert nc.state == NCState.IMPLEMENTED and nc.attachments.get().name == "补记的表决情况.pdf"

    auditor.goto(f"/audits/problems/{nc.pk}/")
    auditor.fill("input[name=note]", "查阅补记和本月记录,属实")
    auditor.fill("input[name=password]", "demo-audit-2026")  # 电子签名: the verifier's password again
    auditor.click("text=验证通过")
    auditor.fill("input[name=password]", "demo-audit-2026")
    auditor.click("button:text('关闭')")
    nc.refresh_from_db()
    assert nc.state == NCState.CLOSED

    page.goto("/audits/problems/")
    assert "50%" in page.locator(".stat").first.inner_text()
    shot(page, "e2e-rectification-rate")
    auditor.goto(f"/audits/{audit.pk}/report.pdf")  # the report is there for download (a PDF, not a page)

    page.goto("/audits/scoring/")
    page.click("text=按默认方案建立")
    page.goto("/audits/objectives/")
    page.click("text=按默认目标建立本年度目标")
    assert "<svg" in html(page)
    page.goto("/")
    body = html(page)
    assert "考核排名" in body and "党建目标" in body and "整改率" in body
    shot(page, "e2e-committee-dashboard")
