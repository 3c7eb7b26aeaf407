"""党费: rates as data, the ledger, the 6-month arrears rule, notification, and removal only
with the higher organisation's approval (issue 4 §4)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from qms import ledger
from qms import services as core
from qms.models import MemberStatus, Notification, UnitKind
from qms.permissions import NotPermitted
from tests import factories
from workflows import dues
from workflows.models import DuesPayment

pytestmark = pytest.mark.django_db
D = dt.date


def test_rate_table():
    assert dues.dues_for(Decimal("3000")) == Decimal("15.00")
    assert dues.dues_for(Decimal("4000")) == Decimal("40.00")
    assert dues.dues_for(Decimal("8000")) == Decimal("120.00")
    assert dues.dues_for(Decimal("12000")) == Decimal("240.00")
    assert "中组发〔2008〕3号" in dues.table()["source"]


@pytest.fixture
def org():
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b = factories.unit("B", UnitKind.BRANCH, parent=c, name="第一党支部")
    ms = [factories.member(b, f"党员{i}", start=D(2020, 1, 1)) for i in range(3)]
    sec, up = factories.user("sec"), factories.user("up")
    core.member_update(ms[0], actor=None, reason="账号", user=sec)
    core.position_assign(actor=None, member=ms[0], unit=b, title="secretary", start=D(2024, 1, 1))
    upm = factories.member(factories.unit("CB", UnitKind.BRANCH, parent=c, name="机关支部"), "党委书记")
    core.member_update(upm, actor=None, reason="账号", user=up)
    core.position_assign(actor=None, member=upm, unit=c, title="secretary", start=D(2024, 1, 1))
    return {"c": c, "b": b, "ms": ms, "sec": sec, "up": up}


def _pay(org, member, month):
    return dues.dues_record(member, actor=org["sec"], month=month, paid_on=month, way="transfer", income=Decimal("6000"))


def test_six_consecutive_unpaid_months_flag_and_notify(org):
    today = D(2026, 11, 15)  # last complete month: October; window May–October
    a, b_, c_ = org["ms"]
    for m in range(5, 11):
        _pay(org, a, D(2026, m, 1))
    _pay(org, b_, D(2026, 7, 1))  # one payment in the window: not 6 consecutive
    flagged = {x["member"].name for x in dues.arrears(org["b"], as_of=today)}
    assert flagged == {"党员2"}
    dues.notify_arrears(org["c"], as_of=today)
    sent = Notification.objects.filter(key=f"arrears:{c_.pk}:202610")
    assert {n.user for n in sent} == {org["sec"], org["up"]}  # branch secretary + committee secretary
    assert dues.notify_arrears(org["c"], as_of=today) == 0  # once per member and month


def test_new_members_are_not_flagged_before_six_months(org):
    new = factories.member(org["b"], "新党员", start=D(2026, 9, 1), joined_on=D(2026, 8, 20), category="probationary")
    assert new.pk not in {x["member"].pk for x in dues.arrears(org["b"], as_of=D(2026, 11, 15))}


def test_bad_dues_input(org):
    _pay(org, org["ms"][0], D(2026, 5, 1))
    with pytest.raises(ValidationError, match="已登记"):
        _pay(org, org["ms"][0], D(2026, 5, 20))
    with pytest.raises(ValidationError, match="金额或税后月收入"):
        dues.dues_record(org["ms"][1], actor=org["sec"], month=D(2026, 5, 1), paid_on=D(2026, 5, 3), way="cash")
    activist = factories.member(org["b"], "积极分子", category="activist")
    with pytest.raises(ValidationError, match="不是在册党员"):
        _pay(org, activist, D(2026, 5, 1))


def test_removal_needs_the_higher_organisations_approval(org, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a, **k: D(2026, 11, 15))
    target = org["ms"][2]
    _pay(org, org["ms"][0], D(2026, 9, 1))
    with pytest.raises(ValidationError, match="未达到"):
        dues.removal_request(org["ms"][0], actor=org["sec"], reason="试")
    req = dues.removal_request(target, actor=org["sec"], reason="多次催缴无果")
    with pytest.raises(NotPermitted, match="上级组织"):
        dues.removal_decide(req, actor=org["sec"], approve=True)
    dues.removal_decide(req, actor=org["up"], approve=True, note="同意")
    target.refresh_from_db()
    assert target.status == MemberStatus.REMOVED and target.current_membership() is None
    assert ledger.verify().ok


def test_dues_page(client, org):
    client.force_login(org["sec"])
    r = client.post(reverse("dues_page") + "?unit=B", {"action": "pay", "member": org["ms"][1].pk, "month": "2026-05",
                                                        "income": "4000", "paid_on": "2026-05-03", "way": "cash"})
    assert r.status_code == 302
    assert DuesPayment.objects.get(member=org["ms"][1]).amount == Decimal("40.00")
    body = client.get(reverse("dues_page"), {"unit": "B"}).content.decode()
    assert "40.00" in body and "登记党费" in body
