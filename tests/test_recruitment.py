"""发展党员: the process as data, each time rule (one test per rule, on a controllable clock),
the guards, the full path from application to full membership and the extension path."""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from qms import ledger, workdays
from qms import services as core
from qms.models import HigherDecision, MemberCategory, MemberEvent, PolicyOverride, UnitKind
from qms.permissions import NotPermitted
from tests import factories
from workflows import recruitment_flow
from workflows import recruitment_services as rs
from workflows.models import Applicant, RecruitStage, RecruitStep
from workflows.recruitment import SAMPLE_FIELDS, process

pytestmark = pytest.mark.django_db
D = dt.date


@pytest.fixture
def clock(monkeypatch):
    """The day the services take as today (``timezone.localdate``), set by the test."""
    now = {"day": D(2026, 6, 1)}
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a, **k: now["day"])
    return now


@pytest.fixture
def org(db, clock):
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b = factories.unit("B", UnitKind.BRANCH, parent=c, name="第一党支部")
    b2 = factories.unit("B2", UnitKind.BRANCH, parent=c, name="第二党支部")
    members = [factories.member(b, f"党员{i}", start=D(2020, 1, 1)) for i in range(6)]
    prob = factories.member(b, "预备党员甲", category=MemberCategory.PROBATIONARY, start=D(2020, 1, 1))
    sec, upper, peer = factories.user("sec"), factories.user("upper"), factories.user("peer")
    core.member_update(members[0], actor=None, reason="账号", user=sec)
    core.position_assign(actor=None, member=members[0], unit=b, title="secretary", start=D(2020, 1, 1))
    um = factories.member(b2, "上级组织委员", start=D(2020, 1, 1))
    core.member_update(um, actor=None, reason="账号", user=upper)
    core.position_assign(actor=None, member=um, unit=c, title="organization", start=D(2020, 1, 1))
    pm = factories.member(b2, "二支部书记", start=D(2020, 1, 1))
    core.member_update(pm, actor=None, reason="账号", user=peer)
    core.position_assign(actor=None, member=pm, unit=b2, title="secretary", start=D(2020, 1, 1))
    return {"c": c, "b": b, "b2": b2, "m": members, "prob": prob, "sec": sec, "upper": upper, "peer": peer}


APPLIED, BORN = D(2024, 1, 10), D(2000, 1, 1)


def _apply(org, applied_on=APPLIED, birth=BORN):
    return rs.applicant_register(actor=org["sec"], unit=org["b"], name="李明", gender="M",
                                 id_number=factories.id_number(birth=birth), birth_date=birth, applied_on=applied_on)


def _plan(org):
    """The full path's steps: (key, day, extra)."""
    m = org["m"]
    return [
        ("talk", D(2024, 1, 25), {}),
        ("activist_decide", D(2024, 2, 20), {}),
        ("activist_file", D(2024, 2, 25), {}),
        ("contacts", D(2024, 3, 1), {"people": [m[1].pk]}),
        ("assessment", D(2024, 8, 20), {}),
        ("assessment", D(2025, 2, 10), {}),
        ("candidate_decide", D(2025, 2, 21), {}),
        ("candidate_file", D(2025, 2, 25), {}),
        ("sponsors", D(2025, 3, 1), {"people": [m[1].pk, m[2].pk]}),
        ("political_review", D(2025, 3, 10), {}),
        ("training", D(2025, 3, 20), {"days": 3, "hours": 0}),
        ("committee_review", D(2025, 4, 1), {}),
        ("pre_review", D(2025, 4, 15), {"notice_start": D(2025, 4, 7), "notice_end": D(2025, 4, 11), "document_no": "测党委〔2025〕3号"}),
        ("form", D(2025, 4, 18), {}),
        ("vote", D(2025, 4, 25), {"present": [x.pk for x in m[:5]], "for": 5, "against": 0, "abstain": 0}),
        ("higher_talk", D(2025, 5, 6), {}),
        ("approve", D(2025, 5, 20), {"document_no": "测党委〔2025〕8号"}),
        ("approve_file", D(2025, 5, 25), {}),
        ("join_group", D(2025, 6, 1), {}),
        ("oath", D(2025, 7, 1), {}),
        ("probation_assessment", D(2025, 10, 20), {}),
        ("full_apply", D(2026, 4, 20), {}),
        ("full_vote", D(2026, 4, 27), {"present": [x.pk for x in m[:5]], "for": 5, "outcome": "full"}),
        ("full_approve", D(2026, 5, 15), {"document_no": "测党委〔2026〕5号"}),
        ("archive", D(2026, 5, 20), {}),
    ]


