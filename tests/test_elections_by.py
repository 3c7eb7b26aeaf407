"""补选 (seed 001 三(二)1: 党支部书记、副书记、委员出现空缺,应当及时进行补选; 三(二)8: 应及时按程序予以补选):
an election of the second kind, opened only when the unit has a vacancy, through the same steps and
rules; its 报批 fills only the vacant seats — the sitting committee, the term and the 换届 occurrence
stay as they are."""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from qms import history, ledger
from qms import services as core
from qms.models import Position, Unit
from qms.rules import rules_for
from qms.structure import tree_warnings
from tests import factories
from tests.test_elections import _decision, org  # noqa: F401  (the fixture)
from workflows import election
from workflows import election_flows as flows
from workflows.models import Election, ElectionKind, ElectionState, Occurrence, State

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
DAY = dt.timedelta(days=1)


def _vacant_warnings(org):  # noqa: F811
    return [w for w in tree_warnings(org["c"], on=TODAY) if w.unit_code == "B" and w.code == "vacant_seat"]


def _secretary_leaves(org):  # noqa: F811
    p = Position.objects.get(unit=org["b"], title="secretary", end__isnull=True)
    core.position_end(p, actor=None, end=TODAY - 10 * DAY, reason="调离")


def _by_elected(org, candidates, votes, seats=1, e=None):  # noqa: F811
    """A 补选 opened (unless given), nominated, requested and held today (the 党员大会: 6 of the 7 正式党员 present)."""
    e = e or election.election_by_open(actor=org["admin"], unit=org["b"])
    e = election.election_nominate(e, actor=org["admin"], seats=seats, candidates=candidates)
    e = election.election_request(e, actor=org["admin"], decision=_decision(org, "election_request", "党委〔2026〕21号"))
    return election.election_hold(e, actor=org["admin"], held_on=TODAY, present=org["full"][:6],
                                  votes={m.pk: v for m, v in zip(candidates, votes, strict=True)})


def test_the_by_election_margin_is_its_own_rule_with_a_source():
    r = rules_for(Unit(path=""))
    rule = r["by_election_candidate_margin_percent"]
    assert rule.value == 20 and rule.source.startswith("本系统默认") and "第十三条" in rule.source
    assert election.required_candidates(1, r, ElectionKind.BY) == 2


def test_no_by_election_without_a_vacancy(org):  # noqa: F811
    v = election.vacancy(org["b"], TODAY)
    assert (v.exists, v.seats, v.titles, v.in_office) == (False, 0, (), 2)
    with pytest.raises(ValidationError, match="没有空缺的书记、副书记或委员职务,不需要补选"):
        election.election_by_open(actor=org["admin"], unit=org["b"])
    group = factories.unit("BG", "group", parent=org["b"], name="第一党小组")
    with pytest.raises(ValidationError, match="党小组,没有选举产生的委员会"):
        election.election_by_open(actor=org["admin"], unit=group)
    assert not Election.objects.exists()


