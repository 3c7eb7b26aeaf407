"""Scheduling occurrences from the effective rules; events; PDCA moves so far; the
compliance matrix with a query-count bound (issue 4, first part)."""
from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from procedures import services as doc_services
from procedures.library_loader import load_library
from procedures.models import Document
from qms import ledger
from qms import services as core
from qms.models import UnitKind
from qms.permissions import NotPermitted
from tests import factories
from workflows import services
from workflows.compliance import compliance
from workflows.models import Occurrence, State
from workflows.periods import slots_for
from workflows.scheduler import schedule

pytestmark = pytest.mark.django_db
D = dt.date


def test_periods_from_frequency_data():
    monthly = slots_for(count=1, per="month", every_months=None, before="", preferred_period="", grace_days=0, start=D(2026, 1, 1), end=D(2026, 12, 31))
    assert len(monthly) == 12 and monthly[1].start == D(2026, 2, 1) and monthly[1].end == D(2026, 2, 28)
    assert monthly[0].label() == "2026年1月"
    bi = slots_for(count=None, per="", every_months=2, before="", preferred_period="", grace_days=0, start=D(2026, 1, 1), end=D(2026, 12, 31))
    assert len(bi) == 6 and bi[0].end == D(2026, 2, 28)
    twice = slots_for(count=2, per="year", every_months=None, before="", preferred_period="", grace_days=0, start=D(2026, 1, 1), end=D(2026, 12, 31))
    assert [(s.seq, s.label()) for s in twice] == [(1, "2026年"), (2, "2026年(第2次)")]
    oath = slots_for(count=None, per="", every_months=None, before="07-01", preferred_period="", grace_days=0, start=D(2026, 1, 1), end=D(2026, 12, 31))
    assert [(s.start, s.due) for s in oath] == [(D(2026, 1, 1), D(2026, 6, 30))]
    q4 = slots_for(count=1, per="year", every_months=None, before="", preferred_period="Q4", grace_days=15, start=D(2026, 1, 1), end=D(2026, 12, 31))
    assert q4[0].due == D(2027, 1, 15)
    quarterly = slots_for(count=1, per="quarter", every_months=None, before="", preferred_period="", grace_days=0, start=D(2026, 7, 1), end=D(2026, 12, 31))
    assert [s.label() for s in quarterly] == ["2026年第3季度", "2026年第4季度"]


@pytest.fixture
def org(db):
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b1 = factories.unit("B1", UnitKind.BRANCH, parent=c, name="第一党支部")
    b2 = factories.unit("B2", UnitKind.BRANCH, parent=c, name="第二党支部")
    for b in (b1, b2):
        ms = [factories.member(b, f"{b.code}党员{i}") for i in range(4)]
        for m, t in zip(ms, ("secretary", "organization", "propaganda"), strict=False):
            core.position_assign(actor=None, member=m, unit=b, title=t, start=D(2024, 1, 1))
    return {"c": c, "b1": b1, "b2": b2}


def _keys(unit):
    return {(o.obligation_key, o.period_start, o.seq) for o in Occurrence.objects.filter(unit=unit, event__isnull=True)}


def test_schedule_is_idempotent_and_ledgered(org):
    today = D(2026, 8, 15)  # Q3: horizon is Q3 + Q4
    r1 = schedule(today=today)
    assert r1.created > 0
    b1 = _keys(org["b1"])
    assert ("branch_committee_meeting", D(2026, 7, 1), 1) in b1 and ("branch_committee_meeting", D(2026, 12, 1), 1) in b1
    assert ("branch_general_meeting", D(2026, 10, 1), 1) in b1
    assert ("committee_meeting", D(2026, 7, 1), 1) not in b1  # a committee's rule, not a branch's
    assert ("committee_meeting", D(2026, 7, 1), 1) in _keys(org["c"])
    n = Occurrence.objects.count()
    entries = ledger.head()[0]
    r2 = schedule(today=today)
    assert (r2.created, r2.cancelled) == (0, 0)
    assert Occurrence.objects.count() == n and ledger.head()[0] == entries
    assert ledger.verify().ok