def _who(org, key):
    return org["upper"] if process().step(key).by == "higher" else org["sec"]


def _walk(org, a, until=None, skip=()):
    for key, day, extra in _plan(org):
        if key == until:
            return a
        if key in skip:
            continue
        rs.record_step(a, actor=_who(org, key), step=key, done_on=day, **{"fields": SAMPLE_FIELDS.get(key, {}), **extra})
        a.refresh_from_db()
    return a


def _error(exc) -> str:
    return " ".join(m for ms in exc.value.message_dict.values() for m in ms) if hasattr(exc.value, "message_dict") else str(exc.value)


# ---------------------------------------------------------------- the process as data


def test_process_has_five_stages_and_twenty_five_steps_each_cited():
    p = process()
    assert len(p.stages) == 5 and len(p.steps) == 25
    assert all(s.source.strip() for s in p.steps)
    assert {s.by for s in p.steps} == {"branch", "higher"}
    assert [s.key for s in p.steps if s.by == "higher"] == ["pre_review", "higher_talk", "approve", "approve_file", "full_approve"]


def test_time_rules_are_organisation_rules_overridable(org, clock):
    PolicyOverride.objects.create(unit=org["c"], key="recruit_talk_within_months", value=2, source="本组织规定")
    a = _apply(org)
    t = rs.next_action(a, D(2024, 1, 11))
    assert t.step.key == "talk" and t.deadline == D(2024, 3, 10)


# ---------------------------------------------------------------- one test per time rule


def test_rule_min_age_18_at_application(org):
    with pytest.raises(ValidationError) as e:
        _apply(org, applied_on=D(2024, 1, 10), birth=D(2006, 1, 11))
    assert "未满18周岁" in _error(e)
    a = _apply(org, applied_on=D(2024, 1, 10), birth=D(2006, 1, 10))  # the 18th birthday itself
    assert a.stage == RecruitStage.APPLYING and not Applicant.objects.exclude(pk=a.pk).exists()


def test_rule_talk_within_one_month(org, clock):
    a = _apply(org)
    t = rs.next_action(a, D(2024, 2, 20))
    assert t.step.key == "talk" and t.deadline == D(2024, 2, 10) and t.overdue_days(D(2024, 2, 20)) == 10
    rec = rs.branch_step(a, actor=org["sec"], step="talk", done_on=D(2024, 2, 20), fields=SAMPLE_FIELDS["talk"])
    assert rec.deadline == D(2024, 2, 10) and rec.days_overdue == 10  # the late talk is kept, marked overdue


def test_rule_activist_one_year_before_candidate(org):
    a = _walk(org, _apply(org), until="candidate_decide")
    with pytest.raises(ValidationError) as e:
        rs.branch_step(a, actor=org["sec"], step="candidate_decide", done_on=D(2025, 2, 19))
    assert "未满12个月" in _error(e) and "2025年02月20日" in _error(e)
    assert a.member.category == MemberCategory.ACTIVIST
    rs.branch_step(a, actor=org["sec"], step="candidate_decide", done_on=D(2025, 2, 20), fields=SAMPLE_FIELDS["candidate_decide"])
    a.refresh_from_db()
    assert a.stage == RecruitStage.CANDIDATE and a.member.category == MemberCategory.CANDIDATE


