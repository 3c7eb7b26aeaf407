"""发展党员 ends other than 转正: 取消预备党员资格 (《中国共产党章程》第七条: the 支部大会's resolution,
approved by the higher organisation, takes the person off the roster) and 不予接收 (a 接收 vote that
does not pass, or a 不同意 上级批复: the person stays an 入党积极分子); the results are data in
workflows/recruitment.toml, and the pages and ``manage.py recruitment`` show the ends."""
from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from qms import ledger
from qms.models import HigherDecision, MemberCategory, MemberEvent, MemberStatus
from tests.test_crawl import foreign_words
from tests.test_recruitment import D, _apply, _error, _walk, clock, org  # noqa: F401 (fixtures)
from workflows import recruitment_flow
from workflows import recruitment_services as rs
from workflows.models import Applicant, RecruitStage
from workflows.recruitment import process

pytestmark = pytest.mark.django_db


def _cancel(org, a, votes=5):  # noqa: F811
    rs.branch_step(a, actor=org["sec"], step="full_vote", done_on=D(2026, 4, 27), outcome="cancel",
                   present=[x.pk for x in org["m"][:5]], **{"for": votes})


def test_results_and_ends_are_cited_data():
    p = process()
    assert list(p.outcomes["full_vote"]) == ["full", "extend", "cancel"]
    cancel = p.outcome("full_vote", "cancel")
    assert cancel.label == "取消预备党员资格" and cancel.end == "cancelled" and cancel.passed is True
    assert "《中国共产党章程》第七条" in cancel.source and "应当取消预备党员资格" in cancel.source
    assert p.outcome("vote", "not_passed").end == "not_received" and p.outcome("vote", "not_passed").passed is False
    assert p.outcome("approve", "rejected").end == "not_received"
    assert p.ends["cancelled"].off_roster and p.ends["not_received"].category == MemberCategory.ACTIVIST
    assert all(o.source.strip() for results in p.outcomes.values() for o in results.values())


def test_cancel_probationary_membership_after_approval(org):  # noqa: F811
    a = _walk(org, _apply(org), until="full_vote")
    with pytest.raises(ValidationError) as e:  # the resolution needs its majority like any other
        _cancel(org, a, votes=3)
    assert "决议未获通过" in _error(e)
    _cancel(org, a)
    a.refresh_from_db()
    assert a.stage == RecruitStage.PROBATION and a.member.status == MemberStatus.ACTIVE  # not before the approval
    rec = rs.higher_step(a, actor=org["upper"], step="full_approve", done_on=D(2026, 5, 15), document_no="测党委〔2026〕6号")
    a.refresh_from_db()
    m = a.member
    assert a.stage == RecruitStage.CANCELLED and a.stage_since == D(2026, 5, 15)
    assert m.status == MemberStatus.DISQUALIFIED and m.current_membership() is None and m.category == MemberCategory.PROBATIONARY
    ev = MemberEvent.objects.get(member=m, kind="probation_cancel")
    assert ev.date == D(2026, 5, 15) and "取消预备党员资格" in ev.note and ev.from_unit == org["b"]
    assert ledger.history(m).filter(action="member.probation_cancel").exists()
    assert ledger.history(a).filter(action="applicant.stage").last().reason == "基层党委审批(转正):已取消预备党员资格"
    d = rec.decision
    assert (d.kind, d.outcome, d.decided_by_unit) == ("recruit_full", "approved", org["c"]) and "取消预备党员资格" in d.text
    assert rs.todos(a) == [] and rs.sequential_next(a) is None
    assert recruitment_flow.open_stage(a) is None and recruitment_flow.process_of(a).status == "CANCELED"
    with pytest.raises(ValidationError) as e:
        rs.branch_step(a, actor=org["sec"], step="archive", done_on=D(2026, 5, 20))
    assert "发展程序已结束(已取消预备党员资格)" in _error(e)


def test_only_a_probationary_member_has_the_status_taken_away(org):  # noqa: F811
    from qms import services as core

    with pytest.raises(ValidationError) as e:
        core.member_status_change(org["m"][1], actor=None, kind="probation_cancel", date=D(2026, 1, 1), note="误操作")
    assert "只有预备党员才能取消预备党员资格" in " ".join(e.value.messages)
    org["m"][1].refresh_from_db()
    assert org["m"][1].status == MemberStatus.ACTIVE and not MemberEvent.objects.filter(kind="probation_cancel").exists()


