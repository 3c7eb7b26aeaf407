"""换届选举 as a process (seed 001 三(二)8 酝酿 → 请示 → 选举 → 报批; 三(二)1 委员 elected by the
党员大会 and filed, 书记/副书记 approved): each step's guard, the rules of workflows/election.toml,
and one election end to end that updates the positions, starts the term and fulfils the 换届
occurrence."""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from procedures.library_loader import load_library
from qms import ledger
from qms import services as core
from qms.models import MemberCategory, Position, Role, Unit, UnitKind
from qms.permissions import NotPermitted
from qms.rules import rules_for
from qms.structure import add_years
from tests import factories
from workflows import election
from workflows import election_flows as flows
from workflows.models import Election, ElectionState, Occurrence, State
from workflows.scheduler import schedule

pytestmark = pytest.mark.django_db
D = dt.date
TODAY = timezone.localdate()


@pytest.fixture
def org(db):
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委", term_start=add_years(TODAY, -2))
    b = factories.unit("B", UnitKind.BRANCH, parent=c, name="第一党支部",
                       term_start=add_years(TODAY, -3) + dt.timedelta(days=60))  # the term ends in two months
    full = [factories.member(b, f"党员{i}") for i in range(6)]
    prob = factories.member(b, "预备党员", category=MemberCategory.PROBATIONARY)
    other = factories.member(factories.unit("B2", UnitKind.BRANCH, parent=c, name="第二党支部"), "外支部党员")
    people = {"sec_b": factories.user("sec_b"), "sec_c": factories.user("sec_c"), "admin": factories.user("admin")}
    core.member_update(full[0], actor=None, reason="账号", user=people["sec_b"])
    core.position_assign(actor=None, member=full[0], unit=b, title="secretary", start=D(2020, 1, 1), past_term=True)
    core.position_assign(actor=None, member=full[1], unit=b, title="organization", start=D(2020, 1, 1), past_term=True)
    csec = factories.member(b, "党委书记")
    core.member_update(csec, actor=None, reason="账号", user=people["sec_c"])
    core.position_assign(actor=None, member=csec, unit=c, title="secretary", start=D(2020, 1, 1), past_term=True)
    core.role_grant(actor=None, user=people["admin"], role=Role.ADMIN, unit=c, valid_from=D(2020, 1, 1))
    schedule(today=TODAY)
    return {"c": c, "b": b, "full": full + [csec], "prob": prob, "other": other, **people}


def _decision(org, kind, number, day=None, outcome="approved", by="sec_c"):
    return core.decision_record(actor=org[by], unit=org["b"], decided_by_unit=org["c"], kind=kind, doc_number=number,
                                date=day or TODAY, outcome=outcome)


def _opened(org):
    return election.election_open(actor=org["sec_b"], unit=org["b"])


def _nominated(org, seats=3):
    e = _opened(org)
    return election.election_nominate(e, actor=org["sec_b"], seats=seats, candidates=org["full"][:4])


def _requested(org):
    e = _nominated(org)
    return election.election_request(e, actor=org["sec_b"], decision=_decision(org, "election_request", "党委〔2026〕1号"))


def _held(org, votes=(6, 5, 4, 2)):
    e = _requested(org)
    cands = org["full"][:4]
    return election.election_hold(e, actor=org["sec_b"], held_on=TODAY, present=org["full"][:6],
                                  votes={m.pk: v for m, v in zip(cands, votes, strict=True)})


def test_the_rules_are_data_with_their_sources():
    r = rules_for(Unit(path=""))
    assert r["election_candidate_margin_percent"].value == 20 and "第十三条" in r["election_candidate_margin_percent"].source
    assert r["election_quorum_percent"].value == 80 and "4/5" in r["election_quorum_percent"].source
    assert r["election_elected_percent"].value == 50 and "实到会" in r["election_elected_percent"].source
    assert [election.required_candidates(n, r) for n in (1, 3, 5, 7)] == [2, 4, 6, 9]


