"""Objectives and scoring: indicators on a hand-built case, objectives seeded with their sources
and amended with a reason, the scoring scheme with inspectors' scores and the unit ranking, and
the pages of 管理评审, 目标 and 考核 as a user reaches them. The organisation and helpers here are
shared with the management-review tests (``tests/audits/review``)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audits.capa import services as capa
from audits.models import (
    ManagementReview,
    NCState,
    Objective,
    Score,
)
from audits.performance import indicators, scoring
from procedures.library_loader import load_library
from qms import services as core
from qms.models import LedgerEntry, Role, UnitKind
from qms.permissions import NotPermitted
from tests import factories
from workflows.models import DuesPayment, Occurrence, State

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
YEAR = TODAY.year


@pytest.fixture
def org():
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b1 = factories.unit("B1", UnitKind.BRANCH, parent=c, name="第一党支部")
    b2 = factories.unit("B2", UnitKind.BRANCH, parent=c, name="第二党支部")
    b3 = factories.unit("B3", UnitKind.BRANCH, parent=c, name="第三党支部")
    m1 = [factories.member(b1, f"一支{i}") for i in range(3)]
    m2 = [factories.member(b2, f"二支{i}") for i in range(2)]
    sec, admin, b2user = factories.user("sec"), factories.user("admin"), factories.user("b2user")
    core.member_update(m1[0], actor=None, reason="账号", user=sec)
    core.position_assign(actor=None, member=m1[0], unit=b1, title="secretary", start=dt.date(2024, 1, 1))
    core.member_update(m2[0], actor=None, reason="账号", user=b2user)
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=c, valid_from=dt.date(2020, 1, 1))
    return {"c": c, "b1": b1, "b2": b2, "b3": b3, "m1": m1, "m2": m2, "sec": sec, "admin": admin, "b2user": b2user}


def _occurrences(unit, states: list[str], *, due: dt.date) -> None:
    """Occurrences of the branch-meeting rule (DJ-CX-01) with the given states, all due ``due``."""
    from procedures.models import Obligation

    ob = Obligation.objects.get(version__document__code="DJ-CX-01", version__document__owner__isnull=True, version__status="effective")
    for n, state in enumerate(states, start=1):
        Occurrence.objects.create(unit=unit, obligation=ob, obligation_key=ob.key, period_start=due.replace(day=1),
                                  period_end=due, due_date=due, seq=n, state=state)


def _close(org, nc):
    capa.nc_acknowledge(nc, actor=org["sec"])
    capa.nc_analyse(nc, actor=org["sec"], why=["为什么"], root_cause="制度缺失")
    capa.nc_plan(nc, actor=org["sec"], correction="补开", corrective_action="建立制度", owner=org["m1"][1],
                 due_date=TODAY + dt.timedelta(days=5))
    capa.nc_implement(nc, actor=org["sec"], evidence="已补开", done_on=TODAY)
    capa.nc_verify(nc, actor=org["admin"], note="已核实", password="pass-12345")
    return capa.nc_close(nc, actor=org["admin"], password="pass-12345")


def _nc(org, unit, grade="minor"):
    return capa.nc_raise(actor=org["admin"], unit=unit, source="spot_check", grade=grade, clause="DJ-CX-02",
                         requirement="每月召开支委会", evidence="缺记录")


def test_indicators_on_a_hand_built_case(org):
    load_library()
    jan = dt.date(YEAR, 1, 31) if dt.date(YEAR, 2, 1) < TODAY else dt.date(YEAR - 1, 12, 31)
    year = jan.year
    _occurrences(org["b1"], [State.CLOSED, State.CLOSED, State.HELD, State.MISSED], due=jan)   # 3 of 4
    _occurrences(org["b2"], [State.MISSED, State.PLANNED, State.CANCELLED], due=jan)           # 0 of 2 (planned overdue counts)
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    got = indicators.measure("sanhui", [org["c"], org["b1"], org["b2"], org["b3"]], start, end, today=jan + dt.timedelta(days=1))
    assert (got[org["b1"].pk].num, got[org["b1"].pk].den) == (3, 4)
    assert (got[org["b2"].pk].num, got[org["b2"].pk].den) == (0, 2)
    assert got[org["b3"].pk].value is None and got[org["c"].pk].value == round(3 / 6, 4)

    a, b = _nc(org, org["b1"]), _nc(org, org["b1"])
    _nc(org, org["b1"], grade="observation")  # observations are not counted in 整改率
    _close(org, a)
    r = indicators.value("rectification", org["c"], dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31))
    assert (r.num, r.den) == (1, 2) and b.state == NCState.RAISED

    # 党费: b1 has 3 members owing every complete month since joining; pay one member's month on time, one late
    month = (TODAY.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    DuesPayment.objects.create(member=org["m1"][0], month=month, amount=Decimal("10"), paid_on=month + dt.timedelta(days=3), way="cash")
    DuesPayment.objects.create(member=org["m1"][1], month=month, amount=Decimal("10"), paid_on=TODAY.replace(day=1) + dt.timedelta(days=40), way="cash")
    d = indicators.value("dues", org["b1"], month, TODAY.replace(day=1) - dt.timedelta(days=1))
    assert (d.num, d.den) == (1, 3)


def test_objectives_seeded_with_sources_and_amended_with_reason(org):
    objs = scoring.objectives_seed(org["c"], YEAR, actor=org["admin"])
    assert {o.indicator for o in objs} >= {"sanhui", "rectification", "dues"} and all(o.source for o in objs)
    assert len(scoring.objectives_seed(org["c"], YEAR, actor=org["admin"])) == len(objs)  # idempotent
    o = Objective.objects.get(root=org["c"], year=YEAR, indicator="rectification")
    with pytest.raises(ValidationError, match="原因"):
        scoring.objective_set(o, actor=org["admin"], target=Decimal("90"), comparator="ge", reason="")
    with pytest.raises(NotPermitted, match="您无权设定目标和考核方案"):
        scoring.objective_set(o, actor=org["b2user"], target=Decimal("90"), comparator="ge", reason="x")
    scoring.objective_set(o, actor=org["admin"], target=Decimal("90"), comparator="ge", reason="党委会研究调整")
    assert LedgerEntry.objects.filter(action="objective.amend", reason="党委会研究调整").exists()
    nc = _nc(org, org["b1"])
    _close(org, nc)
    _nc(org, org["b2"])
    status = {s.objective.indicator: s for s in scoring.objectives_status(org["c"], YEAR)}
    assert status["rectification"].share.value == 0.5 and status["rectification"].met is False
    o.refresh_from_db()
    assert o.target == 90 and o.met(0.9) is True and o.met(0.899) is False


def test_scoring_scheme_scores_and_ranking(org):
    load_library()
    scheme = scoring.scheme_seed(org["c"], YEAR, actor=org["admin"])
    items = list(scheme.items.all())
    assert sum(i.points for i in items) == 100 and scheme.source.startswith("seed 001")
    manual = [i for i in items if not i.indicator]
    computed = {i.indicator: i for i in items if i.indicator}
    with pytest.raises(ValidationError, match="系统按数据计算"):
        scoring.score_enter(computed["compliance"], org["b1"], "Q1", actor=org["admin"], value=Decimal(1), note="x")
    with pytest.raises(ValidationError, match="得分应在"):
        scoring.score_enter(manual[0], org["b1"], "Q1", actor=org["admin"], value=Decimal(99), note="x")
    with pytest.raises(ValidationError, match="评分说明"):
        scoring.score_enter(manual[0], org["b1"], "Q1", actor=org["admin"], value=Decimal(10), note="")
    with pytest.raises(ValidationError, match="不是本方案的被考核组织"):
        scoring.score_enter(manual[0], org["c"], "Q1", actor=org["admin"], value=Decimal(10), note="x")
    with pytest.raises(ValidationError, match="轮次"):
        scoring.score_enter(manual[0], org["b1"], "Q9", actor=org["admin"], value=Decimal(10), note="x")
    inspector = factories.user("inspector")
    core.member_update(org["m1"][2], actor=None, reason="账号", user=inspector)
    core.role_grant(actor=None, user=inspector, role=Role.ADMIN, unit=org["c"], valid_from=dt.date(2020, 1, 1))
    with pytest.raises(NotPermitted, match="回避"):  # a member of 第一党支部 does not score it
        scoring.score_enter(manual[0], org["b1"], "Y", actor=inspector, value=Decimal(10), note="x")

    q1 = dt.date(YEAR, 2, 15) if dt.date(YEAR, 3, 31) < TODAY else dt.date(YEAR, 1, 1)
    _occurrences(org["b1"], [State.CLOSED, State.MISSED], due=q1)  # b1: 50 % → 20 of 40
    _occurrences(org["b2"], [State.CLOSED, State.CLOSED], due=q1)  # b2: 100 % → 40 of 40
    scoring.score_enter(manual[0], org["b1"], "Y", actor=org["admin"], value=Decimal(15), note="书记带头")
    s = scoring.score_enter(manual[0], org["b1"], "Y", actor=org["admin"], value=Decimal("12.5"), note="复核后调整:述职材料不全")
    assert s.value == Decimal("12.5") and Score.objects.count() == 1
    assert LedgerEntry.objects.filter(action="score.amend", reason="复核后调整:述职材料不全").exists()

    _, rows = scoring.ranking(scheme, "Y", today=dt.date(YEAR, 12, 31))
    by = {r.unit.code: r for r in rows}
    comp_col = items.index(computed["compliance"])
    assert by["B1"].cells[comp_col][0] == Decimal("20.0") and by["B2"].cells[comp_col][0] == Decimal("40.0")
    assert by["B3"].cells[comp_col][0] == Decimal("40")  # nothing due: no deduction
    assert by["B1"].pending == len(manual) - 1 and by["B2"].pending == len(manual)
    dues_col = items.index(computed["dues"])
    assert by["B1"].cells[dues_col][0] == Decimal("0.0") and by["B3"].cells[dues_col][0] == Decimal("10")  # B3 has no members
    # 整改 full everywhere (nothing raised); B1 = 20 + 15 + 0 + 12.5, B2 = 40 + 15 + 0, B3 = 40 + 15 + 10
    assert (by["B1"].total, by["B2"].total, by["B3"].total) == (Decimal("47.5"), Decimal("55.0"), Decimal("65"))
    assert [(r.unit.code, r.rank) for r in rows] == [("B3", 1), ("B2", 2), ("B1", 3)]
    scoring.score_enter(manual[1], org["b1"], "Y", actor=org["admin"], value=Decimal("7.5"), note="党员作用发挥一般")
    _, rows = scoring.ranking(scheme, "Y", today=dt.date(YEAR, 12, 31))
    assert [(r.unit.code, r.rank) for r in rows] == [("B3", 1), ("B1", 2), ("B2", 2)]  # ties share a rank

    # query count does not grow with the number of units
    with CaptureQueriesContext(connection) as few:
        scoring.ranking(scheme, "Y")
    for i in range(6):
        factories.unit(f"X{i}", UnitKind.BRANCH, parent=org["c"], name=f"新支部{i}")
    with CaptureQueriesContext(connection) as many:
        _, rows = scoring.ranking(scheme, "Y")
    assert len(rows) == 9 and len(many.captured_queries) == len(few.captured_queries)

    with pytest.raises(ValidationError, match="已有评分"):
        scoring.item_remove(manual[0], actor=org["admin"], reason="合并")
    scoring.item_update(manual[1], actor=org["admin"], title=manual[1].title, points=Decimal(10), indicator="", reason="调整权重")
    extra = scoring.item_add(scheme, actor=org["admin"], title="明察暗访", points=Decimal(5))
    scoring.item_remove(extra, actor=org["admin"], reason="本年度不开展")
    assert LedgerEntry.objects.filter(action="scheme.item_remove", after__isnull=True).exists()


def test_review_scoring_and_objectives_pages(client, org):
    load_library()
    client.force_login(org["admin"])
    r = client.post(reverse("review_list"), {"planned_on": TODAY.isoformat(), "chair": org["admin"].pk, "title": ""})
    rev = ManagementReview.objects.get()
    assert r.status_code == 302 and rev.title.startswith("测试党委")
    client.post(reverse("review_action", args=[rev.pk, "gather"]))
    page = client.get(reverse("review_detail", args=[rev.pk])).content.decode()
    assert "评审输入" in page and "整改率" in page
    client.post(reverse("review_action", args=[rev.pk, "hold"]), {"held_on": TODAY.isoformat(), "attendees": "委员", "minutes": "记录",
                                                                  "conclusion": "有效"})
    client.post(reverse("review_action", args=[rev.pk, "decision"]), {"kind": "improvement", "text": "加强党员教育", "unit": org["b1"].pk})
    rev.refresh_from_db()
    assert rev.state == "held" and rev.decisions.count() == 1
    assert "加强党员教育" in client.get(reverse("nc_register")).content.decode()
    # bad input is refused in Chinese and nothing is saved
    body = client.post(reverse("review_action", args=[rev.pk, "decision"]), {"kind": "improvement", "text": "", "unit": org["b1"].pk},
                       follow=True).content.decode()
    assert "请填写决定内容" in body and rev.decisions.count() == 1
    far = factories.unit("Y", UnitKind.COMMITTEE, name="远方党委")  # outside the admin's scope
    body = client.post(reverse("review_action", args=[rev.pk, "decision"]), {"kind": "improvement", "text": "措施", "unit": far.pk},
                       follow=True).content.decode()
    assert "责任组织不在本人范围内" in body and "远方党委" not in body and rev.decisions.count() == 1

    client.post(reverse("objectives"), {"action": "seed", "year": YEAR})
    page = client.get(reverse("objectives") + f"?year={YEAR}").content.decode()
    assert "问题整改率" in page and "<svg" in page
    client.post(reverse("scoring"), {"action": "seed", "year": YEAR})
    scheme = scoring.ScoringScheme.objects.get()
    manual = scheme.items.filter(indicator="").first()
    client.post(reverse("scoring"), {"action": "score", "year": YEAR, "period": "Y", "item": manual.pk, "unit": org["b2"].pk,
                                     "value": "14", "note": "书记述职好"})
    assert Score.objects.get().value == Decimal(14)
    elsewhere = factories.unit("X", UnitKind.COMMITTEE, name="别的单位党委")  # not under this committee
    body = client.post(reverse("scoring"), {"action": "score", "year": YEAR, "period": "Y", "item": manual.pk, "unit": elsewhere.pk,
                                            "value": "10", "note": "查询"}, follow=True).content.decode()
    assert "该组织不是本方案的被考核组织" in body and "别的单位党委" not in body  # an id outside one's scope is never named
    page = client.get(reverse("scoring") + f"?year={YEAR}&period=Y").content.decode()
    assert "第二党支部" in page and "排名" in page
    home = client.get("/").content.decode()
    assert "考核排名" in home and "整改率" in home or "考核排名" in home