def test_a_vacant_secretary_is_filled_by_a_by_election_end_to_end(org):  # noqa: F811
    b, full = org["b"], org["full"]
    term, organization = b.term_start, Position.objects.get(unit=b, title="organization", end__isnull=True)
    _secretary_leaves(org)
    assert _vacant_warnings(org)
    v = election.vacancy(b, TODAY)
    assert (v.seats, v.titles, v.in_office) == (1, ("secretary",), 1)
    e = election.election_by_open(actor=org["admin"], unit=b)
    assert (e.kind, e.seats, e.vacant_titles, e.occurrence) == (ElectionKind.BY, 1, ["secretary"], None)
    assert flows.open_task_titles(e) == ["酝酿"]
    with pytest.raises(ValidationError, match="已有正在进行的换届选举或补选"):
        election.election_by_open(actor=org["admin"], unit=b)
    with pytest.raises(ValidationError, match="补选的应选人数是空缺的委员数 1 名"):
        election.election_nominate(e, actor=org["admin"], seats=2, candidates=full[2:5])
    with pytest.raises(ValidationError, match="党员1 已是委员会委员"):
        election.election_nominate(e, actor=org["admin"], seats=1, candidates=[full[1], full[2]])
    with pytest.raises(ValidationError, match=r"应选 1 人,候选人至少 2 人.*本系统默认"):
        election.election_nominate(e, actor=org["admin"], seats=1, candidates=[full[2]])
    e = _by_elected(org, [full[2], full[3]], (5, 1), e=e)
    assert e.state == ElectionState.ELECTED and list(e.candidates.filter(elected=True).values_list("member", flat=True)) == [full[2].pk]
    approval = _decision(org, "election_approval", "党委〔2026〕22号")
    args = dict(actor=org["admin"], approval=approval, term_start=TODAY)
    with pytest.raises(ValidationError, match="空缺的书记应从委员会委员"):
        election.election_report(e, secretary=full[4], committee_present=[full[1], full[2]], secretary_votes=2, **args)
    with pytest.raises(ValidationError, match=r"应为委员会委员\(现任委员和补选当选的委员\)"):
        election.election_report(e, secretary=full[2], committee_present=[full[2], full[4]], secretary_votes=2, **args)
    with pytest.raises(ValidationError, match=r"委员会会议到会委员 1 人,未超过应到会 2 人的50%"):
        election.election_report(e, secretary=full[2], committee_present=[full[2]], secretary_votes=1, **args)
    with pytest.raises(ValidationError, match="书记、副书记选举结果批准"):
        election.election_report(e, secretary=full[2], committee_present=[full[1], full[2]], secretary_votes=2,
                                 actor=org["admin"], approval=None, term_start=TODAY)
    e = election.election_report(e, secretary=full[2], committee_present=[full[1], full[2]], secretary_votes=2, **args)
    assert e.state == ElectionState.COMPLETED and (e.approval_decision, e.filing_decision) == (approval, None)
    assert (e.offices_start, e.term_start, e.secretary_votes) == (TODAY, None, 2)
    # the vacant seat is filled; the sitting 委员 keeps the same office, the term and the 换届 occurrence are untouched
    now = {(p.title, p.member.name) for p in Position.objects.filter(unit=b, end__isnull=True)}
    assert now == {("secretary", "党员2"), ("organization", "党员1")}
    assert Position.objects.get(pk=organization.pk).end is None
    assert Unit.objects.get(pk=b.pk).term_start == term
    assert Occurrence.objects.get(unit=b, obligation_key="term_election").state in (State.OPEN, State.PLANNED)
    assert not election.vacancy(b, TODAY).exists and _vacant_warnings(org) == []
    assert flows.process_of(e).status == "DONE"
    actions = list(ledger.history(e).values_list("action", flat=True))
    assert actions[0] == "election.open_by" and actions[-1] == "election.complete"
    assert history.action_label("election.open_by") == "发起补选"
    assert ledger.verify().problems == []


def _after_regular_election(org):  # noqa: F811
    """A 换届选举 completed 30 days ago: 党员0 书记, 党员1 组织委员, 党员2 宣传委员."""
    b, full = org["b"], org["full"]
    e = election.election_open(actor=org["sec_b"], unit=b)
    e = election.election_nominate(e, actor=org["sec_b"], seats=3, candidates=full[:4])
    e = election.election_request(e, actor=org["sec_b"], decision=_decision(org, "election_request", "党委〔2026〕1号", TODAY - 40 * DAY))
    e = election.election_hold(e, actor=org["sec_b"], held_on=TODAY - 30 * DAY, present=full[:6],
                               votes={m.pk: v for m, v in zip(full[:4], (6, 5, 4, 2), strict=True)})
    e = election.election_report(e, actor=org["sec_b"], secretary=full[0], titles={full[1].pk: "organization", full[2].pk: "propaganda"},
                                 approval=_decision(org, "election_approval", "党委〔2026〕8号", TODAY - 25 * DAY),
                                 filing=_decision(org, "committee_filing", "党委〔2026〕9号", TODAY - 25 * DAY),
                                 term_start=TODAY - 30 * DAY, committee_present=full[:3], secretary_votes=3)
    assert e.state == ElectionState.COMPLETED


