"""One inspection campaign walked in Chromium on the demo data: the committee's administrator
announces a campaign and a branch secretary submits the 自查报告 (a score out of range refused
first); on the demo's campaign in progress a team leader records the inspection of a sampled
unit (实地走访, 查阅档案, 座谈会, questionnaires, scores), the difference from the self-score shows,
a finding goes into the problem register, and the summary page has the roll-up — every page
fitting a 390 px phone."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from audits.campaign.models import Campaign, CampaignUnit, UnitState
from audits.capa.models import Nonconformity
from tests.e2e.conftest import html, login, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _fits_a_phone(page, url: str) -> None:
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto(url)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, url
    page.set_viewport_size({"width": 1280, "height": 900})


def _context(browser, live_server, user, password):
    p = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}, base_url=live_server.url).new_page()
    p.set_default_timeout(15000)
    login(p, user, password)
    return p


def test_a_campaign_from_announcement_and_self_assessment_to_inspection_findings_and_summary(page, browser, live_server):
    call_command("demo", "--no-history", stdout=io.StringIO())
    from django.contrib.auth import get_user_model

    from audits.campaign.demo import campaign_demo
    from qms.models import Unit

    admin = get_user_model().objects.get(username="admin")
    assert "抽中" in campaign_demo(Unit.objects.get(code="HX"), admin)  # the demo's step (audits/demo.py)
    today = timezone.localdate()

    # the committee announces a campaign of its branches
    login(page, "admin", "demo-admin-2026")
    page.goto("/audits/campaigns/")
    page.click("text=发布检查活动")
    page.fill("input[name=title]", "支部“三会一课”专项自查")
    page.uncheck("input[name=kinds][value=general_branch]")
    page.fill("input[name=deadline]", (today + dt.timedelta(days=10)).isoformat())
    page.click("button:has-text('发布')")
    assert "已发布检查活动" in html(page)
    new = Campaign.objects.get(title="支部“三会一课”专项自查")
    assert not new.units.filter(unit__kind="general_branch").exists()
    _fits_a_phone(page, f"/audits/campaigns/{new.pk}/")

    # the branch secretary submits the 自查报告: a score beyond the item's points is refused first
    secretary = _context(browser, live_server, "shuji_b1", "demo-shuji-2026")
    entry = CampaignUnit.objects.get(campaign=new, unit__code="HX-Z1-B1")
    secretary.goto(f"/audits/campaigns/{new.pk}/units/{entry.pk}/")
    items = list(new.items.order_by("order"))
    for i in items:
        secretary.fill(f"input[name=s_{i.pk}]", str(int(i.max_score) - 1))
    secretary.evaluate(f"document.querySelector('input[name=s_{items[0].pk}]').removeAttribute('max')")
    secretary.fill(f"input[name=s_{items[0].pk}]", "99")
    secretary.fill("textarea[name=report]", "对照检查表逐项自查,党小组会记录不全,已明确整改时限")
    secretary.click("button:has-text('提交自查报告')")
    assert "得分须在 0 至" in html(secretary)
    assert CampaignUnit.objects.get(pk=entry.pk).state == UnitState.PENDING
    for i in items:
        secretary.fill(f"input[name=s_{i.pk}]", str(int(i.max_score) - 1))
    secretary.fill("textarea[name=report]", "对照检查表逐项自查,党小组会记录不全,已明确整改时限")
    secretary.click("button:has-text('提交自查报告')")
    assert "已提交自查报告" in html(secretary)
    assert CampaignUnit.objects.get(pk=entry.pk).state == UnitState.SUBMITTED
    _fits_a_phone(secretary, f"/audits/campaigns/{new.pk}/units/{entry.pk}/")

    # the demo's campaign in progress: a sampled unit not yet inspected, by its team's leader
    demo = Campaign.objects.exclude(pk=new.pk).get()
    assert demo.sample_seed is not None and demo.units.filter(state=UnitState.INSPECTED).exists()
    todo = (demo.units.filter(sampled=True).exclude(state=UnitState.INSPECTED).filter(team__leader__username="admin")
            .select_related("unit").first())
    assert todo is not None
    page.goto(f"/audits/campaigns/{demo.pk}/")
    assert "随机种子" in html(page) and todo.unit.name in html(page)
    shot(page, "e2e-campaign-detail")
    page.goto(f"/audits/campaigns/{demo.pk}/units/{todo.pk}/")
    page.fill("textarea[name=visit_notes]", "查看党员活动室和公开栏")
    page.fill("textarea[name=archive_notes]", "查阅本年度三会一课记录")
    page.fill("input[name=forum_sessions]", "1")
    page.fill("input[name=forum_attendance]", "9")
    page.fill("input[name=questionnaires_issued]", "20")
    page.fill("input[name=questionnaires_returned]", "18")
    page.fill("input[name=questionnaires_satisfied]", "16")
    for i in demo.items.order_by("order"):
        page.fill(f"input[name=i_{i.pk}]", str(int(i.max_score) - 2))
    page.click("button:has-text('保存检查记录')")
    assert "已登记检查记录" in html(page) and "差值" in html(page)
    assert CampaignUnit.objects.get(pk=todo.pk).state == UnitState.INSPECTED
    page.fill("textarea[name=evidence]", "党小组会记录缺少出席情况")
    page.click("button:has-text('提出检查发现')")
    assert "进入问题清单" in html(page)
    nc = Nonconformity.objects.get(campaign_finding__entry=todo)
    assert nc.source == "spot_check" and nc.unit == todo.unit
    page.goto("/audits/problems/")
    assert nc.code in html(page)
    _fits_a_phone(page, f"/audits/campaigns/{demo.pk}/units/{todo.pk}/")

    # the summary for the 总结会
    page.goto(f"/audits/campaigns/{demo.pk}/summary/")
    assert "按单位类别" in html(page) and "按党总支" in html(page) and "发电运行党总支" in html(page)
    shot(page, "e2e-campaign-summary")
    _fits_a_phone(page, f"/audits/campaigns/{demo.pk}/summary/")
