"""Execution as a user does it in the pages: plan, record, attendance, resolution, submit,
check, close; the heatmap and its Excel; scope (issue 4)."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from procedures.library_loader import load_library
from qms import services as core
from qms.models import UnitKind
from tests import factories
from workflows.models import Occurrence, State
from workflows.scheduler import schedule

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


@pytest.fixture
def org(db):
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b1 = factories.unit("B1", UnitKind.BRANCH, parent=c, name="第一党支部")
    b2 = factories.unit("B2", UnitKind.BRANCH, parent=c, name="第二党支部")
    m1 = [factories.member(b1, f"一支{i}") for i in range(4)]
    m2 = [factories.member(b2, f"二支{i}") for i in range(3)]
    users = {n: factories.user(n) for n in ("sec1", "sec2", "checker")}
    core.member_update(m1[0], actor=None, reason="账号", user=users["sec1"])
    core.member_update(m2[0], actor=None, reason="账号", user=users["sec2"])
    core.position_assign(actor=None, member=m1[0], unit=b1, title="secretary", start=dt.date(2024, 1, 1))
    core.position_assign(actor=None, member=m2[0], unit=b2, title="secretary", start=dt.date(2024, 1, 1))
    cm = factories.member(b2, "上级委员")
    core.member_update(cm, actor=None, reason="账号", user=users["checker"])
    core.position_assign(actor=None, member=cm, unit=c, title="organization", start=dt.date(2024, 1, 1))
    schedule(today=TODAY)
    return {"c": c, "b1": b1, "b2": b2, "m1": m1, "users": users}


def test_secretary_walks_a_meeting_through_pdca_in_the_pages(client, org):
    occ = Occurrence.objects.filter(unit=org["b1"], obligation_key="branch_general_meeting", period_start__lte=TODAY).order_by("-period_start").first()
    day = max(occ.period_start, TODAY - dt.timedelta(days=1))
    client.force_login(org["users"]["sec1"])
    home = client.get(reverse("home")).content.decode()
    assert "本月应开展" in home or "已逾期" in home
    act = lambda a, data=None: client.post(reverse("occurrence_action", args=[occ.pk, a]), data or {}, follow=True)  # noqa: E731
    act("plan", {"planned_date": day.isoformat(), "place": "党员活动室", "topic": "学习党章"})
    act("save", {"time": f"{day}T09:00", "speeches": "发言若干", "votes_for": "3", "votes_against": "0", "votes_abstain": "0"})
    for i, m in enumerate(org["m1"]):
        act("attend", {"member": m.pk, "presence": "present" if i < 3 else "absent", "reason": "" if i < 3 else "病假", "on_leave": "1"})
    act("resolution", {"text": "开展专题学习", "owner": org["m1"][1].pk, "due_date": (day + dt.timedelta(days=10)).isoformat()})
    page = act("submit", {"held_on": day.isoformat()}).content.decode()
    occ.refresh_from_db()
    assert occ.state == State.HELD, page[:300]
    # the submitter cannot check; the committee's 组织委员 can
    assert "检查通过(C)" not in client.get(reverse("occurrence_detail", args=[occ.pk])).content.decode()
    client.force_login(org["users"]["checker"])
    body = client.post(reverse("occurrence_action", args=[occ.pk, "check"]), {"password": "pass-12345"}, follow=True).content.decode()
    occ.refresh_from_db()
    assert occ.state == State.CHECKED, body[:300]
    client.force_login(org["users"]["sec1"])
    for fu in occ.record.followups.all():
        act("followup_done", {"followup": fu.pk, "done_on": TODAY.isoformat(), "outcome": "已完成"})
    act("close")
    occ.refresh_from_db()
    assert occ.state == State.CLOSED
    page = client.get(reverse("occurrence_detail", args=[occ.pk])).content.decode()
    assert 'class="step done' in page and "A 处理" in page


def test_an_id_from_another_branch_is_not_found_never_named(client, org):
    """Attendance and resolution forms post a person's id: one outside the secretary's scope is
    answered as not on the list — the answer never carries that person's name (qms/scoping.py)."""
    from workflows.models import Attendance, FollowUp

    occ = Occurrence.objects.filter(unit=org["b1"], obligation_key="branch_general_meeting", period_start__lte=TODAY).order_by("-period_start").first()
    day = max(occ.period_start, TODAY - dt.timedelta(days=1))
    other = Occurrence.objects.filter(unit=org["b2"]).first().unit.memberships.first().member  # a member of 第二党支部
    client.force_login(org["users"]["sec1"])
    act = lambda a, data=None: client.post(reverse("occurrence_action", args=[occ.pk, a]), data or {}, follow=True).content.decode()  # noqa: E731
    act("plan", {"planned_date": day.isoformat(), "place": "党员活动室", "topic": "学习党章"})
    for presence in ("present", "absent", "attending"):
        page = act("attend", {"member": other.pk, "presence": presence, "reason": "出差"})
        assert "该人员不在本组织名单中" in page and other.name not in page, re.findall(r"class=\"msg[^>]*>([^<]*)", page)
    page = act("resolution", {"text": "开展专题学习", "owner": other.pk, "due_date": (day + dt.timedelta(days=10)).isoformat()})
    assert "责任人不在本组织名单中" in page and other.name not in page
    assert not Attendance.objects.filter(member=other).exists() and not FollowUp.objects.filter(owner=other).exists()
    page = act("attend", {"member": org["m1"][1].pk, "presence": "present"})  # one's own member: recorded
    assert Attendance.objects.filter(member=org["m1"][1], record__occurrence=occ).exists()