def test_a_by_election_after_a_regular_one_fills_the_missing_member_only(org):  # noqa: F811
    b, full = org["b"], org["full"]
    _after_regular_election(org)
    term = Unit.objects.get(pk=b.pk).term_start
    assert not election.vacancy(b, TODAY).exists
    core.position_end(Position.objects.get(unit=b, title="propaganda", end__isnull=True), actor=None, end=TODAY - 5 * DAY,
                      reason="调离")
    v = election.vacancy(b, TODAY)
    assert (v.seats, v.titles, v.target, v.in_office) == (1, (), 3, 2) and "上次换届选举" in v.basis
    sitting = set(Position.objects.filter(unit=b, end__isnull=True).values_list("pk", flat=True))
    e = _by_elected(org, [full[3], full[4]], (5, 1))
    filing = _decision(org, "committee_filing", "党委〔2026〕23号")
    with pytest.raises(ValidationError, match="书记职务没有空缺"):
        election.election_report(e, actor=org["sec_b"], secretary=full[3], approval=None, filing=filing, term_start=TODAY)
    with pytest.raises(ValidationError, match="委员选举结果备案"):
        election.election_report(e, actor=org["sec_b"], secretary=None, approval=None, filing=None, term_start=TODAY)
    e = election.election_report(e, actor=org["sec_b"], secretary=None, titles={full[3].pk: "propaganda"}, approval=None,
                                 filing=filing, term_start=TODAY)
    assert e.state == ElectionState.COMPLETED and e.filing_decision == filing and e.approval_decision is None
    assert set(Position.objects.filter(pk__in=sitting, end__isnull=True).values_list("pk", flat=True)) == sitting
    now = {(p.title, p.member.name) for p in Position.objects.filter(unit=b, end__isnull=True)}
    assert now == {("secretary", "党员0"), ("organization", "党员1"), ("propaganda", "党员3")}
    assert Unit.objects.get(pk=b.pk).term_start == term and not election.vacancy(b, TODAY).exists


def test_the_pages_offer_the_by_election_where_there_is_a_vacancy(client, org):  # noqa: F811
    from tests.test_crawl import foreign_words
    from tests.test_elections_pages import _post

    client.force_login(org["sec_c"])  # the 党委书记 above (the branch's own 书记 has left)
    assert "发起补选" not in client.get("/work/elections/B/").content.decode()
    _secretary_leaves(org)
    unit_page = client.get("/units/B/").content.decode()
    assert "书记空缺" in unit_page and "/work/elections/B/#by-election" in unit_page
    page = client.get("/work/elections/B/").content.decode()
    assert "发起补选" in page and "应补选委员 1 名" in page and foreign_words(page) == set()
    body = _post(client, {"step": "open_by"})
    assert "补选:第一党支部" in body and "补选空缺的委员 1 名" in body
    full = org["full"]
    _post(client, {"step": "nominate", "seats": "1", "candidates": [full[2].pk, full[3].pk]})
    _post(client, {"step": "request", "decision": _decision(org, "election_request", "党委〔2026〕21号").pk})
    body = _post(client, {"step": "hold", "held_on": TODAY.isoformat(), "present": [m.pk for m in full[:6]],
                          f"votes_{full[2].pk}": "5", f"votes_{full[3].pk}": "1"})
    assert "报批:补选结果" in body and "现任委员:党员1" in body
    approval = _decision(org, "election_approval", "党委〔2026〕22号")
    body = _post(client, {"step": "report", "secretary": full[2].pk, "committee_present": [full[1].pk, full[2].pk],
                          "secretary_votes": "2", "approval": approval.pk, "term_start": TODAY.isoformat()})
    assert Election.objects.get().state == ElectionState.COMPLETED
    assert "补选完成" in body and "党委〔2026〕22号" in body
    assert Position.objects.get(unit=org["b"], title="secretary", end__isnull=True).member == full[2]
    assert "书记空缺" not in client.get("/units/B/").content.decode()