def test_a_vote_that_does_not_pass_ends_as_not_received(org):  # noqa: F811
    a = _walk(org, _apply(org), until="vote")
    kw = {"step": "vote", "done_on": D(2025, 4, 25), "outcome": "not_passed"}
    with pytest.raises(ValidationError) as e:  # it did pass: cannot be recorded as not passed
        rs.branch_step(a, actor=org["sec"], present=[x.pk for x in org["m"][:5]], **{"for": 4}, **kw)
    assert "决议已获通过,不能登记为未通过" in _error(e)
    with pytest.raises(ValidationError) as e:  # no quorum: no vote took place at all
        rs.branch_step(a, actor=org["sec"], present=[x.pk for x in org["m"][:3]], **{"for": 1, "against": 2}, **kw)
    assert "支部大会不能表决" in _error(e)
    rs.branch_step(a, actor=org["sec"], present=[x.pk for x in org["m"][:5]], **{"for": 2, "against": 3}, **kw)
    a.refresh_from_db()
    assert a.stage == RecruitStage.NOT_RECEIVED and a.stage_since == D(2025, 4, 25)
    assert a.member.category == MemberCategory.ACTIVIST and a.member.status == MemberStatus.ACTIVE
    assert a.member.current_membership().unit == org["b"]
    notes = list(MemberEvent.objects.filter(member=a.member, kind="category").values_list("note", flat=True))
    assert notes == ["列为发展对象", "支部大会讨论接收预备党员:不予接收"]
    assert not HigherDecision.objects.exists() and rs.todos(a) == []
    with pytest.raises(ValidationError) as e:
        rs.higher_step(a, actor=org["upper"], step="higher_talk", done_on=D(2025, 5, 6))
    assert "发展程序已结束(不予接收)" in _error(e)
    # the ended application no longer counts as open, but the person is on the roster as 入党积极分子 already:
    # registering them again as a new applicant is refused in words (step 3 would make a second record)
    assert not Applicant.objects.filter(id_number=a.id_number).exclude(stage__in=("done", "cancelled", "not_received")).exists()
    with pytest.raises(ValidationError) as e:
        rs.applicant_register(actor=org["sec"], unit=org["b"], name="李明", gender="M", id_number=a.id_number,
                              birth_date=a.birth_date, applied_on=D(2025, 6, 1))
    assert "此人已有人员档案(入党积极分子,在册)" in _error(e)


def test_a_disagreeing_approval_ends_as_not_received(org):  # noqa: F811
    a = _walk(org, _apply(org), until="approve")
    with pytest.raises(ValidationError) as e:
        rs.higher_step(a, actor=org["upper"], step="approve", done_on=D(2025, 5, 20), document_no="测党委〔2025〕8号",
                       result="maybe")
    assert "请选择审批结论:同意接收为预备党员、不同意接收,不予接收" in _error(e)
    rec = rs.higher_step(a, actor=org["upper"], step="approve", done_on=D(2025, 5, 20), document_no="测党委〔2025〕8号",
                         result="rejected")
    a.refresh_from_db()
    assert a.stage == RecruitStage.NOT_RECEIVED and a.member.category == MemberCategory.ACTIVIST
    assert a.member.joined_on is None and a.probation_end is None
    d = HigherDecision.objects.get()
    assert rec.decision == d and (d.kind, d.outcome, d.doc_number) == ("recruit_receive", "rejected", "测党委〔2025〕8号")
    assert d.text == "不同意李明:接收为预备党员"
    assert recruitment_flow.open_stage(a) is None