def test_rule_assessment_every_six_months(org):
    a = _walk(org, _apply(org), until="assessment")
    t = rs.next_action(a, D(2024, 9, 1))
    assert t.step.key == "assessment" and t.deadline == D(2024, 8, 20) and t.overdue_days(D(2024, 9, 1)) == 12
    rs.branch_step(a, actor=org["sec"], step="assessment", done_on=D(2024, 8, 10), fields=SAMPLE_FIELDS["assessment"])
    nxt = [x for x in rs.todos(a) if x.step.key == "assessment"][0]
    assert nxt.deadline == D(2025, 2, 10)


def test_rule_two_sponsors_who_are_full_members(org):
    a = _walk(org, _apply(org), until="sponsors")
    with pytest.raises(ValidationError) as e:
        rs.branch_step(a, actor=org["sec"], step="sponsors", done_on=D(2025, 3, 1), people=[org["m"][1].pk, org["prob"].pk])
    assert "预备党员甲 是预备党员,只能由正式党员担任" in _error(e)
    with pytest.raises(ValidationError) as e:
        rs.branch_step(a, actor=org["sec"], step="sponsors", done_on=D(2025, 3, 1), people=[org["m"][1].pk])
    assert "应有2名正式党员作入党介绍人" in _error(e)
    assert not a.steps.filter(step="sponsors").exists()


def test_rule_contacts_one_or_two_full_members(org):
    a = _walk(org, _apply(org), until="contacts")
    with pytest.raises(ValidationError) as e:
        rs.branch_step(a, actor=org["sec"], step="contacts", done_on=D(2024, 3, 1), people=[m.pk for m in org["m"][1:4]])
    assert "1至2名" in _error(e)


def test_rule_training_three_days_or_24_hours(org):
    a = _walk(org, _apply(org), until="training")
    with pytest.raises(ValidationError) as e:
        rs.branch_step(a, actor=org["sec"], step="training", done_on=D(2025, 3, 20), days=2, hours=20)
    assert "应不少于3天或24学时" in _error(e)
    rs.branch_step(a, actor=org["sec"], step="training", done_on=D(2025, 3, 20), days=2, hours=24, fields=SAMPLE_FIELDS["training"])


def test_rule_notice_five_working_days(org):
    a = _walk(org, _apply(org), until="pre_review")
    # 2025-04-02 … 04-08 spans 清明节 (04-04 to 04-06): only 4 working days
    with pytest.raises(ValidationError) as e:
        rs.higher_step(a, actor=org["upper"], step="pre_review", done_on=D(2025, 4, 15),
                       notice_start=D(2025, 4, 2), notice_end=D(2025, 4, 8))
    assert "仅4个工作日,应不少于5个工作日" in _error(e)
    rec = rs.higher_step(a, actor=org["upper"], step="pre_review", done_on=D(2025, 4, 15),
                         notice_start=D(2025, 4, 2), notice_end=D(2025, 4, 9), fields=SAMPLE_FIELDS["pre_review"])
    assert rec.data["workdays"] == 5 and rec.decided_by_unit == org["c"]


def test_rule_approval_within_three_months_never_over_six(org):
    a = _walk(org, _apply(org), until="approve")
    with pytest.raises(ValidationError) as e:  # late: only with the special circumstances stated
        rs.higher_step(a, actor=org["upper"], step="approve", done_on=D(2025, 8, 1), document_no="测党委〔2025〕9号")
    assert "逾期审批须说明特殊情况" in _error(e) and "2025年07月25日" in _error(e)
    rec = rs.higher_step(a, actor=org["upper"], step="approve", done_on=D(2025, 11, 1), note="党委换届", document_no="测党委〔2025〕9号")
    assert rec.days_overdue == 99 and rec.data["beyond_limit"] is True  # over six months: kept and flagged