def test_an_election_opens_only_when_the_term_occurrence_is_due_and_links_it(org):
    occ = Occurrence.objects.get(unit=org["b"], obligation_key="term_election")
    assert occ.period_start <= TODAY
    with pytest.raises(ValidationError, match="还没有到期的换届事项"):
        election.election_open(actor=org["admin"], unit=org["c"])  # the committee's term runs three more years
    e = _opened(org)
    assert e.occurrence == occ and e.state == ElectionState.NOMINATING
    assert flows.open_task_titles(e) == ["酝酿"]
    with pytest.raises(ValidationError, match="已有正在进行的换届选举"):
        _opened(org)


def test_nominating_needs_the_margin_and_full_members_of_the_unit(org):
    e = _opened(org)
    head = ledger.head()
    with pytest.raises(ValidationError, match=r"应选 3 人,候选人至少 4 人\(现 3 人\).*差额不少于应选人数的20%"):
        election.election_nominate(e, actor=org["sec_b"], seats=3, candidates=org["full"][:3])
    for outsider in (org["prob"], org["other"]):
        with pytest.raises(ValidationError, match="没有被选举权"):
            election.election_nominate(e, actor=org["sec_b"], seats=3, candidates=[*org["full"][:3], outsider])
    assert ledger.head() == head and not e.candidates.exists()
    e = election.election_nominate(e, actor=org["sec_b"], seats=3, candidates=org["full"][:4])
    assert e.candidates.count() == 4 and e.seats == 3
    e = election.election_nominate(e, actor=org["sec_b"], seats=3, candidates=org["full"][1:5])  # 酝酿 again
    assert sorted(e.candidates.values_list("member__name", flat=True)) == ["党员1", "党员2", "党员3", "党员4"]
    assert ledger.verify().problems == []


def test_an_organisation_may_set_its_own_margin(org):
    core.policy_override_set(actor=None, unit=org["c"], key="election_candidate_margin_percent", value=50, source="本委《选举办法》第4条")
    e = _opened(org)
    with pytest.raises(ValidationError, match="候选人至少 5 人"):
        election.election_nominate(e, actor=org["sec_b"], seats=3, candidates=org["full"][:4])


def test_steps_out_of_order_are_refused(org):
    e = _opened(org)
    ok = _decision(org, "election_request", "党委〔2026〕1号")
    with pytest.raises(ValidationError, match="请先完成酝酿"):
        election.election_request(e, actor=org["sec_b"], decision=ok)
    with pytest.raises(ValidationError, match="当前进度为“酝酿”,不能办理“选举”"):
        election.election_hold(e, actor=org["sec_b"], held_on=TODAY, present=org["full"], votes={})
    with pytest.raises(ValidationError, match="不能办理“报批”"):
        election.election_report(e, actor=org["sec_b"], secretary=org["full"][0], approval=None, term_start=TODAY)
    assert Election.objects.get(pk=e.pk).state == ElectionState.NOMINATING


def test_the_request_needs_an_approval_by_the_higher_organisation(org):
    e = _nominated(org)
    with pytest.raises(ValidationError, match="须有上级党组织同意的批复"):
        election.election_request(e, actor=org["sec_b"], decision=None)
    no = _decision(org, "election_request", "党委〔2026〕2号", outcome="rejected")
    with pytest.raises(ValidationError, match="不同意"):
        election.election_request(e, actor=org["sec_b"], decision=no)
    wrong = _decision(org, "term_extend", "党委〔2026〕3号")
    with pytest.raises(ValidationError, match="不是关于“第一党支部”换届请示的批复"):
        election.election_request(e, actor=org["sec_b"], decision=wrong)
    # the branch cannot approve its own request: only the organisation above records a decision
    with pytest.raises(NotPermitted):
        _decision(org, "election_request", "自批〔2026〕1号", by="sec_b")
    assert Election.objects.get(pk=e.pk).state == ElectionState.NOMINATING