def test_a_sitting_member_elected_secretary_leaves_the_office_held_until_then(org):  # noqa: F811
    b, full = org["b"], org["full"]
    _secretary_leaves(org)
    e = _by_elected(org, [full[2], full[3]], (5, 1))
    approval = _decision(org, "election_approval", "党委〔2026〕22号")
    args = dict(actor=org["admin"], secretary=full[1], approval=approval, term_start=TODAY, titles={full[2].pk: "propaganda"},
                committee_present=[full[1], full[2]], secretary_votes=2)
    with pytest.raises(ValidationError, match="委员选举结果备案"):  # the new 委员 is not the 书记: filed
        election.election_report(e, filing=None, **args)
    filing = _decision(org, "committee_filing", "党委〔2026〕23号")
    e = election.election_report(e, filing=filing, **args)
    assert (e.approval_decision, e.filing_decision) == (approval, filing)
    now = {(p.title, p.member.name) for p in Position.objects.filter(unit=b, end__isnull=True)}
    assert now == {("secretary", "党员1"), ("propaganda", "党员2")}
    left = Position.objects.get(unit=b, member=full[1], title="organization")
    assert left.end == TODAY - DAY and "补选为书记" in ledger.history(left).last().reason


def test_a_vacant_secretary_with_the_committee_complete_is_elected_by_the_committee_alone(org, client):  # noqa: F811
    """The 书记 steps down but stays a 委员: no 委员 seat is vacant, so no 党员大会 — the 支委会 elects
    its 书记 among the sitting 委员 and the higher organisation approves."""
    b, full = org["b"], org["full"]
    _after_regular_election(org)
    sec = Position.objects.get(unit=b, title="secretary", end__isnull=True)
    core.position_end(sec, actor=None, end=TODAY - 5 * DAY, reason="辞去书记职务")
    core.position_assign(actor=None, member=full[0], unit=b, title="committee_member", start=TODAY - 4 * DAY)
    v = election.vacancy(b, TODAY)
    assert (v.seats, v.titles, v.in_office, v.exists) == (0, ("secretary",), 3, True)
    e = election.election_by_open(actor=org["admin"], unit=b)
    assert (e.kind, e.seats, e.state) == (ElectionKind.BY, 0, ElectionState.ELECTED)
    assert flows.open_task_titles(e) == ["报批"]
    assert "election.committee_only" in ledger.history(e).values_list("action", flat=True)
    from tests.test_crawl import foreign_words

    client.force_login(org["sec_c"])
    page = client.get("/work/elections/B/").content.decode()
    assert "不召开党员大会,由委员会会议从现任委员中选举书记" in page and "报批:补选结果" in page
    assert "现任委员:党员0、党员1、党员2" in page and foreign_words(page) == set()
    approval = _decision(org, "election_approval", "党委〔2026〕30号")
    with pytest.raises(ValidationError, match="空缺的书记应从委员会委员"):
        election.election_report(e, actor=org["admin"], secretary=full[4], approval=approval, term_start=TODAY,
                                 committee_present=full[:3], secretary_votes=3)
    e = election.election_report(e, actor=org["admin"], secretary=full[1], approval=approval, term_start=TODAY,
                                 committee_present=full[:3], secretary_votes=2)
    assert e.state == ElectionState.COMPLETED and e.filing_decision is None and e.held_on is None
    now = {(p.title, p.member.name) for p in Position.objects.filter(unit=b, end__isnull=True)}
    assert now == {("secretary", "党员1"), ("committee_member", "党员0"), ("propaganda", "党员2")}
    assert not election.vacancy(b, TODAY).exists


def test_without_an_election_record_a_former_secretary_still_on_the_committee_leaves_no_member_seat(org):  # noqa: F811
    b = org["b"]
    sec = Position.objects.get(unit=b, title="secretary", end__isnull=True)
    core.position_end(sec, actor=None, end=TODAY - 5 * DAY, reason="辞去书记职务")
    core.position_assign(actor=None, member=org["full"][0], unit=b, title="committee_member", start=TODAY - 4 * DAY)
    v = election.vacancy(b, TODAY)
    assert (v.seats, v.titles, v.target) == (0, ("secretary",), 2) and "委员无空缺" in v.describe()


