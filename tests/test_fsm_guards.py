"""The state machines' guards, each at its edges: what lets an occurrence be planned or missed and
a corrective action be analysed, planned, implemented or judged for effectiveness (T21: mutation
testing of the state machines found these conditions reached only through whole workflows)."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audits.capa.models import effectiveness_review_due, has_evidence, has_plan, has_root_cause
from audits.models import Nonconformity
from qms.models import Member, MemberEvent
from workflows.models import Attendance, Occurrence, period_over, plan_complete

TODAY = timezone.localdate()
DAY = dt.timedelta(days=1)


@pytest.mark.parametrize(("planned_date", "place", "topic", "complete"), [
    (TODAY, "党员活动室", "学习党章", True),
    (None, "党员活动室", "学习党章", False),
    (TODAY, "", "学习党章", False),
    (TODAY, "   ", "学习党章", False),
    (TODAY, None, "学习党章", False),
    (TODAY, "党员活动室", "", False),
    (TODAY, "党员活动室", " \n", False),
    (TODAY, "党员活动室", None, False),
])
def test_an_occurrence_is_planned_only_with_a_date_a_place_and_a_topic(planned_date, place, topic, complete):
    assert plan_complete(Occurrence(planned_date=planned_date, place=place, topic=topic)) is complete


@pytest.mark.parametrize(("due", "over"), [(TODAY - DAY, True), (TODAY, False), (TODAY + DAY, False)])
def test_an_occurrence_is_missed_only_after_its_due_date(due, over):
    assert period_over(Occurrence(due_date=due)) is over


@pytest.mark.parametrize(("text", "given"), [("制度缺失", True), ("", False), ("  ", False), (None, False)])
def test_analysis_needs_a_root_cause_and_implementation_needs_evidence(text, given):
    assert has_root_cause(Nonconformity(root_cause=text)) is given
    assert has_evidence(Nonconformity(implementation_evidence=text)) is given


def _plan(**changed) -> Nonconformity:
    nc = Nonconformity(correction="补开支委会", corrective_action="建立会议提醒", due_date=TODAY + 10 * DAY)
    nc.owner_id = 7
    for name, value in changed.items():
        setattr(nc, name, value)
    return nc


@pytest.mark.parametrize(("changed", "planned"), [
    ({}, True),
    ({"correction": ""}, False), ({"correction": " "}, False), ({"correction": None}, False),
    ({"corrective_action": ""}, False), ({"corrective_action": "\t"}, False), ({"corrective_action": None}, False),
    ({"owner_id": None}, False),
    ({"due_date": None}, False),
])
def test_a_plan_needs_a_correction_a_corrective_action_an_owner_and_a_due_date(changed, planned):
    assert has_plan(_plan(**changed)) is planned


@pytest.mark.parametrize(("due", "judged"), [(None, True), (TODAY - DAY, True), (TODAY, True), (TODAY + DAY, False)])
def test_effectiveness_is_judged_from_its_review_date_on(due, judged):
    assert effectiveness_review_due(Nonconformity(effectiveness_due=due)) is judged


def test_an_occurrence_names_its_period_or_the_event_it_follows():
    quarter = Occurrence(period_start=dt.date(2026, 7, 1), period_end=dt.date(2026, 9, 30), seq=1, due_date=dt.date(2026, 9, 30))
    assert quarter.period_label() == "2026年第3季度"
    second = Occurrence(period_start=dt.date(2026, 3, 1), period_end=dt.date(2026, 3, 31), seq=2, due_date=dt.date(2026, 3, 31))
    assert second.period_label() == "2026年3月(第2次)"
    event = MemberEvent(pk=5, member=Member(name="张三"), kind="transfer_in", date=dt.date(2026, 5, 6))
    following = Occurrence(period_start=dt.date(2026, 5, 6), period_end=dt.date(2026, 6, 5), seq=1, due_date=dt.date(2026, 6, 5))
    following.event = event
    assert following.period_label() == "2026-05-06 张三 转入"


def test_an_attendance_line_names_the_person_or_the_guest():
    assert str(Attendance(member=Member(name="李四"), presence="absent")) == "李四 缺席"
    assert str(Attendance(guest_name="王五(上级党委)", presence="attending")) == "王五(上级党委) 列席"