def test_an_election_without_quorum_is_refused(org):
    e = _requested(org)
    head = ledger.head()
    cands = org["full"][:4]
    with pytest.raises(ValidationError, match=r"到会有选举权的党员 5 人,未超过应到会 7 人的80%,选举无效"):
        election.election_hold(e, actor=org["sec_b"], held_on=TODAY, present=org["full"][:5],
                               votes={m.pk: 5 for m in cands})
    with pytest.raises(ValidationError, match="不是有选举权的党员"):
        election.election_hold(e, actor=org["sec_b"], held_on=TODAY, present=[*org["full"][:6], org["prob"]],
                               votes={m.pk: 5 for m in cands})
    assert ledger.head() == head and Election.objects.get(pk=e.pk).state == ElectionState.REQUESTED


def test_elected_are_those_with_more_than_half_of_those_present_by_votes(org):
    e = _held(org, votes=(6, 4, 3, 5))  # 6 present: 4 and 5 pass, 3 is exactly half and does not
    elected = list(e.candidates.filter(elected=True).values_list("member__name", flat=True))
    assert sorted(elected) == ["党员0", "党员1", "党员3"]
    assert (e.state, e.entitled_count, len(e.present_ids)) == (ElectionState.ELECTED, 7, 6)
    assert "当选:党员0、党员3、党员1" in ledger.history(e).last().reason
    assert flows.open_task_titles(e) == ["报批"]


def test_a_tie_at_the_last_seat_must_be_voted_again(org):
    e = _requested(org)
    cands = org["full"][:4]
    with pytest.raises(ValidationError, match="得票相等,不能确定当选人"):
        election.election_hold(e, actor=org["sec_b"], held_on=TODAY, present=org["full"][:6],
                               votes={m.pk: v for m, v in zip(cands, (6, 5, 4, 4), strict=True)})


def test_the_report_needs_the_approval_and_the_filing_and_a_secretary_among_the_elected(org):
    e = _held(org)
    elected = org["full"][:3]
    approval = _decision(org, "election_approval", "党委〔2026〕8号")
    with pytest.raises(ValidationError, match="书记应从当选的委员中产生"):
        election.election_report(e, actor=org["sec_b"], secretary=org["full"][3], approval=approval, term_start=TODAY)
    vote = {"committee_present": elected, "secretary_votes": 3}
    with pytest.raises(ValidationError, match="书记、副书记选举结果批准"):
        election.election_report(e, actor=org["sec_b"], secretary=elected[0], approval=None, term_start=TODAY, **vote)
    with pytest.raises(ValidationError, match="委员选举结果备案"):
        election.election_report(e, actor=org["sec_b"], secretary=elected[0], approval=approval, term_start=TODAY, **vote)
    assert Election.objects.get(pk=e.pk).state == ElectionState.ELECTED
    assert Position.objects.get(unit=org["b"], title="secretary", end__isnull=True).member == org["full"][0]


def test_one_election_end_to_end(org):
    b = org["b"]
    e = _held(org)
    new_sec, deputy, member = org["full"][2], org["full"][1], org["full"][0]
    approval = _decision(org, "election_approval", "党委〔2026〕8号")
    filing = _decision(org, "committee_filing", "党委〔2026〕9号")
    e = election.election_report(e, actor=org["sec_b"], secretary=new_sec, deputy=deputy,
                                 titles={member.pk: "organization"}, approval=approval, filing=filing, term_start=TODAY,
                                 committee_present=org["full"][:3], secretary_votes=3, deputy_votes=2)
    assert e.state == ElectionState.COMPLETED and (e.approval_decision, e.filing_decision) == (approval, filing)
    now = {(p.title, p.member.name) for p in Position.objects.filter(unit=b, end__isnull=True)}
    assert now == {("secretary", "党员2"), ("deputy_secretary", "党员1"), ("organization", "党员0")}
    old = Position.objects.filter(unit=b, end__isnull=False)
    assert {p.end for p in old} == {TODAY - dt.timedelta(days=1)} and old.count() == 2
    assert Unit.objects.get(pk=b.pk).term_start == TODAY
    occ = Occurrence.objects.get(pk=e.occurrence_id)
    assert (occ.state, occ.held_on, occ.late) == (State.HELD, TODAY, False)
    process = flows.process_of(e)
    assert flows.open_task_titles(e) == [] and process.status == "DONE"
    assert ledger.history(e).last().action == "election.complete"
    result = ledger.verify()
    assert result.problems == [], result.problems  # every row of the election (candidates too) is in the ledger
    # a new election may be opened for the next term only when its occurrence is due again
    with pytest.raises(ValidationError, match="还没有到期的换届事项"):
        _opened(org)