def test_a_vacant_deputy_secretary_elected_last_time_is_a_vacancy_filled_by_the_committee(org, client):  # noqa: F811
    """副书记 is not required of every branch, but one elected at the last 换届选举 who leaves is a
    vacancy (seed 001 三(二)1:书记、副书记、委员出现空缺,应当及时进行补选): flagged, and filled by a 补选 —
    here the 委员 seat is filled by the 党员大会 and the completed 支委会 elects the 副书记."""
    b, full = org["b"], org["full"]
    e = election.election_open(actor=org["sec_b"], unit=b)
    e = election.election_nominate(e, actor=org["sec_b"], seats=3, candidates=full[:4])
    e = election.election_request(e, actor=org["sec_b"], decision=_decision(org, "election_request", "党委〔2026〕1号", TODAY - 40 * DAY))
    e = election.election_hold(e, actor=org["sec_b"], held_on=TODAY - 30 * DAY, present=full[:6],
                               votes={m.pk: v for m, v in zip(full[:4], (6, 5, 4, 2), strict=True)})
    election.election_report(e, actor=org["sec_b"], secretary=full[0], deputy=full[1], titles={full[2].pk: "propaganda"},
                             approval=_decision(org, "election_approval", "党委〔2026〕8号", TODAY - 25 * DAY),
                             filing=_decision(org, "committee_filing", "党委〔2026〕9号", TODAY - 25 * DAY),
                             term_start=TODAY - 30 * DAY, committee_present=full[:3], secretary_votes=3, deputy_votes=3)
    assert not election.vacancy(b, TODAY).exists
    core.position_end(Position.objects.get(unit=b, title="deputy_secretary", end__isnull=True), actor=None,
                      end=TODAY - 5 * DAY, reason="调离")
    v = election.vacancy(b, TODAY)
    assert (v.seats, v.titles, v.in_office) == (1, ("deputy_secretary",), 2) and "副书记空缺" in v.describe()
    client.force_login(org["sec_c"])
    assert "副书记空缺" in client.get("/work/elections/B/").content.decode()
    e = _by_elected(org, [full[3], full[4]], (5, 1))
    approval = _decision(org, "election_approval", "党委〔2026〕31号")
    filing = _decision(org, "committee_filing", "党委〔2026〕32号")
    page = client.get("/work/elections/B/").content.decode()
    assert "选举副书记,到会委员" in page and 'name="deputy"' in page and 'name="secretary"' not in page
    with pytest.raises(ValidationError, match="书记职务没有空缺"):
        election.election_report(e, actor=org["admin"], secretary=full[3], approval=approval, filing=filing, term_start=TODAY)
    with pytest.raises(ValidationError, match="空缺的副书记应从委员会委员"):
        election.election_report(e, actor=org["admin"], secretary=None, deputy=full[5], approval=approval, filing=filing,
                                 term_start=TODAY, committee_present=[full[0], full[2], full[3]], deputy_votes=3)
    with pytest.raises(ValidationError, match="方能当选副书记"):  # the completed 支委会 (3 委员) votes: 1 of 3 is not a majority
        election.election_report(e, actor=org["admin"], secretary=None, deputy=full[2], approval=approval, filing=filing,
                                 term_start=TODAY, committee_present=[full[0], full[2], full[3]], deputy_votes=1)
    e = election.election_report(e, actor=org["admin"], secretary=None, deputy=full[2], approval=approval, filing=filing,
                                 term_start=TODAY, committee_present=[full[0], full[2], full[3]], deputy_votes=3)
    assert e.state == ElectionState.COMPLETED and e.approval_decision == approval
    now = {(p.title, p.member.name) for p in Position.objects.filter(unit=b, end__isnull=True)}
    assert now == {("secretary", "党员0"), ("deputy_secretary", "党员2"), ("committee_member", "党员3")}
    assert not election.vacancy(b, TODAY).exists


def test_a_deputy_secretary_the_branch_never_had_is_no_vacancy(org):  # noqa: F811
    v = election.vacancy(org["b"], TODAY)
    assert "deputy_secretary" not in v.titles and not v.exists