def test_the_whole_tree_rules_agree_with_each_units_rules_and_a_rerun_costs_no_per_unit_queries(org):
    from procedures.rules import effective_rules, effective_rules_many
    from qms.models import Unit

    today = D(2026, 8, 15)
    for i in range(3):  # a small branch (no committee, few members) and a group: the conditions differ
        b = factories.unit(f"S{i}", UnitKind.BRANCH, parent=org["c"], name=f"小支部{i}")
        factories.member(b, f"小{i}")
        factories.unit(f"S{i}-G", UnitKind.GROUP, parent=b, name=f"小组{i}")
    units = list(Unit.objects.order_by("path"))
    many = effective_rules_many(units)
    for u in units:
        assert [(r.obligation.pk, r.version.pk) for r in many[u.pk]] == [(r.obligation.pk, r.version.pk) for r in effective_rules(u)], u.code
    schedule(today=today)
    with CaptureQueriesContext(connection) as few:
        schedule(today=today)
    for i in range(5):  # terms that ended 2026-03, before the horizon: 换届 overdue, outside the window read
        b = factories.unit(f"N{i}", UnitKind.BRANCH, parent=org["c"], name=f"新支部{i}", term_start=D(2023, 3, 1))
        factories.member(b, f"新{i}")
    schedule(today=today)
    assert Occurrence.objects.filter(unit__code="N0", obligation__event="term_expiry").count() == 1
    with CaptureQueriesContext(connection) as many_units:
        r = schedule(today=today)
    assert r.created == 0 and len(many_units) == len(few)
    assert Occurrence.objects.filter(unit__code="N0", obligation__event="term_expiry").count() == 1


def test_rule_change_replans_only_future_occurrences(org):
    today = D(2026, 8, 15)
    schedule(today=today)
    people = {n: factories.user(n) for n in ("d", "r", "a")}
    for u in people.values():  # the committee's document officers (permission matrix: 体系管理员)
        core.role_grant(actor=None, user=u, role="admin", unit=org["c"], valid_from=D(2020, 1, 1))
    lib = Document.objects.get(owner=None, library_key="branch_committee_meeting")
    v = doc_services.document_adopt(lib, unit=org["c"], actor=people["d"], label="C-1", change_reason="每两月一次")
    o = v.obligations.get(key="branch_committee_meeting")
    doc_services.obligation_update(o, actor=people["d"], reason="本委制度", every_months=2, source="本委制度第3条")
    doc_services.version_submit(v, actor=people["d"])
    doc_services.version_review(v, actor=people["r"], password="pass-12345")
    doc_services.version_approve(v, actor=people["a"], effective_on=timezone.localdate(), password="pass-12345")
    r = schedule(today=today)
    months = sorted(o.period_start.month for o in Occurrence.objects.filter(unit=org["b1"], obligation_key="branch_committee_meeting").exclude(state=State.CANCELLED))
    # past and current periods untouched (Jul, Aug); future monthly ones (Sep–Dec) replaced by Sep–Oct, Nov–Dec
    assert months == [7, 8, 9, 11]
    cancelled = Occurrence.objects.filter(unit=org["b1"], obligation_key="branch_committee_meeting", state=State.CANCELLED)
    assert sorted(c.period_start.month for c in cancelled) == [10, 12] and r.cancelled >= 4
    assert all(c.remark for c in cancelled)


def test_a_transfer_creates_a_talk_in_the_new_unit(org):
    m = org["b1"].memberships.first().member
    core.member_transfer(m, actor=None, date=D(2026, 9, 1), to_unit=org["b2"], note="调动")
    occ = Occurrence.objects.filter(unit=org["b2"], event__isnull=False)
    keys = {o.obligation_key for o in occ}
    assert {"talk_transfer", "membership_transfer"} <= keys
    talk = occ.get(obligation_key="talk_transfer")
    assert talk.due_date == D(2026, 10, 1) and m.name in talk.period_label()


