"""考核等次与结果运用 (seed 001 四(三); seed 003 一2): grades from the year's scores with ranks
within each kind (分类考核), the 优秀 gate on a head's appraisal, two years near the bottom flagged
for 问责, the 评先评优 list, the overall score where 党建 is weighed in, appeals; the page."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audits.performance import grades, scoring
from audits.performance.models import AppealState, AssessmentResult, ScoringItem
from procedures.library_loader import load_library
from qms import services as core
from qms.models import LedgerEntry, Notification, Role, UnitKind
from qms.permissions import NotPermitted
from tests import factories

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
YEAR = TODAY.year


@pytest.fixture
def org():
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    units = [factories.unit(f"B{i}", UnitKind.BRANCH, parent=c, name=f"第{i}党支部") for i in range(1, 6)]
    joint = factories.unit("J1", UnitKind.JOINT_BRANCH, parent=c, name="联合党支部")
    admin, sec_c, sec1, outsider = (factories.user(n) for n in ("admin", "sec_c", "sec1", "outsider"))
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=c, valid_from=dt.date(2020, 1, 1))
    heads = {}
    for u in [*units, joint]:
        m = factories.member(u, f"{u.name}书记")
        core.position_assign(actor=None, member=m, unit=u, title="secretary", start=dt.date(2020, 1, 1), past_term=True)
        heads[u.code] = m
    core.member_update(heads["B1"], actor=None, reason="账号", user=sec1)
    csec = factories.member(units[4], "党委书记")
    core.member_update(csec, actor=None, reason="账号", user=sec_c)
    core.position_assign(actor=None, member=csec, unit=c, title="secretary", start=dt.date(2020, 1, 1), past_term=True)
    core.member_update(factories.member(units[3], "外支部党员"), actor=None, reason="账号", user=outsider)
    return {"c": c, "units": units, "joint": joint, "admin": admin, "sec_c": sec_c, "sec1": sec1, "outsider": outsider,
            "heads": heads}


def _scheme(org, year=YEAR, manual: dict | None = None):
    """A scheme whose computed items all score full (nothing due) and whose manual items are scored
    ``manual[code]`` (a share 0–1 of each manual item's points)."""
    scheme = scoring.scheme_seed(org["c"], year, actor=org["admin"])
    for u in [*org["units"], org["joint"]]:
        for item in scheme.items.filter(indicator=""):
            share = Decimal(str((manual or {}).get(u.code, 1)))
            scoring.score_enter(item, u, "Y", actor=org["admin"], value=(item.points * share).quantize(Decimal("0.1")), note="评")
    return scheme


def test_grades_are_fixed_per_kind_with_bands_from_the_rules(org):
    scheme = scoring.scheme_seed(org["c"], YEAR, actor=org["admin"])
    with pytest.raises(ValidationError, match="还有未评分的考核项目"):
        grades.results_fix(scheme, actor=org["admin"])
    scheme = _scheme(org, manual={"B1": 1, "B2": 0.7, "B3": 0.4, "B4": 0, "B5": 0.9, "J1": 0})
    grades.results_fix(scheme, actor=org["admin"])
    res = {r.unit.code: r for r in AssessmentResult.objects.filter(scheme=scheme)}
    # computed: 落实基本制度 40 and 整改 15 full (nothing due, nothing raised), 党费 0 (nobody paid); manual 35 × share
    assert res["B1"].score == Decimal("90.0") and res["B1"].grade == "excellent"
    assert res["B5"].score == Decimal("86.5") and res["B5"].grade == "good"
    assert res["B2"].score == Decimal("79.5") and res["B2"].grade == "fair"
    assert res["B4"].score == Decimal("55.0") and res["B4"].grade == "poor"
    assert (res["B1"].rank, res["B1"].of) == (1, 5) and (res["B4"].rank, res["B4"].of) == (5, 5)
    assert (res["J1"].rank, res["J1"].of) == (1, 1)  # ranked among its own kind only
    assert LedgerEntry.objects.filter(action="assessment.fix").count() == 6


def test_an_item_for_some_kinds_only_does_not_score_the_others(org):
    scheme = scoring.scheme_seed(org["c"], YEAR, actor=org["admin"])
    item = scheme.items.filter(indicator="").first()
    ScoringItem.objects.filter(pk=item.pk).update(kinds=["branch"])  # 分类考核: only for 党支部
    scheme = _scheme(org, manual={"J1": 1})
    _, rows = scoring.ranking(scheme, "Y")
    j1 = next(r for r in rows if r.unit.code == "J1")
    assert j1.cells[list(scheme.items.all()).index(item)] == (None, "不适用")
    grades.results_fix(scheme, actor=org["admin"])
    # 55 computed + 10 + 10 of its own 85 points
    assert AssessmentResult.objects.get(unit=org["joint"]).score == Decimal("88.2")


def test_a_head_of_a_unit_not_excellent_cannot_be_excellent(org):
    scheme = _scheme(org, manual={"B2": 0.5})
    grades.results_fix(scheme, actor=org["admin"])
    b2_head, b1_head = org["heads"]["B2"], org["heads"]["B1"]
    with pytest.raises(ValidationError, match="第2党支部的负责人,该组织.*党建考核为“一般”,年度绩效考核不得评为“优秀”"):
        grades.appraisal_record(org["c"], YEAR, b2_head, actor=org["admin"], grade="excellent")
    grades.appraisal_record(org["c"], YEAR, b2_head, actor=org["admin"], grade="competent")
    assert grades.appraisal_record(org["c"], YEAR, b1_head, actor=org["admin"], grade="excellent").grade == "excellent"
    with pytest.raises(ValidationError, match="须说明原因"):
        grades.appraisal_record(org["c"], YEAR, b1_head, actor=org["admin"], grade="competent")
    with pytest.raises(NotPermitted):
        grades.appraisal_record(org["c"], YEAR, b1_head, actor=org["sec1"], grade="competent", note="x")


def test_two_years_near_the_bottom_are_flagged_for_accountability(org):
    low = {"B1": 1, "B2": 0.9, "B3": 0.8, "B4": 0.2, "B5": 0.7, "J1": 1}
    first = _scheme(org, year=YEAR - 1, manual=low)
    grades.results_fix(first, actor=org["admin"])
    assert grades.accountability(first) == []  # one year only
    second = _scheme(org, manual={**low, "B5": 1})
    grades.results_fix(second, actor=org["admin"])
    flagged = [f.unit.code for f in grades.accountability(second)]
    # the last 3 of 5 in both years: B4 and B3 (B5 rose to the top); the joint branch alone in its kind is not low
    assert flagged == ["B3", "B4"]
    assert "连续2年排名靠后" in grades.accountability(second)[0].text
    n = Notification.objects.filter(key__startswith=f"accountability:{second.pk}:").count()
    assert n == 2  # the committee's secretary told of each
    core.policy_override_set(actor=org["admin"], unit=org["c"], key="accountability_bottom_count", value=1, source="本党委规定")
    assert [f.unit.code for f in grades.accountability(second)] == ["B4"]


def test_the_excellent_make_the_honours_list(org):
    scheme = _scheme(org, manual={"B2": 0.5, "B3": 0.5})
    grades.results_fix(scheme, actor=org["admin"])
    assert [r.unit.code for r in grades.honours(scheme)] == ["B1", "B4", "B5", "J1"]


def test_party_building_weighed_into_the_overall_score_where_the_committee_sets_it(org):
    scheme = _scheme(org, manual={"B2": 0.5})
    grades.results_fix(scheme, actor=org["admin"])
    res = AssessmentResult.objects.get(unit=org["units"][1])
    with pytest.raises(ValidationError, match="未设定党建考核在工作目标责任制考核中的比重"):
        grades.business_score_set(res, actor=org["admin"], value=Decimal(90))
    core.policy_override_set(actor=org["admin"], unit=org["c"], key="party_building_weight_percent", value=33,
                             source="seed 003 一2 三分之一")
    res = grades.business_score_set(res, actor=org["admin"], value=Decimal(90))
    assert res.score == Decimal("72.5") and grades.overall(res) == Decimal("84.2")  # 72.5 × 0.33 + 90 × 0.67


def test_an_appeal_by_the_unit_is_decided_by_the_committee(org):
    scheme = _scheme(org, manual={"B1": 0.5})
    grades.results_fix(scheme, actor=org["admin"])
    res = AssessmentResult.objects.get(unit=org["units"][0])
    with pytest.raises(NotPermitted):
        grades.appeal_submit(res, actor=org["outsider"], reason="不服")  # not of 第1党支部
    appeal = grades.appeal_submit(res, actor=org["sec1"], reason="书记履责材料漏报")
    with pytest.raises(ValidationError, match="已有待处理的申诉"):
        grades.appeal_submit(res, actor=org["sec1"], reason="再次")
    with pytest.raises(ValidationError, match="结果只能通过申诉处理更正"):
        grades.results_fix(scheme, actor=org["admin"])
    with pytest.raises(NotPermitted):
        grades.appeal_decide(appeal, actor=org["sec1"], upheld=True, decision="自己处理", score=Decimal(99))
    appeal = grades.appeal_decide(appeal, actor=org["sec_c"], upheld=True, decision="补报材料属实,更正得分", score=Decimal(91))
    res.refresh_from_db()
    assert appeal.state == AppealState.UPHELD and res.score == Decimal("91.0") and res.grade == "excellent"
    assert LedgerEntry.objects.filter(action="assessment.correct", reason__contains="补报材料属实").exists()
    with pytest.raises(ValidationError, match="该申诉已处理"):
        grades.appeal_decide(appeal, actor=org["sec_c"], upheld=False, decision="x")


def test_the_grades_page(client, org):
    from tests.test_crawl import foreign_words

    scheme = _scheme(org, manual={"B2": 0.5})
    client.force_login(org["sec_c"])
    r = client.post(f"/audits/grades/{YEAR}/", {"action": "fix"}, follow=True)
    body = r.content.decode()
    assert "已评定 6 个组织的考核等次" in body and "评先评优推荐名单" in body and "年度绩效考核不得评为优秀" in body
    assert foreign_words(body) == set()
    head = org["heads"]["B2"]
    body = client.post(f"/audits/grades/{YEAR}/", {"action": "appraisal", "member": head.pk, "grade": "excellent"},
                       follow=True).content.decode()
    assert "年度绩效考核不得评为“优秀”" in body
    client.force_login(org["sec1"])
    res = AssessmentResult.objects.get(scheme=scheme, unit=org["units"][0])
    client.post(f"/audits/grades/{YEAR}/", {"action": "appeal", "result": res.pk, "reason": "材料漏报"})
    assert res.appeals.count() == 1
