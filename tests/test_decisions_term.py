"""延期或提前换届 (seed 001 三(二)8): a term away from the default needs a 同意 上级批复 of the
matching kind, referenced, and at most ``term_adjust_max_years`` (qms/rules/structure.toml);
refused in Chinese otherwise, with nothing saved."""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from qms import ledger
from qms import services as core
from qms.models import Role, Unit
from tests import factories

pytestmark = pytest.mark.django_db
D = dt.date
TODAY = timezone.localdate()


def _decision(tree, kind="term_extend", outcome="approved", unit="b1", number="总支〔2026〕1号"):
    return core.decision_record(actor=None, unit=tree[unit], decided_by_unit=tree["general"], kind=kind,
                                doc_number=number, date=TODAY, outcome=outcome)


def _unchanged(tree, head):
    assert Unit.objects.get(pk=tree["b1"].pk).term_years is None and ledger.head() == head


def test_extension_without_an_approval_is_refused_and_nothing_saved(tree):
    head = ledger.head()
    with pytest.raises(ValidationError) as e:
        core.unit_update(tree["b1"], actor=None, reason="延期", term_years=4)
    msg = e.value.messages[0]
    assert "每届任期一般为3年,改为4年须有上级党组织同意的批复(事项:延期换届)" in msg and "三(二)8" in msg
    _unchanged(tree, head)


def test_a_rejection_the_wrong_kind_or_another_units_approval_is_refused(tree):
    no = _decision(tree, outcome="rejected")
    advance = _decision(tree, kind="term_advance", number="总支〔2026〕2号")
    other = _decision(tree, unit="b2", number="总支〔2026〕3号")
    head = ledger.head()
    for d, words in ((no, "不同意"), (advance, "不是关于“第一党支部”延期换届的批复"), (other, "不是关于“第一党支部”延期换届的批复")):
        with pytest.raises(ValidationError, match=words):
            core.unit_update(tree["b1"], actor=None, reason="延期", term_years=4, decision=d)
    _unchanged(tree, head)


def test_an_approval_does_not_allow_more_than_the_rule(tree):
    ok = _decision(tree)
    head = ledger.head()
    with pytest.raises(ValidationError, match="任期应在2至4年之间"):
        core.unit_update(tree["b1"], actor=None, reason="延期两年", term_years=5, decision=ok)
    _unchanged(tree, head)


def test_extension_and_advance_with_their_approvals_and_back_to_the_default_without(tree):
    b1 = core.unit_update(tree["b1"], actor=None, reason="延期", term_years=4, decision=_decision(tree))
    assert b1.term_years == 4 and "依据上级批复 总支〔2026〕1号" in ledger.history(b1).last().reason
    adv = _decision(tree, kind="term_advance", number="总支〔2026〕5号")
    b1 = core.unit_update(b1, actor=None, reason="提前换届", term_years=2, decision=adv)
    assert b1.term_years == 2
    b1 = core.unit_update(b1, actor=None, reason="恢复默认任期", term_years=3)
    assert b1.term_years == 3


def test_an_organisation_that_allows_no_adjustment_refuses_even_with_an_approval(tree):
    core.policy_override_set(actor=None, unit=tree["committee"], key="term_adjust_max_years", value=0, source="本委《换届工作办法》第3条")
    with pytest.raises(ValidationError, match="任期应在3至3年之间"):
        core.unit_update(tree["b1"], actor=None, reason="延期", term_years=4, decision=_decision(tree))


def test_the_edit_page_offers_the_approvals_and_refuses_in_chinese(client, tree):
    admin = factories.user("adm")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=tree["committee"], valid_from=D(2020, 1, 1))
    client.force_login(admin)
    ok = _decision(tree)
    page = client.get("/units/B1/edit/").content.decode()
    assert "延期或提前换届的上级批复" in page and "总支〔2026〕1号(延期换届" in page
    data = {"code": "B1", "name": "第一党支部", "kind": "branch", "parent": tree["general"].pk,
            "term_start": "2024-01-01", "term_years": "4", "reason": "延期"}
    r = client.post("/units/B1/edit/", data)
    assert r.status_code == 200 and "须有上级党组织同意的批复" in r.content.decode()
    assert Unit.objects.get(code="B1").term_years is None
    r = client.post("/units/B1/edit/", {**data, "decision": ok.pk})
    assert r.status_code == 302 and Unit.objects.get(code="B1").term_years == 4
