"""The assessment's rules as data: the rounds (seed 001 四(三)) and the kinds of unit scored are
the scheme's own, copied from the cited defaults; what 按月 means for dues and what an item with
nothing due earns are organisation rules. Each is changed for one organisation here, and the
behaviour changes there while the default holds in another organisation."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from audits.models import Score, ScoringScheme
from audits.performance import indicators, scoring
from procedures.library_loader import load_library
from qms import services as core
from qms.models import LedgerEntry, Role, UnitKind
from qms.rules import defaults
from tests import factories
from tests.audits.performance.test_objectives_scoring import _occurrences, org  # noqa: F401  (fixture and helper)
from workflows.models import DuesPayment, State

pytestmark = pytest.mark.django_db
YEAR = 2025
LATE = dt.date(YEAR, 12, 31)  # "today" for the rankings: every round of the year is past

OTHER_CYCLE = [("第一次督查", 1, 4), ("第二次督查", 5, 8), ("第三次督查", 9, 12), ("年度考核", 1, 12)]


@pytest.fixture
def other():
    """A second committee with one branch of one member: the defaults must hold here."""
    c2 = factories.unit("C2", UnitKind.COMMITTEE, name="另一党委")
    b = factories.unit("C2B1", UnitKind.BRANCH, parent=c2, name="另一党委第一支部")
    admin = factories.user("admin2")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=c2, valid_from=dt.date(2020, 1, 1))
    return {"c": c2, "b": b, "m": factories.member(b, "另一党员"), "admin": admin}


def _compliance_col(items):
    return next(n for n, i in enumerate(items) if i.indicator == "compliance")


# ------------------------------------------------------------------------------- H8 rounds


def test_rounds_are_the_schemes_data_cited_to_seed_001(org):  # noqa: F811  (the fixture imported above)
    scheme = scoring.scheme_seed(org["c"], YEAR, actor=org["admin"])
    spec = indicators.rules()["scheme"]
    assert [r["name"] for r in scheme.rounds] == [r["name"] for r in spec["rounds"]]
    assert scoring.scheme_rounds(scheme) == {"Q1": "一季度督查", "Q2": "二季度督查", "Q3": "三季度督查", "Q4": "四季度督查",
                                             "H1": "上半年考核", "H2": "下半年考核", "Y": "全年点评"}
    assert scheme.rounds_source.startswith("seed 001 四(三)") and "季度督查、半年考核、全年点评" in scheme.rounds_source
    assert scoring.round_dates(scheme, "Q2") == (dt.date(YEAR, 4, 1), dt.date(YEAR, 6, 30))
    assert scoring.round_dates(scheme, "H2") == (dt.date(YEAR, 7, 1), dt.date(YEAR, 12, 31))
    assert scoring.scheme_rounds(None) == scoring.scheme_rounds(scheme)  # before a scheme exists: the defaults


def test_an_organisation_sets_its_own_cycle_and_the_ranking_follows(org, other):  # noqa: F811  (the fixture imported above)
    load_library()
    mine = scoring.scheme_seed(org["c"], YEAR, actor=org["admin"])
    theirs = scoring.scheme_seed(other["c"], YEAR, actor=other["admin"])
    with pytest.raises(ValidationError, match="原因"):
        scoring.scheme_rounds_set(mine, actor=org["admin"], rounds=OTHER_CYCLE, source="本党委考核办法第3条", reason="")
    with pytest.raises(ValidationError, match="依据"):
        scoring.scheme_rounds_set(mine, actor=org["admin"], rounds=OTHER_CYCLE, source=" ", reason="党委会决定")
    with pytest.raises(ValidationError, match="全年"):
        scoring.scheme_rounds_set(mine, actor=org["admin"], rounds=OTHER_CYCLE[:3], source="办法", reason="决定")
    with pytest.raises(ValidationError, match="月份应在"):
        scoring.scheme_rounds_set(mine, actor=org["admin"], rounds=[*OTHER_CYCLE, ("倒置", 5, 2)], source="办法", reason="决定")
    with pytest.raises(ValidationError, match="重复"):
        scoring.scheme_rounds_set(mine, actor=org["admin"], rounds=[*OTHER_CYCLE, ("全年点评", 1, 12)], source="办法", reason="决定")

    mine = scoring.scheme_rounds_set(mine, actor=org["admin"], rounds=OTHER_CYCLE, source="本党委考核办法第3条", reason="党委会决定")
    assert scoring.scheme_rounds(mine) == {"M1-4": "第一次督查", "M5-8": "第二次督查", "M9-12": "第三次督查", "Y": "年度考核"}
    assert mine.rounds_source == "本党委考核办法第3条"
    assert LedgerEntry.objects.filter(action="scheme.update", reason="党委会决定").exists()
    assert "Q1" in scoring.scheme_rounds(theirs)  # the other organisation keeps the seed's cycle

    # an April meeting missed by 第一党支部 counts in the 1–4 round, not in a first quarter
    _occurrences(org["b1"], [State.CLOSED, State.MISSED], due=dt.date(YEAR, 4, 20))
    items, rows = scoring.ranking(mine, "M1-4", today=LATE)
    by = {r.unit.code: r for r in rows}
    col = _compliance_col(items)
    assert by["B1"].cells[col][0] == Decimal("20.0") and by["B1"].cells[col][1].startswith("50.0%")
    with pytest.raises(ValidationError, match="轮次"):
        scoring.ranking(mine, "Q1", today=LATE)
    manual = next(i for i in items if not i.indicator)
    with pytest.raises(ValidationError, match="轮次"):
        scoring.score_enter(manual, org["b1"], "Q1", actor=org["admin"], value=Decimal(5), note="督查")
    scoring.score_enter(manual, org["b1"], "M1-4", actor=org["admin"], value=Decimal(5), note="第一次督查:查阅记录")
    assert Score.objects.get().period == "M1-4"

    # a scored round may be renamed but not dropped or moved
    renamed = [("一至四月督查", 1, 4), *OTHER_CYCLE[1:]]
    mine = scoring.scheme_rounds_set(mine, actor=org["admin"], rounds=renamed, source="本党委考核办法第3条", reason="改名")
    assert scoring.scheme_rounds(mine)["M1-4"] == "一至四月督查"
    with pytest.raises(ValidationError, match="已有评分"):
        scoring.scheme_rounds_set(mine, actor=org["admin"], rounds=[("一至五月督查", 1, 5), *OTHER_CYCLE[1:]],
                                  source="办法", reason="调整")


def test_the_scoring_page_offers_the_organisations_rounds(client, org, other):  # noqa: F811  (the fixture imported above)
    load_library()
    client.force_login(org["admin"])
    url = reverse("scoring")
    client.post(url, {"action": "seed", "year": YEAR})
    page = client.get(url + f"?year={YEAR}").content.decode()
    assert "全年点评" in page and "一季度督查" in page and "季度督查、半年考核、全年点评" in page
    form = {"action": "rounds", "year": YEAR, "source": "本党委考核办法第3条", "reason": "党委会决定",
            "round_name": [n for n, _a, _b in OTHER_CYCLE] + [""], "round_from": [str(a) for _n, a, _b in OTHER_CYCLE] + [""],
            "round_to": [str(b) for _n, _a, b in OTHER_CYCLE] + [""]}
    r = client.post(url, form, follow=True)
    assert "考核轮次已修改" in r.content.decode()
    page = client.get(url + f"?year={YEAR}&period=M5-8").content.decode()
    assert "第二次督查" in page and "年度考核" in page and "一季度督查" not in page and "本党委考核办法第3条" in page
    assert client.get(url + f"?year={YEAR}&period=Q1").status_code == 400  # no such round here any more
    bad = client.post(url, {**form, "round_from": ["x", "5", "9", "1", ""]}, follow=True).content.decode()
    assert "请填写起止月份" in bad
    assert "第一次督查" in scoring.scheme_rounds(ScoringScheme.objects.get(root=org["c"], year=YEAR)).values()

    client.force_login(other["admin"])
    client.post(url, {"action": "seed", "year": YEAR})
    assert "一季度督查" in client.get(url + f"?year={YEAR}&unit={other['c'].code}").content.decode()


# -------------------------------------------------------------------------------- H9 按月


def test_dues_pay_by_day_is_an_organisation_rule(org, other):  # noqa: F811  (the fixture imported above)
    rule = defaults()["dues_pay_by_day"]
    assert rule.value == 31 and "中组发〔2008〕3号" in rule.source and "本系统默认" in rule.source
    month, today = dt.date(YEAR, 3, 1), dt.date(YEAR, 5, 1)
    for m in (org["m1"][0], other["m"]):  # paid in full on the 20th of the month
        DuesPayment.objects.create(member=m, month=month, amount=Decimal("10"), paid_on=dt.date(YEAR, 3, 20), way="cash")
    march = (month, dt.date(YEAR, 3, 31))

    def paid(unit):
        s = indicators.value("dues", unit, *march, today=today)
        return s.num, s.den

    assert paid(org["b1"]) == (1, 3) and paid(other["b"]) == (1, 1)  # by the month's last day: on time
    core.policy_override_set(actor=None, unit=org["c"], key="dues_pay_by_day", value=15, source="本党委:每月15日主题党日交纳党费")
    assert paid(org["b1"]) == (0, 3)  # after the 主题党日: not 按月
    assert paid(other["b"]) == (1, 1)  # the default holds elsewhere
    core.policy_override_set(actor=None, unit=org["b1"], key="dues_pay_by_day", value=20, source="本支部:每月20日交纳")
    assert paid(org["b1"]) == (1, 3)  # the nearest organisation's rule wins
    assert indicators.pay_by(dt.date(YEAR, 2, 1), 31) == dt.date(YEAR, 2, 28)


# ----------------------------------------------------------------- H10 units and nothing due


def test_nothing_due_earns_what_the_rule_says(org, other):  # noqa: F811  (the fixture imported above)
    load_library()
    rule = defaults()["scoring_nothing_due_percent"]
    assert rule.value == 100 and rule.source.startswith("本系统默认")
    mine = scoring.scheme_seed(org["c"], YEAR, actor=org["admin"])
    theirs = scoring.scheme_seed(other["c"], YEAR, actor=other["admin"])
    core.policy_override_set(actor=None, unit=org["c"], key="scoring_nothing_due_percent", value=0, source="本党委考核办法:无事项不得分")
    items, rows = scoring.ranking(mine, "Y", today=LATE)
    col = _compliance_col(items)
    assert {r.unit.code: r.cells[col][0] for r in rows} == {"B1": 0, "B2": 0, "B3": 0}  # nothing due anywhere
    items, rows = scoring.ranking(theirs, "Y", today=LATE)
    assert rows[0].cells[_compliance_col(items)][0] == items[_compliance_col(items)].points  # default: full points


def test_the_kinds_scored_are_the_schemes_data(org, other):  # noqa: F811  (the fixture imported above)
    load_library()
    general = factories.unit("G", UnitKind.GENERAL_BRANCH, parent=org["c"], name="机关党总支")
    mine = scoring.scheme_seed(org["c"], YEAR, actor=org["admin"])
    theirs = scoring.scheme_seed(other["c"], YEAR, actor=other["admin"])
    assert set(mine.scored_kinds) == {UnitKind.BRANCH, UnitKind.JOINT_BRANCH, UnitKind.TEMP_BRANCH}
    assert mine.scored_kinds_source.startswith("本系统默认") and "分类考核" in mine.scored_kinds_source
    assert general not in scoring.scored_units(mine)
    manual = next(i for i in mine.items.all() if not i.indicator)
    with pytest.raises(ValidationError, match="不是本方案的被考核组织"):
        scoring.score_enter(manual, general, "Y", actor=org["admin"], value=Decimal(5), note="督查")
    with pytest.raises(ValidationError, match="至少选择"):
        scoring.scheme_kinds_set(mine, actor=org["admin"], kinds=["nonsense"], source="办法", reason="决定")

    mine = scoring.scheme_kinds_set(mine, actor=org["admin"], kinds=[UnitKind.GENERAL_BRANCH, UnitKind.BRANCH],
                                    source="本党委分类考核办法第2条", reason="总支一并考核")
    assert [u.code for u in scoring.scored_units(mine)] == ["B1", "B2", "B3", "G"]
    scoring.score_enter(manual, general, "Y", actor=org["admin"], value=Decimal(5), note="全年点评")
    assert {r.unit.code for r in scoring.ranking(mine, "Y", today=LATE)[1]} == {"B1", "B2", "B3", "G"}
    assert [u.code for u in scoring.scored_units(theirs)] == ["C2B1"]  # the default holds elsewhere
    with pytest.raises(ValidationError, match="已有评分"):  # 机关党总支 was scored: its kind stays
        scoring.scheme_kinds_set(mine, actor=org["admin"], kinds=[UnitKind.BRANCH], source="办法", reason="决定")
    assert LedgerEntry.objects.filter(action="scheme.update", reason="总支一并考核").exists()


def test_the_kinds_form_on_the_scoring_page(client, org):  # noqa: F811  (the fixture imported above)
    load_library()
    factories.unit("G", UnitKind.GENERAL_BRANCH, parent=org["c"], name="机关党总支")
    client.force_login(org["admin"])
    url = reverse("scoring")
    client.post(url, {"action": "seed", "year": YEAR})
    assert "机关党总支" not in client.get(url + f"?year={YEAR}").content.decode()
    r = client.post(url, {"action": "kinds", "year": YEAR, "kinds": ["general_branch", "branch"], "source": "本党委分类考核办法",
                          "reason": "总支一并考核"}, follow=True)
    body = r.content.decode()
    assert "被考核组织已修改" in body and "机关党总支" in body and "本党委分类考核办法" in body
    assert "无应开展事项时得分值的 100%" in body  # the page states the rule the ranking applied
    core.policy_override_set(actor=None, unit=org["c"], key="scoring_nothing_due_percent", value=0, source="本党委考核办法")
    assert "无应开展事项时得分值的 0%" in client.get(url + f"?year={YEAR}").content.decode()
