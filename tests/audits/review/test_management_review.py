"""Management review (管理评审, ISO 9001 §9.3): inputs gathered from the data, decisions as
tickets (one requiring a new procedure version), closing."""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from audits.capa import services as capa
from audits.models import Grade, ManagementReview, NCState, Nonconformity, ReviewDecision
from audits.performance import scoring
from audits.review import services as review
from procedures import services as docs
from procedures.library_loader import load_library
from procedures.models import Document
from qms import services as core
from qms.models import LedgerEntry, Role
from qms.permissions import NotPermitted
from tests import factories
from tests.audits.performance.test_objectives_scoring import (  # noqa: F401  (fixture and helpers)
    TODAY,
    YEAR,
    _close,
    _nc,
    _occurrences,
    org,  # noqa: F401  (fixture)
    pytestmark,
)
from workflows.models import State


def test_management_review_inputs_match_the_data(org):  # noqa: F811  (the fixture imported above)
    load_library()
    # a previous year's review with one decision still open
    old = ManagementReview.objects.create(root=org["c"], year=YEAR - 1, title="上年管理评审", planned_on=dt.date(YEAR - 1, 12, 1),
                                          chair=org["admin"], held_on=dt.date(YEAR - 1, 12, 1), state="held",
                                          inputs={"x": 1}, minutes="m")
    prev = capa.nc_raise(actor=org["admin"], unit=org["b1"], source="review", grade=Grade.IMPROVEMENT, clause="9.3.3",
                         requirement="加强党小组建设", evidence="上年评审决定")
    ReviewDecision.objects.create(review=old, kind="improvement", text="加强党小组建设", action=prev)
    a = _nc(org, org["b1"])
    _nc(org, org["b2"])
    _close(org, a)
    _nc(org, org["b2"], grade="observation")
    _occurrences(org["b1"], [State.CLOSED, State.MISSED], due=dt.date(YEAR, 1, 31))
    scoring.objectives_seed(org["c"], YEAR, actor=org["admin"])

    with pytest.raises(ValidationError, match="不能早于今天"):
        review.review_plan(actor=org["admin"], root=org["c"], year=YEAR, planned_on=TODAY - dt.timedelta(days=1), chair=org["admin"])
    with pytest.raises(NotPermitted, match="您无权办理管理评审"):
        review.review_plan(actor=org["b2user"], root=org["c"], year=YEAR, planned_on=TODAY, chair=org["admin"])
    r = review.review_plan(actor=org["admin"], root=org["c"], year=YEAR, planned_on=TODAY, chair=org["admin"])
    with pytest.raises(ValidationError, match="汇集评审输入"):
        review.review_hold(r, actor=org["admin"], held_on=TODAY, attendees="全体委员", minutes="记录", conclusion="有效")
    r = review.review_gather(r, actor=org["admin"])
    inp = r.inputs
    nc = inp["nonconformities"]
    assert (nc["total"], nc["rectified"]) == (3, 1)  # a, b and last year's review action; observation excluded
    assert nc["rate"] == capa.rectification(Nonconformity.objects.filter(raised_on__year=YEAR)).rate
    assert inp["opportunities"] == 1
    assert inp["compliance"]["overall"]["on_time"] + inp["compliance"]["overall"]["late"] == 1
    assert inp["compliance"]["overall"]["missed"] == 1
    assert [p["ticket"] for p in inp["previous_actions"]] == [prev.code] and inp["previous_actions"][0]["done"] is False
    assert {o["indicator"] for o in inp["objectives"]} >= {"rectification", "sanhui"}
    rect = next(o for o in inp["objectives"] if o["indicator"] == "rectification")
    assert (rect["num"], rect["den"], rect["met"]) == (1, 3, False)
    assert any(ch["code"] == "DJ-CX-01" for ch in inp["changes"]) or not inp["changes"]

    with pytest.raises(ValidationError, match="出席人员"):
        review.review_hold(r, actor=org["admin"], held_on=TODAY, attendees="", minutes="记录", conclusion="有效")
    r = review.review_hold(r, actor=org["admin"], held_on=TODAY, attendees="党委委员7人", minutes="听取体系运行报告",
                           conclusion="体系适宜、充分、有效")
    with pytest.raises(ValidationError, match="不能再更新"):
        review.review_gather(r, actor=org["admin"])

    # an improvement that requires a new version of 支部委员会会议程序
    doc = Document.objects.get(code="DJ-CX-02", owner__isnull=True)
    d = review.decision_add(r, actor=org["admin"], kind="change", text="修订支委会程序,增加代召集规定", unit=org["b1"], document=doc)
    t = d.action
    assert t.source == "review" and t.grade == "improvement" and t.requires_document == doc
    capa.nc_acknowledge(t, actor=org["sec"])
    capa.nc_analyse(t, actor=org["sec"], why=["书记出差无人召集"], root_cause="程序无代召集规定")
    capa.nc_plan(t, actor=org["sec"], correction="—", corrective_action="修订程序", owner=org["m1"][1], due_date=TODAY + dt.timedelta(days=9))
    capa.nc_implement(t, actor=org["sec"], evidence="已起草修订稿", done_on=TODAY)
    with pytest.raises(ValidationError, match="须在 .* 之后发布新版本"):
        capa.nc_verify(t, actor=org["admin"], note="ok", password="pass-12345")
    drafter, reviewer = factories.user("drafter"), factories.user("reviewer")
    for u in (drafter, reviewer):  # the committee's document officers (permission matrix: 体系管理员)
        core.role_grant(actor=None, user=u, role=Role.ADMIN, unit=org["c"], valid_from=dt.date(2020, 1, 1))
    v = docs.version_create(doc, actor=drafter, label=f"{YEAR}.9", change_reason="管理评审决定:增加代召集规定")
    docs.version_submit(v, actor=drafter)
    docs.version_review(v, actor=reviewer, password="pass-12345")
    v = docs.version_approve(v, actor=org["admin"], effective_on=TODAY, password="pass-12345")  # takes effect at once
    assert doc.effective_version() == v
    capa.nc_verify(t, actor=org["admin"], note="新版本已生效", password="pass-12345")
    with pytest.raises(ValidationError, match="登录密码"):  # 电子签名: no password, no approval
        review.review_close(r, actor=org["admin"])
    r = review.review_close(r, actor=org["admin"], password="pass-12345")
    assert r.state == "closed" and Nonconformity.objects.get(pk=t.pk).state == NCState.VERIFIED
    assert set(LedgerEntry.objects.filter(action__startswith="review.").values_list("action", flat=True)) == {
        "review.plan", "review.gather", "review.hold", "review.decision", "review.close"}
    # 电子签名: closing approves the review, signed over its minutes, conclusion and decisions
    from qms import signatures

    (sig,) = signatures.of(r)
    assert sig.meaning == "approve" and sig.digest == signatures.digest_of(r) and signatures.verify()[1] == []
    ManagementReview.objects.filter(pk=r.pk).update(conclusion="改过的结论")  # outside the product
    assert [p.object_id for p in signatures.verify()[1]] == [r.pk]