def test_rule_probation_one_year(org):
    a = _walk(org, _apply(org), until="full_vote")
    assert a.probation_end == D(2026, 4, 25) and a.member.joined_on == D(2025, 4, 25)
    with pytest.raises(ValidationError) as e:
        rs.branch_step(a, actor=org["sec"], step="full_vote", done_on=D(2026, 4, 24),
                       present=[x.pk for x in org["m"][:5]], **{"for": 5}, outcome="full")
    assert "最早可于2026年04月25日办理" in _error(e)


def test_rule_extension_six_to_twelve_months(org):
    a = _walk(org, _apply(org), until="full_vote")
    kw = {"present": [x.pk for x in org["m"][:5]], "for": 5, "outcome": "extend"}
    for months in (5, 13):
        with pytest.raises(ValidationError) as e:
            rs.branch_step(a, actor=org["sec"], step="full_vote", done_on=D(2026, 4, 27), months=months, **kw)
        assert "延长预备期应为6至12个月" in _error(e)
    rs.branch_step(a, actor=org["sec"], step="full_vote", done_on=D(2026, 4, 27), months=6, **kw)


# ---------------------------------------------------------------- the other guards


def test_step_out_of_order_refused(org):
    a = _apply(org)
    with pytest.raises(ValidationError) as e:
        rs.branch_step(a, actor=org["sec"], step="activist_decide", done_on=D(2024, 1, 20))
    assert "应先办理“派人同入党申请人谈话”" in _error(e)


def test_vote_without_quorum_refused(org):
    a = _walk(org, _apply(org), until="vote")
    with pytest.raises(ValidationError) as e:  # 3 of 6 full members: not more than half
        rs.branch_step(a, actor=org["sec"], step="vote", done_on=D(2025, 4, 25),
                       present=[x.pk for x in org["m"][:3]] + [org["prob"].pk], **{"for": 3})
    assert "到会有表决权的党员 3 人,未超过应到会 6 人的半数" in _error(e)
    with pytest.raises(ValidationError) as e:  # quorum, but 3 for is not more than half of 6
        rs.branch_step(a, actor=org["sec"], step="vote", done_on=D(2025, 4, 25),
                       present=[x.pk for x in org["m"][:5]], **{"for": 3, "against": 2})
    assert "决议未获通过" in _error(e)
    assert not a.steps.filter(step="vote").exists()


def test_higher_steps_only_by_the_higher_organisation(org):
    a = _walk(org, _apply(org), until="pre_review")
    kw = {"step": "pre_review", "done_on": D(2025, 4, 15), "notice_start": D(2025, 4, 7), "notice_end": D(2025, 4, 11)}
    for who in ("sec", "peer"):  # the branch itself, and a peer branch's secretary
        with pytest.raises(NotPermitted) as e:
            rs.higher_step(a, actor=org[who], **kw)
        assert "上级组织的书记、委员" in str(e.value)
    with pytest.raises(ValidationError):  # and a branch step cannot be used for it
        rs.branch_step(a, actor=org["sec"], **kw)


def test_future_date_refused(org, clock):
    a = _apply(org)
    with pytest.raises(ValidationError) as e:
        rs.branch_step(a, actor=org["sec"], step="talk", done_on=D(2026, 6, 2))
    assert "不能晚于今天" in _error(e)


# ---------------------------------------------------------------- the paths


def test_full_path_from_application_to_full_membership(org):
    a = _walk(org, _apply(org))
    assert a.stage == RecruitStage.DONE and rs.sequential_next(a) is None
    m = a.member
    assert m.category == MemberCategory.FULL and m.joined_on == D(2025, 4, 25) and m.full_on == D(2026, 4, 25)
    assert a.steps.count() == 26  # the 23 steps done once, the 考察 twice, the 预备期考察 once
    cats = list(MemberEvent.objects.filter(member=m, kind="category").values_list("note", flat=True))
    assert cats == ["列为发展对象", "接收为预备党员", "按期转为正式党员"]
    assert ledger.history(a).filter(action="applicant.stage").count() == 7
    assert recruitment_flow.open_stage(a) is None
    assert recruitment_flow.process_of(a).status == "DONE"
    # both approvals are 上级批复 of the committee concerning the branch, linked from the steps
    decisions = HigherDecision.objects.filter(unit=org["b"]).order_by("date")
    assert [(d.kind, d.doc_number, d.decided_by_unit, d.outcome) for d in decisions] == [
        ("recruit_receive", "测党委〔2025〕8号", org["c"], "approved"), ("recruit_full", "测党委〔2026〕5号", org["c"], "approved")]
    assert a.steps.get(step="approve").decision == decisions[0]