def test_plan_and_forbidden_moves(org):
    schedule(today=D(2026, 8, 15))
    occ = Occurrence.objects.filter(unit=org["b1"], obligation_key="branch_general_meeting").first()
    with pytest.raises(ValidationError, match="计划缺少"):
        services.occurrence_plan(occ, actor=None, planned_date=D(2026, 9, 10), place="", topic="学习")
    services.occurrence_plan(occ, actor=None, planned_date=D(2026, 9, 10), place="三楼会议室", topic="学习党章")
    occ.refresh_from_db()
    assert occ.state == State.PLANNED and not occ.late
    with pytest.raises(ValidationError):  # A before D and C: forbidden
        services._move(occ, "close", actor=None)
    sec = factories.user("b1sec")
    core.member_update(org["b1"].memberships.first().member, actor=None, reason="账号", user=sec)
    with pytest.raises(NotPermitted, match="上级组织"):
        services.occurrence_cancel(occ, actor=sec, reason="想取消")
    up = factories.user("up")
    core.role_grant(actor=None, user=up, role="admin", unit=org["c"], valid_from=D(2020, 1, 1))
    services.occurrence_cancel(occ, actor=up, reason="上级通知改期")
    occ.refresh_from_db()
    assert occ.state == State.CANCELLED and occ.remark == "上级通知改期"
    with pytest.raises(ValidationError):
        services.occurrence_plan(occ, actor=None, planned_date=D(2026, 9, 10), place="x", topic="y")
    assert ledger.verify().ok


def test_missed_marks_only_overdue(org, monkeypatch):
    schedule(today=D(2026, 8, 15))
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a, **k: D(2026, 10, 5))
    n = services.mark_missed()
    missed = Occurrence.objects.filter(state=State.MISSED)
    assert n == missed.count() > 0
    assert all(o.due_date < D(2026, 10, 5) for o in missed)
    assert not Occurrence.objects.filter(state=State.OPEN, due_date__lt=D(2026, 10, 5)).exists()


# ------------------------------------------------------------------------------ compliance


def _set(occ, state, late=False):
    """Test fixture only: put an occurrence in a state directly (records come in a later step)."""
    Occurrence.objects.filter(pk=occ.pk).update(state=state, late=late)


def test_compliance_on_a_hand_built_case(org):
    schedule(today=D(2026, 8, 15))
    b1 = org["b1"]
    jul = Occurrence.objects.get(unit=b1, obligation_key="branch_committee_meeting", period_start=D(2026, 7, 1))
    aug = Occurrence.objects.get(unit=b1, obligation_key="branch_committee_meeting", period_start=D(2026, 8, 1))
    _set(jul, State.CLOSED)
    _set(aug, State.HELD, late=True)
    m = compliance(org["c"], 2026, today=D(2026, 10, 5))
    status = {(c["unit"], c["obligation"], c["period_start"]): c["status"] for c in m.cells}
    assert status[("B1", "branch_committee_meeting", "2026-07-01")] == "on_time"
    assert status[("B1", "branch_committee_meeting", "2026-08-01")] == "late"
    assert status[("B1", "branch_committee_meeting", "2026-09-01")] == "missed"  # due 09-30, nothing held
    assert status[("B1", "branch_committee_meeting", "2026-10-01")] == "not_due"
    r = m.by_obligation["branch_committee_meeting"]
    assert (r.on_time, r.late) == (1, 1) and r.missed == 1 + 3  # B1 Sep, B2 Jul–Sep
    assert m.by_unit["B1"].rate == round(2 / m.by_unit["B1"].due, 4)
    with CaptureQueriesContext(connection) as q:  # the rates alone, counted by the database, agree
        rates = compliance(org["c"], 2026, today=D(2026, 10, 5), cells=False)
    assert len(q) == 3 and not rates.cells  # one GROUP BY, then the names of what appears
    assert rates.overall.as_dict() == m.overall.as_dict()
    assert {k: r.as_dict() for k, r in rates.by_unit.items()} == {k: r.as_dict() for k, r in m.by_unit.items()}
    assert {k: r.as_dict() for k, r in rates.by_obligation.items()} == {k: r.as_dict() for k, r in m.by_obligation.items()}
    assert rates.by_unit_obligation[("B1", "branch_committee_meeting")].as_dict()["missed"] == 1


def test_compliance_query_count_does_not_grow_with_units(org):
    schedule(today=D(2026, 8, 15))
    with CaptureQueriesContext(connection) as small:
        compliance(org["c"], 2026, today=D(2026, 10, 5))
    for i in range(6):
        b = factories.unit(f"X{i}", UnitKind.BRANCH, parent=org["c"], name=f"新增支部{i}")
        factories.member(b, f"新{i}")
    schedule(today=D(2026, 8, 15))
    with CaptureQueriesContext(connection) as big:
        m = compliance(org["c"], 2026, today=D(2026, 10, 5))
    assert len(m.by_unit) == 9
    assert len(big) == len(small) == 1


