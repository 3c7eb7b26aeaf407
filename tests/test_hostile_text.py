"""Hostile text in the main forms (TRUST 4): very long text, a rare CJK character outside the
Basic Multilingual Plane (𠮷), emoji with modifiers and flags, and an impossible date (2026-02-30)
posted to the record entry, the ticket, the member, the 上级批复 and the 入党申请 forms. Each is
either stored intact (read back equal, character for character) or refused with a clear Chinese
message — never a 500."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

TODAY = timezone.localdate()
pytestmark = pytest.mark.django_db

VALUES = {
    "long": "党" * 100_000,
    "rare": "𠮷野家𡈽𪚥",
    "emoji": "学习👍🏽党章🇨🇳👨‍👩‍👧",
    "date": "2026-02-30",
}
REFUSAL = re.compile(r'class="(?:msg msg-error|errorlist)[^"]*"[^>]*>\s*(?:<li>)?\s*[^<]*[\u4e00-\u9fff]|<h1>请求有误</h1>')


@pytest.fixture
def org(db, settings, tmp_path):
    from tests.test_limits import branch_with_secretary

    return branch_with_secretary(settings, tmp_path)


def _day(org) -> str:
    return max(org["occ"].period_start, TODAY - dt.timedelta(days=1)).isoformat()


def _record(org, text, date):
    from workflows.models import Occurrence

    url = reverse("occurrence_action", args=[org["occ"].pk, "plan"])
    data = {"planned_date": date or _day(org), "place": "党员活动室", "topic": text or "学习党章"}
    return "sec", url, data, lambda: Occurrence.objects.filter(pk=org["occ"].pk, topic=text).exists() if text else \
        Occurrence.objects.filter(pk=org["occ"].pk, planned_date__isnull=False).exists()


def _ticket(org, text, date):
    from audits.capa import services as capa
    from audits.capa.models import Nonconformity

    if date:  # the ticket's date is its 整改期限, set when the action is planned
        nc = capa.nc_raise(actor=org["adm"], unit=org["b1"], source="spot_check", grade="minor", clause="DJ-CX-02",
                           requirement="每月至少召开1次支委会", evidence="三月无记录")
        capa.nc_acknowledge(nc, actor=org["sec"])
        capa.nc_analyse(nc, actor=org["sec"], why=["为什么"], root_cause="制度缺失")
        data = {"correction": "补开", "corrective_action": "建立制度", "owner": org["m1"][1].pk, "due_date": date}
        return "sec", reverse("nc_action", args=[nc.pk, "plan"]), data, \
            lambda: Nonconformity.objects.filter(pk=nc.pk, due_date__isnull=False).exists()
    data = {"unit": org["b1"].pk, "source": "spot_check", "grade": "minor", "clause": "DJ-CX-02",
            "requirement": "每月至少召开1次支委会", "evidence": text}
    return "adm", reverse("nc_raise"), data, lambda: Nonconformity.objects.filter(evidence=text).exists()


def _member(org, text, date):
    from qms.models import Member
    from tests import factories

    data = {"name": text or "王五", "gender": "M", "id_number": factories.id_number(77), "birth_date": date or "1990-01-01",
            "category": "full", "joined_on": "2015-07-01", "full_on": "2016-07-01", "unit": org["b1"].pk,
            "start": TODAY.isoformat()}
    return "adm", reverse("member_new"), data, lambda: Member.objects.filter(name=text).exists() if text else \
        Member.objects.filter(name="王五").exists()


def _decision(org, text, date):
    from qms.decision_kinds import decision_kinds
    from qms.models import HigherDecision

    kind = next(iter(decision_kinds()))
    data = {"kind": kind, "doc_number": "党委〔2026〕1号", "date": date or TODAY.isoformat(), "decided_by_unit": org["c"].pk,
            "outcome": "approved", "text": text or "同意"}
    return "adm", reverse("decision_add", args=["B1"]), data, lambda: HigherDecision.objects.filter(text=text).exists() if text \
        else HigherDecision.objects.exists()


def _applicant(org, text, date):
    from tests import factories
    from workflows.models import Applicant

    data = {"name": text or "赵六", "gender": "F", "id_number": factories.id_number(88, birth=dt.date(2000, 3, 1)),
            "birth_date": date or "2000-03-01", "applied_on": TODAY.isoformat(), "note": ""}
    return "sec", reverse("recruitment_list") + "?unit=B1", data, lambda: Applicant.objects.filter(name=text).exists() if text \
        else Applicant.objects.filter(name="赵六").exists()


FORMS = {"记录": _record, "问题": _ticket, "党员": _member, "上级批复": _decision, "入党申请": _applicant}


def test_hostile_text_and_dates_are_stored_intact_or_refused_in_chinese_never_a_500(client, org):
    """One organisation for all four values: each value's posts are rolled back before the next."""
    from django.db import transaction

    tried = held = 0
    for value in VALUES:
        with transaction.atomic():
            tried, held = [x + n for x, n in zip((tried, held), _try(client, org, value), strict=True)]
            transaction.set_rollback(True)
    assert tried == held == len(FORMS) * len(VALUES)


def _try(client, org, value) -> tuple[int, int]:
    from qms.models import LedgerEntry

    outcomes = {}
    for label, form in FORMS.items():
        text, date = (None, VALUES[value]) if value == "date" else (VALUES[value], None)
        who, url, data, stored = form(org, text, date)
        client.force_login(org[who])
        seq = LedgerEntry.objects.count()
        resp = client.post(url, data, follow=True)
        body = resp.content.decode()
        assert resp.status_code < 500, (label, value, resp.status_code)
        if stored():
            outcomes[label] = "stored"
            assert LedgerEntry.objects.count() > seq, (label, value)
        else:
            assert REFUSAL.search(body), (label, value, re.findall(r'class="msg[^"]*">[^<]*', body), body[-600:])
            assert LedgerEntry.objects.count() == seq, (label, value)
            outcomes[label] = "refused"
    if value in ("rare", "emoji"):  # ordinary (if unusual) text is kept, not refused
        assert set(outcomes.values()) == {"stored"}, outcomes
    if value in ("long", "date"):
        assert set(outcomes.values()) == {"refused"}, outcomes
    return len(FORMS), len(outcomes)