def test_an_approval_needs_its_document_number(org):
    a = _walk(org, _apply(org), until="approve")
    with pytest.raises(ValidationError) as e:
        rs.higher_step(a, actor=org["upper"], step="approve", done_on=D(2025, 5, 20))
    assert "审批须填写批复文号" in _error(e)
    assert not HigherDecision.objects.exists() and not a.steps.filter(step="approve").exists()


def test_stages_move_the_work_item(org):
    a = _apply(org)
    assert recruitment_flow.open_stage(a) == "applying"
    a = _walk(org, a, until="candidate_decide")
    assert a.stage == RecruitStage.ACTIVIST and recruitment_flow.open_stage(a) == "activist"


def test_extension_path(org):
    a = _walk(org, _apply(org), until="full_vote")
    kw = {"present": [x.pk for x in org["m"][:5]], "for": 5}
    rs.branch_step(a, actor=org["sec"], step="full_vote", done_on=D(2026, 4, 27), outcome="extend", months=6, **kw)
    rs.higher_step(a, actor=org["upper"], step="full_approve", done_on=D(2026, 5, 10), document_no="测党委〔2026〕4号")
    a.refresh_from_db()
    assert a.probation_end == D(2026, 10, 25) and a.member.category == MemberCategory.PROBATIONARY
    nxt = rs.todos(a)[0]  # the next step in order; the 预备期考察 goes on meanwhile (and is overdue here)
    assert nxt.step.key == "full_vote" and nxt.earliest == D(2026, 10, 25)
    assert rs.next_action(a, D(2026, 5, 20)).step.key == "probation_assessment"
    with pytest.raises(ValidationError) as e:  # a second extension may not take the total over 12 months
        rs.branch_step(a, actor=org["sec"], step="full_vote", done_on=D(2026, 5, 20), outcome="extend", months=7, **kw)
    assert "最早可于2026年10月25日" in _error(e)


def test_extension_then_full(org, clock):
    clock["day"] = D(2026, 12, 1)
    a = _walk(org, _apply(org), until="full_vote")
    kw = {"present": [x.pk for x in org["m"][:5]], "for": 5}
    rs.branch_step(a, actor=org["sec"], step="full_vote", done_on=D(2026, 4, 27), outcome="extend", months=6, **kw)
    rs.higher_step(a, actor=org["upper"], step="full_approve", done_on=D(2026, 5, 10), document_no="测党委〔2026〕4号")
    a.refresh_from_db()
    with pytest.raises(ValidationError) as e:
        rs.branch_step(a, actor=org["sec"], step="full_vote", done_on=D(2026, 10, 26), outcome="extend", months=7, **kw)
    assert "累计不超过12个月" in _error(e) and "已延长6个月" in _error(e)
    rs.branch_step(a, actor=org["sec"], step="full_vote", done_on=D(2026, 10, 26), outcome="full", **kw)
    rs.higher_step(a, actor=org["upper"], step="full_approve", done_on=D(2026, 11, 2), document_no="测党委〔2026〕9号")
    rs.branch_step(a, actor=org["sec"], step="archive", done_on=D(2026, 11, 5), fields=SAMPLE_FIELDS["archive"])
    a.refresh_from_db()
    assert a.stage == RecruitStage.DONE and a.member.category == MemberCategory.FULL and a.member.full_on == D(2026, 10, 25)


# ---------------------------------------------------------------- working days


