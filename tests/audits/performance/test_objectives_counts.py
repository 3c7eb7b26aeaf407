"""Count targets (H21): an objective may aim at a number of things on the yearly form (seed 004
篇5 items are counts: 上党课 4 次, 报告会 ≤ 3 场), counted from the records or entered by hand, as
well as at a 0–100 rate. Set for one organisation; another keeps only its rate objectives."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from audits.models import Objective
from audits.performance import annual, scoring
from procedures.library_loader import load_library
from qms import services as core
from qms.models import LedgerEntry, Role, UnitKind
from tests import factories
from workflows.models import Occurrence, State

pytestmark = pytest.mark.django_db
YEAR = 2025


@pytest.fixture
def two():
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b = factories.unit("B1", UnitKind.BRANCH, parent=c, name="第一党支部")
    c2 = factories.unit("C2", UnitKind.COMMITTEE, name="另一党委")
    admin = factories.user("admin")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=c, valid_from=dt.date(2020, 1, 1))
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=c2, valid_from=dt.date(2020, 1, 1))
    return {"c": c, "b": b, "c2": c2, "admin": admin}


def _lectures(unit, n: int, start: int = 0) -> None:
    """``n`` 党课 (DJ-CX-04) held in the year."""
    from procedures.models import Obligation

    ob = Obligation.objects.filter(version__document__code="DJ-CX-04", version__document__owner__isnull=True,
                                   version__status="effective").first()
    for i in range(start, start + n):
        day = dt.date(YEAR, 1 + i, 10)
        Occurrence.objects.create(unit=unit, obligation=ob, obligation_key=ob.key, period_start=day.replace(day=1),
                                  period_end=day, due_date=day, seq=i + 1, state=State.HELD, held_on=day)


def _status(root):
    return {s.objective.indicator: s for s in scoring.objectives_status(root, YEAR)}


def test_a_count_target_on_an_item_counted_from_the_records(two):
    admin = two["admin"]
    o = scoring.objective_add_count(two["c"], YEAR, actor=admin, item="lectures", comparator="ge", count=Decimal(4),
                                    source="本党委年度工作要点第2条")
    assert o.title.endswith("上党课≥4次") and o.count_key == "lectures" and o.source == "本党委年度工作要点第2条"
    assert LedgerEntry.objects.filter(action="objective.add").count() == 1
    _lectures(two["b"], 3)
    s = _status(two["c"])["count:lectures"]
    assert (s.met, s.share.value, s.share.text(), s.target_text) == (False, 0.75, "3次(目标 4次)", "≥4次")
    _lectures(two["b"], 1, start=3)
    assert _status(two["c"])["count:lectures"].met is True

    with pytest.raises(ValidationError, match="原因"):
        scoring.objective_set(o, actor=admin, target=Decimal(5), comparator="ge", reason="")
    with pytest.raises(ValidationError, match="大于 0"):
        scoring.objective_set(o, actor=admin, target=Decimal(0), comparator="ge", reason="调整")
    o = scoring.objective_set(o, actor=admin, target=Decimal(6), comparator="ge", reason="党委会提高要求")
    assert o.count_target == 6 and o.title.endswith("上党课≥6次") and o.target == 100
    s = _status(two["c"])["count:lectures"]
    assert s.met is False and s.share.text() == "4次(目标 6次)"
    rate = next(o for o in scoring.objectives_seed(two["c"], YEAR, actor=admin) if not o.count_key)
    with pytest.raises(ValidationError, match="0–100"):  # a rate stays a percentage
        scoring.objective_set(rate, actor=admin, target=Decimal(120), comparator="ge", reason="x")

    scoring.objectives_seed(two["c2"], YEAR, actor=admin)
    assert not any(s.objective.count_key for s in scoring.objectives_status(two["c2"], YEAR))  # elsewhere: rates only


def test_a_count_target_on_a_hand_entered_item_and_what_is_refused(two):
    admin = two["admin"]
    with pytest.raises(ValidationError, match="数量项目"):
        scoring.objective_add_count(two["c"], YEAR, actor=admin, item="central_study_rate", comparator="ge", count=Decimal(90), source="x")
    with pytest.raises(ValidationError, match="大于 0"):
        scoring.objective_add_count(two["c"], YEAR, actor=admin, item="reports", comparator="le", count=Decimal(0), source="x")
    with pytest.raises(ValidationError, match="两位小数"):
        scoring.objective_add_count(two["c"], YEAR, actor=admin, item="reports", comparator="le", count=Decimal("2.005"), source="x")
    with pytest.raises(ValidationError, match="依据"):
        scoring.objective_add_count(two["c"], YEAR, actor=admin, item="reports", comparator="le", count=Decimal(3), source=" ")
    scoring.objective_add_count(two["c"], YEAR, actor=admin, item="reports", comparator="le", count=Decimal(3), source="本党委精文简会规定")
    with pytest.raises(ValidationError, match="已有"):
        scoring.objective_add_count(two["c"], YEAR, actor=admin, item="reports", comparator="ge", count=Decimal(1), source="x")
    s = _status(two["c"])["count:reports"]
    assert s.met is None and s.share.text() == "—(年度统计尚未填报)"
    annual.enter(two["c"], YEAR, "reports", actor=admin, value="2")
    s = _status(two["c"])["count:reports"]
    assert s.met is True and s.target_text == "≤3场" and s.share.text() == "2场(目标 3场)"
    annual.enter(two["c"], YEAR, "reports", actor=admin, value="5", note="补登")
    assert _status(two["c"])["count:reports"].met is False


def test_the_objectives_page_adds_and_shows_a_count_target(client, two):
    client.force_login(two["admin"])
    url = reverse("objectives") + f"?year={YEAR}"
    page = client.get(url).content.decode()
    assert "增加数量目标" in page and "举办报告会,参加人次:参加(人次)" in page and 'value="central_study_rate"' not in page  # a percentage is no count
    r = client.post(url, {"action": "add_count", "year": YEAR, "item": "lectures", "comparator": "ge", "count": "4",
                          "source": "本党委年度工作要点"}, follow=True)
    body = r.content.decode()
    assert "已设定目标" in body and "≥4次" in body and "0次(目标 4次)" in body and "未达成" in body
    o = Objective.objects.get(root=two["c"], indicator="count:lectures")
    client.post(url, {"action": "amend", "year": YEAR, "objective": o.pk, "comparator": "ge", "target": "2", "reason": "调整"})
    o.refresh_from_db()
    assert o.count_target == 2
    bad = client.post(url, {"action": "add_count", "year": YEAR, "item": "lectures", "comparator": "ge", "count": "abc",
                            "source": "x"}, follow=True).content.decode()
    assert "请填写有效的目标值" in bad


def test_a_count_target_reads_right_where_objectives_are_shown_as_shares(two):
    """The home panel and the evidence pack print objectives as shares (实际 ÷ 目标, ≥ 100 %)."""
    scoring.objective_add_count(two["c"], YEAR, actor=two["admin"], item="lectures", comparator="ge", count=Decimal(4), source="要点")
    _lectures(two["b"], 3)
    s = _status(two["c"])["count:lectures"]
    assert (s.share.percent, s.share.num, s.share.den) == ("75.0%", 3, 4) and f"{s.objective.target}%" == "100.0%"