def test_a_full_membership_approval_that_does_not_agree_sends_the_resolution_back(org, clock):  # noqa: F811
    """上级党委 不同意 the 支部大会's 转正 resolution: recorded as a 不同意 上级批复, the person stays a
    预备党员 and the 支部大会 discusses again, its deadline counted from the sending back; only a
    resolution agreed to counts towards the extensions' total."""
    a = _walk(org, _apply(org), until="full_approve")
    assert list(process().outcomes["full_approve"]) == ["approved", "rejected"]
    assert process().outcome("full_approve", "rejected").again == "full_vote"
    rec = rs.higher_step(a, actor=org["upper"], step="full_approve", done_on=D(2026, 5, 15), document_no="测党委〔2026〕5号",
                         result="rejected")
    a.refresh_from_db()
    assert a.stage == RecruitStage.PROBATION and a.member.category == MemberCategory.PROBATIONARY
    d = rec.decision
    assert (d.kind, d.outcome) == ("recruit_full", "rejected") and d.text == "不同意李明:按期转为正式党员"
    (todo,) = [t for t in rs.todos(a) if not t.step.repeat]
    assert todo.step.key == "full_vote" and todo.deadline == D(2026, 6, 15)  # recruit_full_discussion_months (1) from 5-15
    with pytest.raises(ValidationError) as e:  # not the archive: the branch must discuss again first
        rs.branch_step(a, actor=org["sec"], step="archive", done_on=D(2026, 5, 20))
    assert "应先办理“支部大会讨论转正”" in _error(e)
    clock["day"] = D(2026, 6, 20)
    rs.branch_step(a, actor=org["sec"], step="full_vote", done_on=D(2026, 6, 1), outcome="extend", months=12,
                   present=[x.pk for x in org["m"][:5]], **{"for": 5})
    rs.higher_step(a, actor=org["upper"], step="full_approve", done_on=D(2026, 6, 10), document_no="测党委〔2026〕9号")
    a.refresh_from_db()
    assert a.stage == RecruitStage.PROBATION and a.probation_end == D(2027, 4, 25)
    assert [h.reason for h in ledger.history(a).filter(action="applicant.stage")][-1] == "基层党委审批(转正)"
    assert HigherDecision.objects.filter(kind="recruit_full").count() == 2


def test_pages_and_the_command_show_the_ends(org, client, clock):  # noqa: F811
    a = _walk(org, _apply(org), until="full_vote")
    client.force_login(org["sec"])
    url = f"/work/recruitment/{a.pk}/"
    body = client.get(url).content.decode()
    assert '<option value="cancel">取消预备党员资格</option>' in body and "应当取消预备党员资格" in body
    present = [str(m.pk) for m in org["m"][:5]]
    r = client.post(url, {"step": "full_vote", "done_on": "2026-04-27", "present": present, "for": "5", "outcome": "cancel"},
                    follow=True)
    assert "已登记“支部大会讨论转正”" in r.content.decode()
    client.force_login(org["upper"])
    r = client.post(url, {"step": "full_approve", "done_on": "2026-05-15", "document_no": "测党委〔2026〕6号"}, follow=True)
    assert "已登记“基层党委审批(转正)”" in r.content.decode()
    b = _walk(org, _apply(org, birth=D(1999, 3, 3)), until="vote")
    rs.branch_step(b, actor=org["sec"], step="vote", done_on=D(2025, 4, 25), outcome="not_passed",
                   present=[x.pk for x in org["m"][:5]], **{"for": 1, "against": 4})
    for who in ("sec", "upper"):
        client.force_login(org[who])
        page = client.get(url).content.decode()
        assert "发展程序已结束:已取消预备党员资格" in page and "已从党员名册中移出" in page and "下一步" not in page
        assert "同意支部大会的决议;支部大会决议:取消预备党员资格" in page
        assert foreign_words(page) == set()
        listing = client.get(f"/work/recruitment/?unit={org['b'].code}").content.decode()
        assert "已取消预备党员资格(1人)" in listing and "不予接收(1人)" in listing and "已转为正式党员(0人)" in listing
        assert foreign_words(listing) == set()
        other = client.get(f"/work/recruitment/{b.pk}/").content.decode()
        assert "发展程序已结束:不予接收" in other and "现为入党积极分子" in other and "表决未通过,不予接收" in other
    out = StringIO()
    call_command("recruitment", "--unit", org["c"].code, "--format", "json", stdout=out)
    data = json.loads(out.getvalue())
    assert all(not s["applicants"] for s in data["stages"])  # nobody open
    ends = {e["stage"]: [x["name"] for x in e["applicants"]] for e in data["ends"]}
    assert ends == {"done": [], "cancelled": ["李明"], "not_received": ["李明"]}
    assert [e["label"] for e in data["ends"]] == ["已转为正式党员", "已取消预备党员资格", "不予接收"]
    out = StringIO()
    call_command("recruitment", "--unit", org["c"].code, "--format", "csv", stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 3 and lines[1].endswith("已取消预备党员资格,,,,,,,2026-05-15")