def test_compliance_command_json_and_csv(org):
    schedule(today=D(2026, 8, 15))
    out = io.StringIO()
    call_command("compliance", "--unit", "C", "--year", "2026", "--format", "json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["unit"] == "C" and "B1" in data["by_unit"] and data["cells"]
    out = io.StringIO()
    call_command("compliance", "--year", "2026", "--format", "csv", stdout=out)  # --unit defaults to the root
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("组织编码,组织名称,规定") and any("第一党支部" in line for line in lines)
    out = io.StringIO()
    call_command("schedule", "--through", "2027-03-31", stdout=out)
    assert "排期完成" in out.getvalue()


def test_daily_tasks_run(org):
    from workflows.tasks import mark_missed_task, schedule_task

    out = schedule_task.delay().get()
    assert out["created"] > 0 and out["units"] == 3
    assert schedule_task.delay().get()["created"] == 0
    assert isinstance(mark_missed_task.delay().get(), int)


def test_term_expiry_creates_the_election_occurrence_which_becomes_a_gap(org):
    core.unit_update(org["b1"], actor=None, reason="录入任期", term_start=D(2023, 12, 1))  # 3 years → 2026-12-01
    schedule(today=D(2026, 8, 15))
    occ = Occurrence.objects.get(unit=org["b1"], obligation_key="term_election")
    assert occ.due_date == D(2026, 12, 1) and occ.period_start == D(2026, 6, 1)
    assert not Occurrence.objects.filter(unit=org["b2"], obligation_key="term_election").exists()  # no term recorded
    m = compliance(org["c"], 2026, today=D(2026, 12, 5))
    cell = next(c for c in m.cells if c["unit"] == "B1" and c["obligation"] == "term_election")
    assert cell["status"] == "missed"
    schedule(today=D(2026, 8, 15))
    assert Occurrence.objects.filter(unit=org["b1"], obligation_key="term_election").count() == 1


# allowed (✓) and forbidden (✗) moves of the occurrence FSM, from each state
FSM_TABLE = {
    State.OPEN: {"plan": True, "hold": False, "mark_checked": False, "close": False, "cancel": True},
    State.PLANNED: {"plan": True, "hold": True, "mark_checked": False, "close": False, "cancel": True},
    State.HELD: {"plan": False, "hold": False, "mark_checked": True, "close": False, "cancel": False, "miss": False},
    State.CHECKED: {"plan": False, "hold": False, "mark_checked": False, "close": True, "cancel": False, "miss": False},
    State.CLOSED: {"plan": False, "hold": False, "mark_checked": False, "close": False, "cancel": False, "miss": False},
    State.MISSED: {"plan": False, "hold": False, "close": False, "cancel": False, "miss": False},
    State.CANCELLED: {"plan": False, "hold": False, "close": False, "cancel": False, "miss": False},
}


@pytest.mark.parametrize(("state", "method", "allowed"), [(s, m, a) for s, moves in FSM_TABLE.items() for m, a in moves.items()])
def test_occurrence_transition_table(state, method, allowed):
    occ = Occurrence(state=state, planned_date=D(2026, 1, 5), place="p", topic="t", due_date=D(2000, 1, 1),
                     period_start=D(2026, 1, 1), period_end=D(2026, 1, 31))
    edges = {t.name for t in occ.get_available_state_transitions()}
    assert (method in edges) is allowed


def test_001_11_every_branch_owes_a_yearly_work_plan_due_in_the_first_quarter(org):
    """001-11 (seed 001 三(一)3): the 支部书记 draws up the branch's work plan at the start of the
    year — every 党支部, with or without a 支委会; the 党委's own plan is a different rule."""
    small = factories.unit("S", UnitKind.BRANCH, parent=org["c"], name="小支部")
    factories.member(small, "小一")
    schedule(today=D(2026, 2, 10), through=D(2026, 12, 31))
    for unit in (org["b1"], small):
        plans = Occurrence.objects.filter(unit=unit, obligation_key="branch_annual_plan", event__isnull=True)
        assert [(o.period_start, o.due_date) for o in plans] == [(D(2026, 1, 1), D(2026, 3, 31))]
        assert plans[0].obligation.title == "年初制定支部工作计划" and "三(一)3" in plans[0].obligation.source
    assert not Occurrence.objects.filter(unit=org["c"], obligation_key="branch_annual_plan").exists()
    assert Occurrence.objects.filter(unit=org["c"], obligation_key="annual_plan").exists()
