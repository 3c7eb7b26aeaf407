"""Execution rules as cited data, overridable per organisation (workflows/rules.toml,
workflows/quorum.toml, workflows/dues.toml, workflows/review.toml): quorum and the majority a
resolution needs, reminder points, 党费 prepayment and arrears routing, who may cancel an
occurrence, and a 除名 chosen in a 民主评议 going to the higher organisation for approval."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from procedures.library_loader import load_library
from qms import services as core
from qms.models import MemberCategory, UnitKind
from qms.rules import defaults, rules_for
from tests import factories
from workflows import services
from workflows.models import Occurrence
from workflows.scheduler import schedule

pytestmark = pytest.mark.django_db
D = dt.date
TODAY = timezone.localdate()


def _branch(c, code: str, *, probationary: int = 0, users: dict):
    """A 支部 of six 党员 (the last ``probationary`` of them 预备党员) with a 支委会 of three."""
    b = factories.unit(code, UnitKind.BRANCH, parent=c, name=f"{code}党支部")
    ms = [factories.member(b, f"{code}党员{i}", start=D(2020, 1, 1),
                           category=MemberCategory.PROBATIONARY if i >= 6 - probationary else MemberCategory.FULL)
          for i in range(6)]
    sec = factories.user(f"{code.lower()}sec")
    core.member_update(ms[0], actor=None, reason="账号", user=sec)
    for m, t in zip(ms, ("secretary", "organization", "propaganda"), strict=False):
        core.position_assign(actor=None, member=m, unit=b, title=t, start=D(2024, 1, 1))
    users[code] = sec
    return b, ms


@pytest.fixture
def org(db):
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    users: dict = {}
    b1, m1 = _branch(c, "B1", users=users)
    b2, m2 = _branch(c, "B2", users=users)
    b3, m3 = _branch(c, "B3", probationary=2, users=users)
    checker = factories.user("checker")
    cm = factories.member(factories.unit("CB", UnitKind.BRANCH, parent=c, name="机关支部"), "上级组织委员")
    core.member_update(cm, actor=None, reason="账号", user=checker)
    core.position_assign(actor=None, member=cm, unit=c, title="organization", start=D(2024, 1, 1))
    schedule(today=TODAY)
    return {"c": c, "b1": b1, "b2": b2, "b3": b3, "m": {"B1": m1, "B2": m2, "B3": m3}, "users": users, "checker": checker}


def _occ(unit, key="branch_general_meeting"):
    return Occurrence.objects.filter(unit=unit, obligation_key=key, period_start__lte=TODAY).order_by("-period_start").first()


def _held(org, unit, *, present: int, votes_for: int | None = None, key="branch_general_meeting"):
    """A meeting held yesterday (or on the period's first day) with ``present`` of the roll there,
    a resolution, and the votes; submitted and ready for the check."""
    occ = _occ(unit, key)
    sec = org["users"][unit.code]
    day = max(occ.period_start, TODAY - dt.timedelta(days=1))
    services.occurrence_plan(occ, actor=sec, planned_date=day, place="党员活动室", topic="学习贯彻党章")
    services.record_save(occ, actor=sec, elements={
        "time": f"{day.isoformat()}T09:00", "speeches": "书记传达;党员发言",
        "votes": {"for": present if votes_for is None else votes_for, "against": 0, "abstain": 0}})
    people = services.attendees_on(occ, day).order_by("name")
    services.attendance_save(occ, actor=sec, marks={m.pk: ("present", "") if i < present else ("leave", "出差")
                                                     for i, m in enumerate(people)})
    services.followup_add(occ, actor=sec, text="组织专题学习", owner=org["m"][unit.code][1], due_date=day + dt.timedelta(days=20))
    services.record_submit(occ, actor=sec, held_on=day)
    occ.refresh_from_db()
    return occ


# ------------------------------------------------------------------------ 法定人数与表决 (H1, H2)

def test_quorum_rules_are_cited_data():
    rules = defaults()
    assert "第十一条" in rules["quorum_general_meeting_percent"].source
    assert "第十二条" in rules["quorum_committee_percent"].source
    assert "赞成人数超过应到会有表决权的党员的半数" in rules["resolution_pass_general_meeting_percent"].source
    assert "第七条" in rules["quorum_probationary_counted"].source
    from workflows.quorum import bodies

    assert bodies()["full_members"].categories == ("full",) and "第十一条" in bodies()["full_members"].source
    assert "group_leader" not in bodies()["committee"].titles and "第十二条" in bodies()["committee"].source


def test_exactly_half_is_not_a_quorum_unless_the_organisation_says_so(org):
    core.policy_override_set(actor=None, unit=org["b1"], key="quorum_exactly_at_percent", value=1,
                             source="本支部议事规则第三条:半数以上含半数")
    at_b1, at_b2 = _held(org, org["b1"], present=3, votes_for=6), _held(org, org["b2"], present=3, votes_for=6)
    assert services.quorum(at_b1.record)[:2] == (3, 6) and services.quorum_reached(at_b1.record)
    services.record_check(at_b1, actor=org["checker"], password="pass-12345")  # 3 of 6: half counts here
    with pytest.raises(ValidationError, match=re.escape("到会 3 人,未超过应到会 6 人的半数,会议决议无效(依据:《中国共产党支部工作条例(试行)》第十一条")):
        services.record_check(at_b2, actor=org["checker"], password="pass-12345")  # the default elsewhere: more than half


def test_the_quorum_share_is_an_organisation_rule(org):
    core.policy_override_set(actor=None, unit=org["b1"], key="quorum_general_meeting_percent", value=67,
                             source="本支部议事规则:到会须超过67%")
    at_b1, at_b2 = _held(org, org["b1"], present=4), _held(org, org["b2"], present=4)
    with pytest.raises(ValidationError, match=re.escape("未超过应到会 6 人的67%,会议决议无效(依据:本支部议事规则:到会须超过67%)")):
        services.record_check(at_b1, actor=org["checker"], password="pass-12345")
    services.record_check(at_b2, actor=org["checker"], password="pass-12345")


def test_probationary_members_have_no_vote_unless_the_rule_counts_them(org):
    occ = _held(org, org["b3"], present=6)  # 4 正式 + 2 预备 on the roll
    assert services.quorum(occ.record)[:2] == (4, 4)
    core.policy_override_set(actor=None, unit=org["c"], key="quorum_probationary_counted", value=1, source="测试")
    assert services.quorum(occ.record)[:2] == (6, 6)
    assert services.quorum(_held(org, org["b1"], present=6).record)[:2] == (6, 6)  # nobody 预备 there


def test_a_resolution_needs_more_than_half_of_those_entitled_voting_for_it(org):
    core.policy_override_set(actor=None, unit=org["b1"], key="resolution_pass_general_meeting_percent", value=30,
                             source="测试:三成以上赞成")
    at_b1, at_b2 = _held(org, org["b1"], present=5, votes_for=2), _held(org, org["b2"], present=5, votes_for=3)
    with pytest.raises(ValidationError, match=re.escape("赞成 3 票,未超过应到会 6 人的半数,决议未获通过(依据:《中国共产党支部工作条例(试行)》第十一条")):
        services.record_check(at_b2, actor=org["checker"], password="pass-12345")  # 3 of 6 for: not more than half
    services.record_check(at_b1, actor=org["checker"], password="pass-12345")  # 2 of 6 > 30 %: this branch's own rule
    assert rules_for(org["b2"])["resolution_pass_general_meeting_percent"].value == 50


def test_the_committee_quorum_counts_the_committee_offices(org):
    occ = _held(org, org["b1"], present=2, key="branch_committee_meeting")
    q = services.quorum(occ.record)
    assert q[:2] == (2, 3) and q.reached  # 书记, 组织委员, 宣传委员: 2 of 3
    core.policy_override_set(actor=None, unit=org["b1"], key="quorum_committee_percent", value=70, source="测试")
    assert not services.quorum(occ.record).reached


# --------------------------------------------------------------------------- 提醒时点 (H14)

def _reminder_org():
    c = factories.unit("RC", UnitKind.COMMITTEE, name="提醒测试党委")
    users: dict = {}
    b1, _ = _branch(c, "R1", users=users)
    b2, _ = _branch(c, "R2", users=users)
    schedule(today=D(2026, 7, 1))
    occs = {b.code: Occurrence.objects.get(unit=b, obligation_key="branch_committee_meeting", period_start=D(2026, 7, 1))
            for b in (b1, b2)}
    return b1, b2, users, occs


def test_reminder_points_are_organisation_rules(db):
    from qms.models import Notification
    from workflows.reminders import send_reminders

    load_library()
    b1, b2, users, occs = _reminder_org()
    assert all("本系统默认" in defaults()[k].source for k in ("reminder_days_before", "reminder_on_due_day", "reminder_when_overdue"))
    core.policy_override_set(actor=None, unit=b1, key="reminder_days_before", value=3, source="本支部工作细则:提前3天提醒")
    core.policy_override_set(actor=None, unit=b1, key="reminder_on_due_day", value=0, source="本支部工作细则")

    def got(code, stage):
        return Notification.objects.filter(user=users[code], key=f"occ:{occs[code].pk}:{stage}").exists()

    send_reminders(today=D(2026, 7, 24))  # 7 days before the end of July
    assert got("R2", "d7") and not got("R1", "d7")
    send_reminders(today=D(2026, 7, 28))  # 3 days before
    assert got("R1", "d3") and not got("R2", "d3")
    assert Notification.objects.get(user=users["R1"], key=f"occ:{occs['R1'].pk}:d3").title.startswith("3天后到期")
    send_reminders(today=D(2026, 7, 31))
    assert got("R2", "d0") and not got("R1", "d0")
    core.policy_override_set(actor=None, unit=b2, key="reminder_when_overdue", value=0, source="本支部工作细则")
    send_reminders(today=D(2026, 8, 2))
    assert got("R1", "overdue") and not got("R2", "overdue")


# ------------------------------------------------------------------ 党费 (H15, H16, H22)

@pytest.fixture
def dues_org(db):
    c = factories.unit("DC", UnitKind.COMMITTEE, name="党费测试党委")
    users: dict = {}
    b1, m1 = _branch(c, "D1", probationary=1, users=users)
    b2, m2 = _branch(c, "D2", users=users)
    up, org_user = factories.user("dcsec"), factories.user("d1org")
    upm = factories.member(factories.unit("DCB", UnitKind.BRANCH, parent=c, name="机关支部"), "党委书记")
    core.member_update(upm, actor=None, reason="账号", user=up)
    core.position_assign(actor=None, member=upm, unit=c, title="secretary", start=D(2024, 1, 1))
    core.member_update(m1[1], actor=None, reason="账号", user=org_user)  # D1's 组织委员
    return {"c": c, "b1": b1, "b2": b2, "m1": m1, "m2": m2, "users": users, "up": up, "org_user": org_user}


def test_the_prepayment_limit_is_an_organisation_rule(dues_org):
    from decimal import Decimal

    from workflows import dues

    assert "本系统默认" in defaults()["dues_prepay_max_days"].source
    core.policy_override_set(actor=None, unit=dues_org["b1"], key="dues_prepay_max_days", value=31, source="本支部党费管理办法")
    ahead = dues.months_back(dues.month_start(TODAY), -3)

    def pay(branch, members, month):
        return dues.dues_record(members[2], actor=dues_org["users"][branch], month=month, paid_on=TODAY, way="transfer",
                                amount=Decimal("50"))

    next_month = dues.months_back(dues.month_start(TODAY), -1)
    with pytest.raises(ValidationError, match=f"党费最多预交至{next_month:%Y年%m月}"):
        pay("D1", dues_org["m1"], ahead)
    pay("D1", dues_org["m1"], next_month)
    pay("D2", dues_org["m2"], ahead)  # a year ahead is the default elsewhere
    with pytest.raises(ValidationError, match="党费最多预交至"):
        pay("D2", dues_org["m2"], dues.months_back(dues.month_start(TODAY), -13))


def test_who_is_told_of_arrears_is_data_with_organisation_switches(dues_org):
    from qms.models import Notification
    from workflows import dues

    as_of = D(2026, 11, 15)
    core.policy_override_set(actor=None, unit=dues_org["b1"], key="dues_arrears_tell_above", value=0, source="本支部规定")
    core.policy_override_set(actor=None, unit=dues_org["b2"], key="dues_arrears_tell_organization", value=0, source="本支部规定")
    assert all(r["source"].strip() for r in dues.table()["arrears_recipients"])
    dues.notify_arrears(dues_org["c"], as_of=as_of)
    told = {(n.user_id, n.title.split("(")[1].split(")")[0]) for n in Notification.objects.filter(key__startswith="arrears:")}
    d1, d2 = dues_org["b1"].name, dues_org["b2"].name
    assert (dues_org["users"]["D1"].pk, d1) in told and (dues_org["org_user"].pk, d1) in told
    assert (dues_org["up"].pk, d1) not in told  # D1 does not tell the committee above
    assert (dues_org["up"].pk, d2) in told and (dues_org["users"]["D2"].pk, d2) in told  # the default elsewhere


def test_who_owes_dues_is_cited_data(dues_org, monkeypatch):
    from workflows import dues

    owing = dues.table()["owing"]
    assert owing["categories"] == ["full", "probationary"] and "中组发〔2008〕3号" in owing["source"]
    month = D(2026, 10, 1)
    probationary = dues_org["m1"][5]
    assert probationary in dues.owing(dues_org["b1"], month)
    assert probationary.pk in {a["member"].pk for a in dues.arrears(dues_org["b1"], as_of=D(2026, 11, 15))}
    monkeypatch.setitem(owing, "categories", ["full"])
    assert probationary not in dues.owing(dues_org["b1"], month)
    assert probationary.pk not in {a["member"].pk for a in dues.arrears(dues_org["b1"], as_of=D(2026, 11, 15))}
    with pytest.raises(ValidationError, match="不是在册党员"):
        dues.dues_record(probationary, actor=dues_org["users"]["D1"], month=month, paid_on=month, way="cash", amount=1)


# ------------------------------------------------------------- 取消应开展事项 (H18)

def test_who_may_cancel_is_the_permission_matrix(org, client, monkeypatch):
    from dataclasses import replace

    from qms import permissions
    from qms.permissions import NotPermitted
    from workflows.models import State

    occ = _occ(org["b1"])
    own_secretary = org["users"]["B1"]
    assert not services.may_cancel(own_secretary, occ) and services.may_cancel(org["checker"], occ)
    with pytest.raises(NotPermitted, match="上级组织"):
        services.occurrence_cancel(occ, actor=own_secretary, reason="想取消")
    client.force_login(own_secretary)
    assert "同意取消本次" not in client.get(f"/work/{occ.pk}/").content.decode()
    # an organisation whose matrix lets the unit itself cancel: the page and the service follow it
    row = permissions.matrix()["occurrence.cancel"]
    monkeypatch.setitem(permissions.matrix(), "occurrence.cancel", replace(row, allow=("admin", "officer")))
    assert services.may_cancel(own_secretary, occ)
    assert "同意取消本次" in client.get(f"/work/{occ.pk}/").content.decode()
    services.occurrence_cancel(occ, actor=own_secretary, reason="上级通知改期")
    occ.refresh_from_db()
    assert occ.state == State.CANCELLED


# ------------------------------------------------------- 两列席: 民主生活会 and the secretary above

@pytest.fixture
def life(db):
    """工委 W → 党委 L1, L2 (each with a committee of three); W's secretary 列席 their 民主生活会."""
    load_library()
    w = factories.unit("W", UnitKind.COMMITTEE, name="机关工委")
    boss_unit = factories.unit("WB", UnitKind.BRANCH, parent=w, name="工委机关支部")
    boss = factories.member(boss_unit, "工委书记", start=D(2020, 1, 1))
    core.position_assign(actor=None, member=boss, unit=w, title="secretary", start=D(2020, 1, 1))
    checker = factories.user("wsec")
    core.member_update(boss, actor=None, reason="账号", user=checker)
    out = {"w": w, "boss": boss, "checker": checker, "users": {}}
    for code in ("L1", "L2"):
        c = factories.unit(code, UnitKind.COMMITTEE, parent=w, name=f"{code}党委")
        b = factories.unit(f"{code}B", UnitKind.BRANCH, parent=c, name=f"{code}机关支部")
        ms = [factories.member(b, f"{code}委员{i}", start=D(2020, 1, 1)) for i in range(3)]
        sec = factories.user(f"{code.lower()}sec")
        core.member_update(ms[0], actor=None, reason="账号", user=sec)
        for m, t in zip(ms, ("secretary", "organization", "propaganda"), strict=True):
            core.position_assign(actor=None, member=m, unit=c, title=t, start=D(2020, 1, 1))
        out[code], out["users"][code] = c, sec
    schedule(today=TODAY)
    return out


def _life_meeting(life, code: str, *, observer: bool):
    occ = _occ(life[code], "democratic_life_meeting")
    sec = life["users"][code]
    day = max(occ.period_start, TODAY - dt.timedelta(days=1))
    services.occurrence_plan(occ, actor=sec, planned_date=day, place="会议室", topic="年度民主生活会")
    services.record_save(occ, actor=sec, elements={"time": f"{day.isoformat()}T09:00", "preparation": "会前征求意见",
                                                   "criticism": "对照检查,相互批评"})
    services.attendance_save(occ, actor=sec, marks={m.pk: ("present", "") for m in services.attendees_on(occ, day)})
    if observer:
        services.attendance_mark(occ, actor=sec, member=life["boss"], presence="attending")
    services.followup_add(occ, actor=sec, text="整改落实", owner=services.attendees_on(occ, day).first(),
                          due_date=day + dt.timedelta(days=30))
    services.record_submit(occ, actor=sec, held_on=day)
    occ.refresh_from_db()
    return occ


def test_a_democratic_life_meeting_needs_the_secretary_above_as_observer(life, client):
    from qms.models import LedgerEntry

    rule = defaults()["democratic_life_observer_required"]
    assert rule.value == 2 and "seed 004 篇1 十八" in rule.source
    without = _life_meeting(life, "L1", observer=False)
    assert any("上级党委书记列席" in m and "机关工委书记未登记为列席" in m for m in services.missing_elements(without.record))
    with pytest.raises(ValidationError, match="上级党委书记列席"):
        services.record_check(without, actor=life["checker"], password="pass-12345")
    with_observer = _life_meeting(life, "L2", observer=True)
    assert services.missing_elements(with_observer.record) == []
    services.record_check(with_observer, actor=life["checker"], password="pass-12345")
    # L1 only warns: the check passes and the warning stays with it in the ledger
    core.policy_override_set(actor=None, unit=life["L1"], key="democratic_life_observer_required", value=1, source="本委规定")
    assert services.missing_elements(without.record) == []
    client.force_login(life["checker"])
    page = client.get(reverse("occurrence_detail", args=[without.pk])).content.decode()
    assert "提醒:上级党委书记列席" in page and "要素齐全" in page  # the page shows what only warns
    services.record_check(without, actor=life["checker"], password="pass-12345")
    entry = LedgerEntry.objects.filter(action="record.check").order_by("-pk").first()
    assert "检查时提示:上级党委书记列席" in entry.reason
    core.policy_override_set(actor=None, unit=life["L2"], key="democratic_life_observer_required", value=0, source="本委规定")
    assert services.observers_missing(without.record) != [] and services.observers_missing(with_observer.record) == []
