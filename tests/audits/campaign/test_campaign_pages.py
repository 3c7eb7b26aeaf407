"""The campaign's pages, thin over the services: announcing, 自查 with files, teams, sampling,
inspection entry, findings and the summary (page, PDF, Excel) — in Chinese, refusals as messages
or 403 pages, never a 500, and no English words on any page."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from audits.campaign import services as svc
from audits.campaign.models import Campaign, CampaignUnit, Plan, UnitState
from audits.capa.models import Nonconformity
from tests.audits.campaign.test_campaign import DEADLINE, START, _pdf, org  # noqa: F401  (the fixture)
from tests.test_crawl import foreign_words

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


def _english(client, url):
    """The page as tests/test_crawl.py reads it: no Latin words or identifiers a reader would see."""
    r = client.get(url)
    assert r.status_code == 200, url
    words = foreign_words(r.content.decode())
    assert words == set(), (url, sorted(words)[:10])
    return r.content.decode()


def test_a_campaign_walked_through_the_pages(org, client, monkeypatch):  # noqa: F811
    client.force_login(org["sec_c"])
    _english(client, "/audits/campaigns/")
    body = _english(client, "/audits/campaigns/new/")
    assert "机关党建工作自查检查表" in body
    r = client.post("/audits/campaigns/plans/new/", {"title": "三年整治计划", "start_year": str(TODAY.year)}, follow=True)
    assert "已制定" in r.content.decode()
    plan = Plan.objects.get()
    r = client.post("/audits/campaigns/new/", {"title": "专项检查", "root": org["c"].pk, "deadline": TODAY.isoformat(),
                                               "kinds": ["branch", "joint_branch"], "stage": f"{plan.pk}:rectify"})
    c = Campaign.objects.get()
    assert r.status_code == 302 and c.units.count() == 10 and (c.plan, c.stage) == (plan, "rectify")
    body = _english(client, "/audits/campaigns/")
    assert "整治阶段" in body and f"{TODAY.year + 2} 年 · 巩固" in body
    # a secretary submits the 自查 on the unit's page, a score out of range first
    e = CampaignUnit.objects.get(campaign=c, unit__code="Z1-B2")
    client.force_login(org["sec:Z1-B2"])
    page = _english(client, f"/audits/campaigns/{c.pk}/units/{e.pk}/")
    assert "提交自查报告" in page
    items = list(c.items.all())
    data = {"report": "逐项自查", **{f"s_{i.pk}": str(i.max_score) for i in items}, "files": [_pdf()]}
    r = client.post(f"/audits/campaigns/{c.pk}/units/{e.pk}/submit/", {**data, f"s_{items[0].pk}": "999"}, follow=True)
    assert "得分须在 0 至" in r.content.decode() and CampaignUnit.objects.get(pk=e.pk).state == UnitState.PENDING
    r = client.post(f"/audits/campaigns/{c.pk}/units/{e.pk}/submit/", {**data, "files": [_pdf()]}, follow=True)
    assert "已提交自查报告" in r.content.decode() and CampaignUnit.objects.get(pk=e.pk).state == UnitState.SUBMITTED
    # another branch's secretary: the unit is not theirs to see
    client.force_login(org["sec:B1"])
    assert client.get(f"/audits/campaigns/{c.pk}/units/{e.pk}/").status_code == 404
    # the committee: a team, then sampling after the deadline
    client.force_login(org["sec_c"])
    r = client.post(f"/audits/campaigns/{c.pk}/team/", {"name": "第一检查小组", "leader": org["ia"].pk}, follow=True)
    assert "已成立" in r.content.decode()
    r = client.post(f"/audits/campaigns/{c.pk}/sample/", {"seed": "7", "percent": "30"}, follow=True)
    assert "截止后才能抽样" in r.content.decode()
    monkeypatch.setattr(timezone, "localdate", lambda *a: TODAY + dt.timedelta(days=1))  # the day after the deadline
    r = client.post(f"/audits/campaigns/{c.pk}/sample/", {"seed": "7", "percent": "30"}, follow=True)
    assert "已抽中" in r.content.decode()
    _english(client, f"/audits/campaigns/{c.pk}/")
    sampled = c.units.filter(sampled=True).first()
    # the inspector records the inspection and a finding
    client.force_login(org["ia"])
    _english(client, f"/audits/campaigns/{c.pk}/units/{sampled.pk}/")
    rec = {"visited_on": (TODAY + dt.timedelta(days=1)).isoformat(), "visit_notes": "走访活动室", "archive_notes": "查阅会议记录", "forum_sessions": "1",
           "forum_attendance": "8", "questionnaires_issued": "10", "questionnaires_returned": "9", "questionnaires_satisfied": "8",
           **{f"i_{i.pk}": str(i.max_score * Decimal("0.8")) for i in items}}
    r = client.post(f"/audits/campaigns/{c.pk}/units/{sampled.pk}/inspect/", rec, follow=True)
    assert "已登记检查记录" in r.content.decode(), r.content.decode()[:3000]
    r = client.post(f"/audits/campaigns/{c.pk}/units/{sampled.pk}/finding/", {"item": items[1].pk, "grade": "minor",
                                                                              "evidence": "三会一课记录不全"}, follow=True)
    assert "进入问题清单" in r.content.decode() and Nonconformity.objects.filter(unit=sampled.unit, source="spot_check").exists()
    page = _english(client, f"/audits/campaigns/{c.pk}/units/{sampled.pk}/")
    assert "差值" in page and "三会一课记录不全" in page
    # the summary, as the committee sees it
    client.force_login(org["sec_c"])
    body = _english(client, f"/audits/campaigns/{c.pk}/summary/")
    assert "按单位类别" in body and "按党总支" in body
    r = client.get(f"/audits/campaigns/{c.pk}/summary.pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    r = client.get(f"/audits/campaigns/{c.pk}/summary.xlsx")
    assert r.status_code == 200 and r.content.startswith(b"PK")
    # a plain member may look but not act
    client.force_login(org["plain"])
    r = client.post(f"/audits/campaigns/{c.pk}/close/", {"conclusion": "总结"})
    assert r.status_code in (403, 404)


def test_an_inspector_cannot_be_moved_to_their_own_unit_on_the_page(org, client):  # noqa: F811
    c = svc.campaign_announce(actor=org["admin"], root=org["c"], title="专项检查", deadline=DEADLINE, today=START)
    a = svc.team_create(c, actor=org["admin"], name="第一检查小组", leader=org["ia"])
    b = svc.team_create(c, actor=org["admin"], name="第二检查小组", leader=org["sec:Z2"])
    svc.sample_draw(c, actor=org["admin"], seed=1, size=12)
    e = CampaignUnit.objects.get(campaign=c, unit__code="Z2-B2")
    assert e.team == a
    client.force_login(org["admin"])
    r = client.post(f"/audits/campaigns/{c.pk}/units/{e.pk}/assign/", {"team": b.pk}, follow=True)
    assert "检查人员须回避本单位" in r.content.decode() and CampaignUnit.objects.get(pk=e.pk).team == a