def test_workdays_count_holidays_and_adjusted_days():
    assert workdays.known(2025) and workdays.known(2026)
    assert not workdays.is_workday(D(2026, 10, 1)) and workdays.is_workday(D(2026, 10, 10))  # 国庆 off; Saturday worked
    assert workdays.is_workday(D(2025, 1, 26)) and not workdays.is_workday(D(2025, 1, 28))  # 春节调休
    assert workdays.count(D(2026, 9, 21), D(2026, 9, 30)) == 7  # 中秋节 on Friday 09-25
    assert workdays.add(D(2026, 9, 28), 5) == D(2026, 10, 9)
    assert workdays.count(D(2030, 1, 7), D(2030, 1, 13)) == 5  # a year not entered: Monday–Friday


# ---------------------------------------------------------------- pages


def test_list_by_stage_with_deadline_and_overdue(org, client, clock):
    a = _apply(org)
    clock["day"] = D(2024, 3, 1)
    client.force_login(org["sec"])
    body = client.get(f"/work/recruitment/?unit={org['b'].code}").content.decode()
    assert "第1阶段 · 申请入党(1人)" in body and "李明" in body
    assert "派人同入党申请人谈话" in body and "2024-02-10" in body and "已逾期20天" in body
    assert "51天" in body  # days in stage since 2024-01-10
    assert a.id_number not in body  # no personal data on the list


def test_applicant_page_records_the_next_step_and_refuses_in_chinese(org, client, clock):
    a = _apply(org)
    client.force_login(org["sec"])
    url = f"/work/recruitment/{a.pk}/"
    body = client.get(url).content.decode()
    assert "下一步:2. 派人同入党申请人谈话" in body
    r = client.post(url, {"step": "activist_decide", "done_on": "2024-01-20"}, follow=True)
    assert "应先办理“派人同入党申请人谈话”" in r.content.decode()
    r = client.post(url, {"step": "talk", "done_on": "2024-01-20", "note": "书记谈话"}, follow=True)
    assert "请填写“谈话人”(DJ-JL-12《谈话记录(发展党员)》)" in r.content.decode()  # the form's required fields
    assert not a.steps.filter(step="talk").exists()
    r = client.post(url, {"step": "talk", "done_on": "2024-01-20", "note": "书记谈话", "field_talker": "王书记",
                          "field_content": "了解入党动机"}, follow=True)
    assert "已登记“派人同入党申请人谈话”" in r.content.decode()
    assert "谈话人:王书记;谈话情况:了解入党动机" in r.content.decode()
    rec = a.steps.get(step="talk")
    assert rec.data["form"] == {"code": "DJ-JL-12", "version": "A"} and rec.data["fields"]["talker"] == "王书记"
    assert RecruitStep.objects.filter(applicant=a, step="talk").exists()


def test_stage_change_and_branch_meeting_vote_through_the_page(org, client, clock):
    a = _walk(org, _apply(org), until="vote")
    client.force_login(org["sec"])
    url = f"/work/recruitment/{a.pk}/"
    present = [str(m.pk) for m in org["m"][1:4]]  # 3 of the 5 other full members: no quorum
    r = client.post(url, {"step": "vote", "done_on": "2025-04-25", "present": present, "for": "3"}, follow=True)
    assert "支部大会不能表决" in r.content.decode()
    present = [str(m.pk) for m in org["m"][:5]]
    r = client.post(url, {"step": "vote", "done_on": "2025-04-25", "present": present, "for": "5"}, follow=True)
    assert "已登记“支部大会讨论接收预备党员”" in r.content.decode()
    client.force_login(org["sec"])  # the branch cannot approve itself: a 403 with the reason
    r = client.post(url, {"step": "higher_talk", "done_on": "2025-05-06"})
    assert r.status_code == 403 and "上级组织的书记、委员" in r.content.decode()
    client.force_login(org["upper"])
    client.post(url, {"step": "higher_talk", "done_on": "2025-05-06", "field_talker": "党委组织员", "field_content": "谈话合格"})
    client.post(url, {"step": "approve", "done_on": "2025-05-20", "document_no": "测党委〔2025〕8号"})
    a.refresh_from_db()
    assert a.member.category == "probationary"
    body = client.get(url).content.decode()
    assert "测党委〔2025〕8号" in body and "测试党委" in body


