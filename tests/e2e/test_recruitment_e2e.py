"""发展党员 in Chromium, on the demo data: the branch secretary records a 支部大会 vote for an
applicant (refused first without quorum), the 党总支 records the talk and the approval, the
secretary puts the new 预备党员 into the branch — a stage change; both pages fit 390 px."""
from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from qms.models import Unit
from tests.e2e.conftest import html, login, shot
from workflows.demo import recruitment_step
from workflows.models import Applicant, RecruitStage

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _setup() -> Applicant:
    call_command("demo", "--no-history", stdout=io.StringIO())
    recruitment_step(Unit.objects.get(code="HX"), get_user_model().objects.get(username="admin"))
    return Applicant.objects.get(name="赵宇航")  # the demo's applicant whose next step is the 支部大会


def _fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_an_applicant_through_the_branch_meeting_vote_and_a_stage_change(page, browser, live_server):
    a = _setup()
    assert a.stage == RecruitStage.RECEIVING
    login(page, "shuji_b1", "demo-shuji-2026")
    page.goto("/work/recruitment/?unit=HX-Z1-B1")
    assert "第4阶段 · 预备党员的接收(1人)" in html(page) and "已逾期" in html(page)
    page.click("text=赵宇航")
    assert "下一步:15. 支部大会讨论接收预备党员" in html(page)
    boxes = page.locator("input[name=present]")
    n = boxes.count()
    assert n >= 3
    boxes.nth(0).check()  # one present: no quorum
    page.fill("input[name=for]", "1")
    page.click("button:text-is('登记')")
    assert "支部大会不能表决" in html(page)
    for i in range(n):
        page.locator("input[name=present]").nth(i).check()
    page.fill("input[name=for]", str(n))
    page.fill("input[name=against]", "0")
    page.fill("input[name=abstain]", "0")
    page.click("button:text-is('登记')")
    assert "已登记“支部大会讨论接收预备党员”" in html(page)
    assert "由上级党委的书记、委员办理" in html(page)  # the next step is the higher organisation's
    shot(page, "e2e-recruitment-vote")

    upper = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()
    login(upper, "zongzhi", "demo-zongzhi-2026")
    upper.goto(f"/work/recruitment/{a.pk}/")
    assert "DJ-JL-12《谈话记录(发展党员)》" in html(upper)  # the step's record is a form of the library
    upper.click("button:text-is('登记')")  # refused by the browser: the form's required fields are empty
    assert "已登记“上级党委派人谈话”" not in html(upper)
    upper.fill("input[name=field_talker]", "党委组织员")
    upper.fill("textarea[name=field_content]", "入党动机端正,谈话合格")
    upper.click("button:text-is('登记')")  # 上级党委派人谈话, today
    assert "已登记“上级党委派人谈话”" in html(upper)
    upper.fill("input[name=document_no]", "运行党总支〔2026〕1号")
    upper.click("button:text-is('登记')")  # 审批
    assert "已登记“基层党委审批(接收预备党员)”" in html(upper), upper.inner_text("main")[:800]
    upper.fill("input[name=field_filed_with]", "上级党委组织部门")
    upper.click("button:text-is('登记')")  # 备案
    a.refresh_from_db()
    assert a.member.category == "probationary"

    page.goto(f"/work/recruitment/{a.pk}/")
    page.fill("input[name=field_group]", "第一党小组")
    page.click("button:text-is('登记')")  # 编入党支部和党小组: the stage changes
    a.refresh_from_db()
    assert a.stage == RecruitStage.PROBATION
    assert "赵宇航 · 预备党员的教育考察和转正" in html(page)
    assert "运行党总支〔2026〕1号" in html(page)
    assert "谈话人:党委组织员" in html(page)  # the record shows what its form holds

    phone = browser.new_context(locale="zh-CN", base_url=live_server.url, viewport={"width": 390, "height": 800}).new_page()
    login(phone, "shuji_b1", "demo-shuji-2026")
    for url in ("/work/recruitment/?unit=HX-Z1-B1", f"/work/recruitment/{a.pk}/"):
        phone.goto(url)
        assert _fits(phone), url
    shot(phone, "e2e-recruitment-phone")