def test_missing_elements_are_shown_and_block_the_check(client, org):
    occ = Occurrence.objects.filter(unit=org["b1"], obligation_key="branch_general_meeting", period_start__lte=TODAY).order_by("-period_start").first()
    day = max(occ.period_start, TODAY - dt.timedelta(days=1))
    client.force_login(org["users"]["sec1"])
    client.post(reverse("occurrence_action", args=[occ.pk, "plan"]), {"planned_date": day.isoformat(), "place": "会议室", "topic": "主题"})
    client.post(reverse("occurrence_action", args=[occ.pk, "submit"]), {"held_on": day.isoformat()})
    client.force_login(org["users"]["checker"])
    body = client.post(reverse("occurrence_action", args=[occ.pk, "check"]), follow=True).content.decode()
    assert "记录要素不全" in body and "发言内容" in body
    occ.refresh_from_db()
    assert occ.state == State.HELD


def test_heatmap_and_excel(client, org):
    client.force_login(org["users"]["checker"])
    body = client.get(reverse("compliance"), {"unit": "C", "year": TODAY.year}).content.decode()
    assert "执行情况热力图" in body and "第一党支部" in body and 'class="cell"' in body
    r = client.get(reverse("compliance_xlsx"), {"unit": "C", "year": TODAY.year})
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["执行情况明细", "执行率"] and wb["执行情况明细"].max_row > 1


def test_secretary_cannot_open_a_sibling_branchs_occurrence(client, org):
    other = Occurrence.objects.filter(unit=org["b2"]).first()
    client.force_login(org["users"]["sec1"])
    assert client.get(reverse("occurrence_detail", args=[other.pk])).status_code == 404
    assert client.post(reverse("occurrence_action", args=[other.pk, "plan"]), {}).status_code == 404
    assert "第二党支部" not in client.get(reverse("occurrence_list"), {"show": "all"}).content.decode()
    assert client.get(reverse("compliance"), {"unit": "B2"}).status_code == 404


def test_large_subtrees_get_a_rolled_up_map_with_drill_down(client, org, monkeypatch):
    from workflows import views

    monkeypatch.setattr(views, "ROLLUP_ABOVE", 1)  # (the real threshold is 60 units)
    Occurrence.objects.filter(unit=org["b1"], due_date__lt=TODAY).update(state=State.CLOSED)
    client.force_login(org["users"]["checker"])
    body = client.get(reverse("compliance"), {"unit": "C", "year": TODAY.year}).content.decode()
    assert '<a href="?unit=B1&year=' in body and '<a href="?unit=B2&year=' in body
    assert "/work/" not in body.split("heat-wrap")[1].split("</table>")[0]  # no per-occurrence links at this level
    assert "直属组织" in body
    assert 'class="h-good" title="100%(' in body  # B1 did everything that was due: a green cell with its counts
    from workflows.compliance import compliance

    rows = {r["code"]: r for r in client.get(reverse("compliance"), {"unit": "C", "year": TODAY.year}).context["rows"]}
    for code in ("B1", "B2"):  # the database's roll-up agrees with the cell-by-cell matrix of each branch
        assert rows[code]["rate"] == compliance(org[code.lower()], TODAY.year).overall.rate
    drill = client.get(reverse("compliance"), {"unit": "B1", "year": TODAY.year}).content.decode()
    assert 'class="cell" href="/work/' in drill or "该年度没有应开展事项" in drill


def test_the_committee_home_panel_names_the_weakest_units_small_or_large(client, org, monkeypatch):
    """Small subtree: the weakest units at any level; above the roll-up threshold: the weakest
    directly subordinate units from the subtree tally — both with the same overall rate."""
    import re

    from workflows import compliance as compliance_module

    Occurrence.objects.filter(unit=org["b1"], due_date__lt=TODAY).update(state=State.CLOSED)
    client.force_login(org["users"]["checker"])
    small = client.get(reverse("home")).content.decode()
    monkeypatch.setattr(compliance_module, "ROLLUP_ABOVE", 1)
    large = client.get(reverse("home")).content.decode()
    assert "执行率最低的组织" in small and "执行率最低的直属组织" in large
    rate = re.compile(r"本年度执行率 (\d+%|—)")
    assert rate.search(small).group(1) == rate.search(large).group(1) != "—"
    assert "第二党支部" in large.split("执行率最低的直属组织")[1][:2000]  # B2 did nothing: it is among the weakest