# ---------------------------------------------------------------- demo and the command


def test_demo_has_applicants_at_every_stage_and_the_command_lists_them():
    import json
    from io import StringIO

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from qms import demo
    from qms.models import Unit
    from workflows.demo import recruitment_step

    call_command("demo", "--no-history", stdout=StringIO())
    root = Unit.objects.get(code=demo.ROOT_CODE)
    assert "5 名对象" in recruitment_step(root, get_user_model().objects.get(username="admin"))
    out = StringIO()
    call_command("recruitment", "--unit", "HX", "--format", "json", stdout=out)
    data = json.loads(out.getvalue())
    assert [len(s["applicants"]) for s in data["stages"]] == [1, 1, 1, 1, 1]
    first = data["stages"][0]["applicants"][0]
    assert first["next_step"] == "talk" and first["overdue"] is True and first["days_overdue"] > 0
    assert first["days_in_stage"] == 40 and first["deadline"]
    probation = data["stages"][4]["applicants"][0]
    assert probation["next_step_label"] and probation["stage_label"] == "预备党员的教育考察和转正"
    out = StringIO()
    call_command("recruitment", "--unit", "HX", "--format", "csv", stdout=out)
    assert out.getvalue().count("\n") == 6


def test_pages_show_no_english_words_and_the_home_panel_links_them(org, client, clock):
    from tests.test_crawl import foreign_words

    a = _apply(org)
    client.force_login(org["sec"])
    for key, day, extra in _plan(org):  # the applicant's page at every step: its guidance and form included
        if key == "full_vote":
            break
        r = client.get(f"/work/recruitment/{a.pk}/")
        assert r.status_code == 200 and foreign_words(r.content.decode()) == set(), key
        rs.record_step(a, actor=_who(org, key), step=key, done_on=day, **{"fields": SAMPLE_FIELDS.get(key, {}), **extra})
        a.refresh_from_db()
    for who in ("sec", "upper"):
        client.force_login(org[who])
        home = client.get("/").content.decode()
        assert "发展党员(1人" in home and f"/work/recruitment/{a.pk}/" in home
        for url in (f"/work/recruitment/?unit={org['b'].code}", f"/work/recruitment/{a.pk}/"):
            r = client.get(url)
            assert r.status_code == 200 and foreign_words(r.content.decode()) == set(), (who, url)


def test_reminders_before_overdue_and_escalation(org, clock):
    from qms.models import Notification
    from workflows.recruitment_reminders import send_recruitment_reminders

    a = _apply(org)  # talk due 2024-02-10
    assert send_recruitment_reminders(D(2024, 1, 20)).sent == 0
    r = send_recruitment_reminders(D(2024, 2, 5))
    assert r.sent == 1 and Notification.objects.get(user=org["sec"]).title == "李明(发展党员):派人同入党申请人谈话,期限 2024-02-10"
    assert send_recruitment_reminders(D(2024, 2, 6)).sent == 0  # once
    r = send_recruitment_reminders(D(2024, 3, 1))  # 20 days overdue: > escalate_after_days (15)
    assert (r.sent, r.escalated) == (1, 0)  # nobody holds the 书记 seat of the committee in this fixture
    sec_c = factories.user("sec_c")
    m = factories.member(org["b2"], "党委书记")
    core.member_update(m, actor=None, reason="账号", user=sec_c)
    core.position_assign(actor=None, member=m, unit=org["c"], title="secretary", start=D(2020, 1, 1))
    r = send_recruitment_reminders(D(2024, 3, 2))
    assert r.escalated == 1 and "第一党支部 · 李明" in Notification.objects.get(user=sec_c).title
    assert a.steps.count() == 1
