"""党费 as one source of truth: the monthly 按月收缴党费 occurrence is fulfilled by the dues
ledger (every member owing that month paid, or a justified non-payment recorded), not by an
attendance list; short payments are shown against the rate table; a justified month is no
arrears; the 党费 indicator counts full payments only."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from audits.performance import indicators
from procedures.library_loader import load_library
from qms import ledger
from qms import services as core
from qms.models import UnitKind
from tests import factories
from workflows import dues, services
from workflows.models import DuesNonPayment, DuesPayment, Occurrence, State
from workflows.scheduler import schedule

pytestmark = pytest.mark.django_db
D = dt.date
TODAY = timezone.localdate()
MONTH = TODAY.replace(day=1)


@pytest.fixture
def org(db):
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b = factories.unit("B", UnitKind.BRANCH, parent=c, name="第一党支部")
    other = factories.unit("B2", UnitKind.BRANCH, parent=c, name="第二党支部")
    ms = [factories.member(b, f"党员{i}", start=D(2020, 1, 1)) for i in range(4)]
    sec, clerk = factories.user("sec"), factories.user("clerk")
    core.member_update(ms[0], actor=None, reason="账号", user=sec)
    core.member_update(ms[1], actor=None, reason="账号", user=clerk)
    core.position_assign(actor=None, member=ms[0], unit=b, title="secretary", start=D(2024, 1, 1))
    core.position_assign(actor=None, member=ms[1], unit=b, title="organization", start=D(2024, 1, 1))
    stranger = factories.member(other, "外支部党员", start=D(2020, 1, 1))
    schedule(today=TODAY)
    occ = Occurrence.objects.get(unit=b, obligation_key="party_dues_collection", period_start=MONTH)
    return {"b": b, "ms": ms, "sec": sec, "clerk": clerk, "occ": occ, "stranger": stranger}


def _plan(org):
    occ = org["occ"]
    services.occurrence_plan(occ, actor=org["clerk"], planned_date=TODAY, place="党员活动室", topic="收缴本月党费")
    services.record_save(occ, actor=org["clerk"], elements={"month": MONTH.isoformat()})
    return occ


def _collect(org, rows):
    return dues.dues_collect(org["b"], actor=org["clerk"], month=MONTH, paid_on=TODAY, way="transfer", rows=rows)


def test_the_collection_rule_is_library_data_with_a_citation(org):
    form = org["occ"].obligation.form
    field = form.fields.get(key="payments")
    assert (form.code, form.version, field.type, field.required) == ("DJ-JL-07", "B", "dues", True)
    assert "seed 001 三(二)7" in field.help_text and "seed 001 三(二)7" in form.source
    assert services.dues_month(org["occ"]) == MONTH


def test_submit_check_and_close_refused_until_every_member_is_settled(org):
    occ, ms = _plan(org), org["ms"]
    with pytest.raises(ValidationError, match=r"还有 4 人既未交纳党费、也未登记未交的正当理由:党员0、党员1、党员2、党员3"):
        services.record_submit(occ, actor=org["clerk"], held_on=TODAY)
    rec = occ.record
    assert "党员交纳明细" in services.missing_elements(rec)
    # the ledger fulfils it, several members in one step
    assert _collect(org, {ms[0].pk: {"income": "6000"}, ms[1].pk: {"income": "4000"}}) == {"paid": 2, "excused": 0}
    with pytest.raises(ValidationError, match=r"还有 2 人.*:党员2、党员3'\]$"):
        services.record_submit(occ, actor=org["clerk"], held_on=TODAY)
    assert _collect(org, {ms[2].pk: {"reason": "家庭经济困难,经党委批准免交"}, ms[3].pk: {"income": "8000", "amount": "100"}}) == {
        "paid": 1, "excused": 1}
    assert services.missing_elements(rec) == []
    services.record_submit(occ, actor=org["clerk"], held_on=TODAY)
    # someone joins the roll before the check: the check refuses and names them
    late = factories.member(org["b"], "新转入党员", start=MONTH)
    with pytest.raises(ValidationError, match="还有 1 人.*新转入党员"):
        services.record_check(occ, actor=org["sec"], password="pass-12345")
    _collect(org, {late.pk: {"amount": "30"}})
    services.record_check(occ, actor=org["sec"], password="pass-12345")
    later = factories.member(org["b"], "又一名党员", start=MONTH)
    with pytest.raises(ValidationError, match="还有 1 人.*又一名党员"):
        services.occurrence_close(occ, actor=org["clerk"])
    dues.dues_excuse(later, actor=org["clerk"], month=MONTH, reason="组织关系转接中,本月已在原支部交纳")
    services.occurrence_close(occ, actor=org["clerk"])
    occ.refresh_from_db()
    assert occ.state == State.CLOSED
    assert ledger.verify().ok


def test_batch_is_all_or_nothing_and_names_no_outsider(org):
    ms = org["ms"]
    with pytest.raises(ValidationError) as exc:
        _collect(org, {ms[0].pk: {"income": "6000"}, ms[1].pk: {"amount": "abc"}, org["stranger"].pk: {"income": "5000"}})
    text = ";".join(exc.value.messages)
    assert "党员1:金额应为数字" in text and "有人员不在第一党支部" in text and "外支部党员" not in text
    assert not DuesPayment.objects.exists()
    with pytest.raises(ValidationError, match="正当理由"):
        dues.dues_excuse(ms[0], actor=org["clerk"], month=MONTH, reason=" ")
    _collect(org, {ms[0].pk: {"income": "6000"}})
    with pytest.raises(ValidationError, match="已登记交纳"):
        dues.dues_excuse(ms[0], actor=org["clerk"], month=MONTH, reason="免交")
    dues.dues_excuse(ms[1], actor=org["clerk"], month=MONTH, reason="经批准免交")
    with pytest.raises(ValidationError, match="未交\\(有正当理由\\)"):
        dues.dues_record(ms[1], actor=org["clerk"], month=MONTH, paid_on=TODAY, way="cash", amount=Decimal("10"))


def test_month_table_and_pages_show_short_payments(client, org):
    occ, ms = _plan(org), org["ms"]
    _collect(org, {ms[0].pk: {"income": "6000"}, ms[1].pk: {"income": "8000", "amount": "100"},
                   ms[2].pk: {"reason": "经批准免交"}})
    rows = {r.member.name: r for r in dues.month_table(org["b"], MONTH)}
    assert (rows["党员0"].due, rows["党员0"].status) == (Decimal("90.00"), "足额")
    assert (rows["党员1"].due, rows["党员1"].short, rows["党员1"].status) == (Decimal("120.00"), Decimal("20.00"), "少交")
    assert rows["党员2"].status == "未交(有正当理由)" and rows["党员3"].status == "未交"
    client.force_login(org["sec"])
    body = client.get(reverse("occurrence_detail", args=[occ.pk])).content.decode()
    assert "党费交纳明细" in body and "少交 20.00 元" in body and "未交且未登记理由 1 人" in body and "经批准免交" in body
    assert "出席情况" not in body  # the attendance list is not this record's element any more
    ledger_page = client.get(reverse("dues_page"), {"unit": "B"}).content.decode()
    assert "100.00 少交20.00" in ledger_page and "按比例应交 120.00 元" in ledger_page


def test_the_occurrence_page_records_several_members_in_one_submit(client, org):
    occ, ms = _plan(org), org["ms"]
    client.force_login(org["clerk"])
    r = client.post(reverse("occurrence_action", args=[occ.pk, "dues"]), {
        "paid_on": TODAY.isoformat(), "way": "cash", f"i_{ms[0].pk}": "6000", f"i_{ms[1].pk}": "4000",
        f"a_{ms[2].pk}": "12", f"x_{ms[3].pk}": "经批准免交", f"i_{org['stranger'].pk}": ""})
    assert r.status_code == 302
    assert sorted(DuesPayment.objects.values_list("member__name", "amount")) == [
        ("党员0", Decimal("90.00")), ("党员1", Decimal("40.00")), ("党员2", Decimal("12.00"))]
    assert DuesNonPayment.objects.get().member == ms[3]
    assert services.dues_unsettled(occ) == []
    services.record_submit(occ, actor=org["clerk"], held_on=TODAY)


def test_a_justified_month_is_no_arrears_and_the_indicator_counts_full_payments(org):
    ms, b = org["ms"], org["b"]
    ms.append(factories.member(b, "党员4", start=D(2020, 1, 1)))
    as_of = D(2026, 11, 15)
    for m in range(5, 11):
        month = D(2026, m, 1)
        dues.dues_excuse(ms[0], actor=None, month=month, reason="经批准免交")
        dues.dues_record(ms[1], actor=None, month=month, paid_on=month, way="cash", income=Decimal("6000"))
        dues.dues_record(ms[2], actor=None, month=month, paid_on=month, way="cash", income=Decimal("6000"), amount=Decimal("50"))
        # 党员4 gives the income once, then only the old amount: judged by the last income known
        dues.dues_record(ms[4], actor=None, month=month, paid_on=month, way="cash",
                         **({"income": Decimal("6000")} if m == 5 else {"amount": Decimal("80")}))
    assert [a["member"].name for a in dues.arrears(b, as_of=as_of)] == ["党员3"]
    share = indicators.value("dues", b, D(2026, 5, 1), D(2026, 10, 31), today=as_of)
    # owed: 党员1–4 × 6 months (党员0 excused); full and on time: 党员1's six and 党员4's May
    assert (share.num, share.den) == (7, 24)
    rows = {r.member.name: r for r in dues.month_table(b, D(2026, 8, 1))}
    assert (rows["党员4"].due, rows["党员4"].short, rows["党员3"].due) == (Decimal("90.00"), Decimal("10.00"), None)
