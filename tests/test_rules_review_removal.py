"""民主评议 不合格 → 组织处置 → 除名: a 除名 the branch decides is not ended in the branch — it goes
to the higher organisation as a 除名 request (the same approval as for unpaid dues), and the 处置
is done only when that organisation approves (《中国共产党章程》第九条: 除名……报上级党组织批准;
seed 001 三(二)4, seed 004 篇1 十四). Which measures go up is data (workflows/review.toml)."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from django.core.exceptions import ValidationError

from qms import ledger
from qms.models import MemberStatus
from qms.permissions import NotPermitted
from tests.test_people_rules import all_rows, org, start_review  # noqa: F401  (the fixture: a branch of five, a year scheduled)
from workflows import dues, review, services
from workflows.models import FollowUpKind, RemovalRequest, State

pytestmark = pytest.mark.django_db


def _unqualified(org):  # noqa: F811
    occ, day = start_review(org)
    services.review_save(occ, actor=org["sec"], decided_by="general_meeting", rows=all_rows(org, 党员3="不合格"))
    services.record_submit(occ, actor=org["sec"], held_on=day)
    services.record_check(occ, actor=org["checker"], password="pass-12345")
    occ.refresh_from_db()
    return occ, day, occ.record.followups.get(kind=FollowUpKind.DISPOSAL)


def test_removal_is_the_measure_that_needs_the_higher_organisation():
    r = review.rules()
    assert r.removal_measures == {"除名"}
    assert "报上级党组织批准" in next(m.source for m in r.measures if m.label == "除名")


def test_a_removal_decided_by_the_branch_waits_for_the_higher_organisation(org):  # noqa: F811
    occ, day, fu = _unqualified(org)
    member = fu.owner
    services.followup_done(fu, actor=org["sec"], done_on=day + dt.timedelta(days=10), outcome="支部大会讨论决定除名", measure="除名")
    fu.refresh_from_db()
    assert fu.done_on is None and fu.measure == "除名"  # decided in the branch, not done
    req = RemovalRequest.objects.get(member=member, state="requested")
    assert req.unit == org["b"] and "民主评议不合格" in req.reason and "支部大会讨论决定除名" in req.reason
    with pytest.raises(ValidationError, match="待上级批准后完成"):
        services.followup_done(fu, actor=org["sec"], done_on=day, outcome="再次登记", measure="限期改正")
    with pytest.raises(ValidationError, match="还有 1 项"):
        services.occurrence_close(occ, actor=org["sec"])
    with pytest.raises(NotPermitted, match="上级组织"):
        dues.removal_decide(req, actor=org["sec"], approve=True)

    dues.removal_decide(req, actor=org["checker"], approve=True, note="同意")  # a member of the 党委 above
    member.refresh_from_db()
    fu.refresh_from_db()
    assert member.status == MemberStatus.REMOVED and fu.done_on is not None and "上级党组织已批准" in fu.outcome
    assert member.events.get(kind="removal").note == "民主评议不合格,经上级批准除名"
    services.occurrence_close(occ, actor=org["sec"])
    occ.refresh_from_db()
    assert occ.state == State.CLOSED and ledger.verify().ok


def test_a_refused_removal_sends_the_disposal_back_to_the_branch(org):  # noqa: F811
    occ, day, fu = _unqualified(org)
    services.followup_done(fu, actor=org["sec"], done_on=day, outcome="支部大会讨论决定除名", measure="除名")
    req = RemovalRequest.objects.get(member=fu.owner, state="requested")
    dues.removal_decide(req, actor=org["checker"], approve=False, note="应先限期改正")
    fu.refresh_from_db()
    fu.owner.refresh_from_db()
    assert fu.done_on is None and fu.measure == "" and "应先限期改正" in fu.outcome
    assert fu.owner.status == MemberStatus.ACTIVE
    services.followup_done(fu, actor=org["sec"], done_on=day + dt.timedelta(days=5), outcome="限期三个月改正", measure="限期改正")
    services.occurrence_close(occ, actor=org["sec"])
    assert RemovalRequest.objects.filter(state="requested").count() == 0


def test_which_measures_go_up_is_data(org, monkeypatch):  # noqa: F811
    shipped = review.rules()
    local = replace(shipped, measures=tuple(replace(m, approval="") for m in shipped.measures))
    monkeypatch.setattr(review, "rules", lambda: local)
    occ, day, fu = _unqualified(org)
    services.followup_done(fu, actor=org["sec"], done_on=day, outcome="支部大会讨论决定除名", measure="除名")
    fu.refresh_from_db()
    assert fu.done_on == day and not RemovalRequest.objects.exists()