def test_a_member_cannot_run_the_election(org):
    m = org["full"][5]
    u = factories.user("plain")
    core.member_update(m, actor=None, reason="账号", user=u)
    with pytest.raises(NotPermitted, match="您无权办理换届选举"):
        election.election_open(actor=u, unit=org["b"])


def test_the_system_itself_may_drive_the_steps_for_the_demo(org):
    e = election.election_open(actor=None, unit=org["b"])
    e = election.election_nominate(e, actor=None, seats=3, candidates=org["full"][:4])
    d = core.decision_record(actor=None, unit=org["b"], decided_by_unit=org["c"], kind="election_request",
                             doc_number="党委〔2026〕1号", date=TODAY, outcome="approved")
    e = election.election_request(e, actor=None, decision=d)
    assert e.state == ElectionState.REQUESTED and flows.open_task_titles(e) == ["选举"]


def test_the_new_committee_elects_its_secretary_with_a_quorum_and_a_majority(org):
    e = _held(org)
    elected = org["full"][:3]
    approval = _decision(org, "election_approval", "党委〔2026〕8号")
    filing = _decision(org, "committee_filing", "党委〔2026〕9号")
    args = dict(actor=org["sec_b"], secretary=elected[0], approval=approval, filing=filing, term_start=TODAY)
    with pytest.raises(ValidationError, match=r"委员会会议到会委员 1 人,未超过应到会 3 人的50%.*第十二条"):
        election.election_report(e, committee_present=elected[:1], secretary_votes=1, **args)
    with pytest.raises(ValidationError, match="党员0 得票 1,应超过到会委员 2 人的50%方能当选书记"):
        election.election_report(e, committee_present=elected[:2], secretary_votes=1, **args)
    with pytest.raises(ValidationError, match="应为新当选的委员"):
        election.election_report(e, committee_present=[*elected[:2], org["full"][4]], secretary_votes=2, **args)
    assert Election.objects.get(pk=e.pk).state == ElectionState.ELECTED
    e = election.election_report(e, committee_present=elected[:2], secretary_votes=2, **args)
    assert (e.state, e.secretary_votes, len(e.committee_present_ids)) == (ElectionState.COMPLETED, 2, 2)


def test_a_branch_electing_only_its_secretary_needs_no_committee_meeting(org):
    e = _opened(org)
    e = election.election_nominate(e, actor=org["sec_b"], seats=1, candidates=org["full"][:2])
    e = election.election_request(e, actor=org["sec_b"], decision=_decision(org, "election_request", "党委〔2026〕1号"))
    e = election.election_hold(e, actor=org["sec_b"], held_on=TODAY, present=org["full"][:6],
                               votes={org["full"][0].pk: 5, org["full"][1].pk: 1})
    e = election.election_report(e, actor=org["sec_b"], secretary=org["full"][0], term_start=TODAY,
                                 approval=_decision(org, "election_approval", "党委〔2026〕8号"))
    assert e.state == ElectionState.COMPLETED and e.filing_decision is None
    assert Position.objects.get(unit=org["b"], title="secretary", end__isnull=True).member == org["full"][0]
