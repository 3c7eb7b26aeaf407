"""考核等次与结果运用 (seed 001 四(三); seed 003 一2) — the year's 党建考核 fixed as results: each
unit's score on a 100-point scale over the items that apply to its kind (分类考核), its rank among
the units of its kind and its grade (优秀/良好/一般/较差, bands as organisation rules); then what the
results decide:

- a 党组织负责人 whose unit is not 优秀 cannot be 优秀 in the annual appraisal (``appraisal_record``);
- a unit near the bottom of its kind (``accountability_bottom_count``, or 较差) for
  ``accountability_years`` years running is flagged to the committee for 问责 (``accountability``);
- the 优秀 units make the 评先评优 list (``honours``);
- where the committee weighs 党建 into the unit's overall target score (``party_building_weight_percent``,
  seed 003: 三分之一), the overall score = 党建 × weight + 业务 × (1 − weight);
- a unit may appeal its result (申诉); the assessing organisation upholds it (the result corrected,
  with the reason in the ledger) or rejects it.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audits.performance.models import (
    Appeal,
    AppealState,
    Appraisal,
    AssessmentResult,
    ScoringScheme,
)
from audits.performance.scoring import own_unit_duty, ranking
from qms import ledger, notify
from qms.citations import cite
from qms.models import Member, Position, Unit
from qms.permissions import act
from qms.rules import rules_for

_FILE = Path(__file__).with_name("rules") / "grades.toml"
ONE = Decimal("0.1")
FULL_YEAR = "Y"


@cache
def grade_data() -> dict:
    return tomllib.loads(_FILE.read_text(encoding="utf-8"))


def unit_grades() -> dict[str, str]:
    d = grade_data()["unit_grades"]
    return {k: d[k] for k in d["order"]}


def appraisal_grades() -> dict[str, str]:
    d = grade_data()["appraisal_grades"]
    return {k: d[k] for k in d["order"]}


def grade_of(score: Decimal, rules: dict) -> str:
    """The band of a 100-point score under the organisation's rules."""
    for key, rule in (("excellent", "grade_excellent_min"), ("good", "grade_good_min"), ("fair", "grade_fair_min")):
        if score >= rules[rule].value:
            return key
    return "poor"


def _officer(actor) -> None:
    if actor is None:
        raise ValidationError("考核结果须由具名人员评定")


@act("assessment.fix", unit=lambda scheme, **_: scheme.root)
@transaction.atomic
def results_fix(scheme: ScoringScheme, *, actor, today=None) -> list[AssessmentResult]:
    """评定等次 — fix the year's results from the 全年点评 ranking once every manual item is scored:
    score on 100 points over the items that apply to the unit's kind, rank within the kind, grade.
    Fixing again (before any appeal) replaces the results, each change in the ledger."""
    _officer(actor)
    if Appeal.objects.filter(result__scheme=scheme).exists():
        raise ValidationError("已有组织对本年度考核结果提出申诉,结果只能通过申诉处理更正")
    items, rows = ranking(scheme, FULL_YEAR, today=today)
    pending = [r.unit.name for r in rows if r.pending]
    if pending:
        raise ValidationError(f"{'、'.join(pending)} 还有未评分的考核项目(全年点评),评分完成后才能评定等次")
    rules = rules_for(scheme.root)
    by_kind: dict[str, list] = {}
    for r in rows:
        applicable = sum((i.points for i in items if not i.kinds or r.unit.kind in i.kinds), Decimal(0))
        pct = (r.total * 100 / applicable).quantize(ONE, ROUND_HALF_UP) if applicable else Decimal(0)
        by_kind.setdefault(r.unit.kind, []).append((pct, r.unit))
    out = []
    fixed = {r.unit_id: r for r in AssessmentResult.objects.select_for_update().filter(scheme=scheme)}  # one query
    for units in by_kind.values():
        units.sort(key=lambda t: (-t[0], t[1].path))
        rank = 0
        for n, (pct, unit) in enumerate(units, start=1):
            if n == 1 or pct != units[n - 2][0]:
                rank = n  # ties share the rank of the first of them
            res = fixed.get(unit.pk)
            before = ledger.snapshot(res) if res else None
            fields = {"score": pct, "rank": rank, "of": len(units), "grade": grade_of(pct, rules),
                      "fixed_by": actor, "fixed_at": timezone.now()}
            if res is None:
                res = AssessmentResult.objects.create(scheme=scheme, unit=unit, **fields)
                ledger.record("assessment.fix", res, actor=actor)
            else:
                for k, v in fields.items():
                    setattr(res, k, v)
                res.save()
                ledger.record("assessment.fix", res, actor=actor, before=before, reason="重新评定")
            out.append(res)
    for flag in accountability(scheme):  # the committee's 书记/副书记 are told (once per unit and year)
        for user in notify.holders(scheme.root, ("secretary", "deputy_secretary")):
            notify.notify(user, key=f"accountability:{scheme.pk}:{flag.unit.pk}", title=flag.text,
                          url=f"/audits/grades/{scheme.year}/", level="danger")
    return out


@dataclass(frozen=True)
class Flag:
    unit: Unit
    years: list[int]
    text: str
    source: str


def _low(res: AssessmentResult, bottom: int) -> bool:
    """较差, or among the last ``bottom`` of a kind that has more units than that (a unit alone in
    its kind, or one of a few, is not "near the bottom" by rank)."""
    return res.grade == "poor" or (res.of > bottom and res.rank > res.of - bottom)


def accountability(scheme: ScoringScheme) -> list[Flag]:
    """连续排名靠后 — units low in their kind (the last ``accountability_bottom_count``, or 较差) in
    each of the last ``accountability_years`` years' fixed results: flagged to the committee, which
    judges whether it is 履责不实、落实不力、问题突出 (the seed's further condition) and 问责."""
    rules = rules_for(scheme.root)
    years_rule, bottom = rules["accountability_years"], rules["accountability_bottom_count"].value
    span = list(range(scheme.year - years_rule.value + 1, scheme.year + 1))
    results = (AssessmentResult.objects.filter(scheme__root=scheme.root, scheme__year__in=span)
               .select_related("unit", "scheme"))
    low: dict[int, set[int]] = {}
    units: dict[int, Unit] = {}
    for res in results:
        if _low(res, bottom):
            low.setdefault(res.unit_id, set()).add(res.scheme.year)
            units[res.unit_id] = res.unit
    out = []
    for uid, years in low.items():
        if years >= set(span):
            out.append(Flag(units[uid], span, f"{units[uid].name}在{span[0]}—{span[-1]}年党建考核中连续{len(span)}年排名靠后,"
                                              "请党委核实是否属于履责不实、落实不力、问题突出,依规问责",
                            years_rule.source))
    return sorted(out, key=lambda f: f.unit.path)


def heads_barred(scheme: ScoringScheme) -> dict[int, tuple[Unit, AssessmentResult]]:
    """负责人 (member id) → their unit and its result, for every unit fixed as not 优秀."""
    titles = grade_data()["use"]["heads"]
    day_end = timezone.datetime(scheme.year, 12, 31).date()
    day_start = timezone.datetime(scheme.year, 1, 1).date()
    results = {r.unit_id: r for r in AssessmentResult.objects.filter(scheme=scheme).exclude(grade="excellent")
               .select_related("unit")}
    out = {}
    for p in Position.objects.filter(unit_id__in=results, title__in=titles, start__lte=day_end).filter(
            Q(end__isnull=True) | Q(end__gte=day_start)).select_related("unit"):
        out[p.member_id] = (p.unit, results[p.unit_id])
    return out


@act("assessment.fix", unit=lambda root, **_: root)
@transaction.atomic
def appraisal_record(root: Unit, year: int, member: Member, *, actor, grade: str, note: str = "") -> Appraisal:
    """个人年度考核等次 — recorded by the committee; 优秀 refused for the 负责人 of a unit whose
    党建考核 of that year is not 优秀 (seed 001 四(三))."""
    _officer(actor)
    grades = appraisal_grades()
    if grade not in grades:
        raise ValidationError({"grade": "请选择考核等次"})
    if not member.memberships.filter(unit__path__startswith=root.path).exists():
        raise ValidationError({"member": f"{member.name} 不在“{root.name}”的党员中"})
    if grade == "excellent":
        scheme = ScoringScheme.objects.filter(root=root, year=year).first()
        barred = heads_barred(scheme) if scheme else {}
        if member.pk in barred:
            unit, res = barred[member.pk]
            raise ValidationError({"grade": f"{member.name} 是{unit.name}的负责人,该组织{year}年党建考核为"
                                            f"“{unit_grades()[res.grade]}”,年度绩效考核不得评为“优秀”"
                                            f"(依据:{cite(grade_data()['use']['heads_source'])})"})
    a = Appraisal.objects.filter(year=year, member=member).first()
    before = ledger.snapshot(a) if a else None
    if a is None:
        a = Appraisal.objects.create(root=root, year=year, member=member, grade=grade, note=note.strip(),
                                     recorded_by=actor)
        ledger.record("appraisal.record", a, actor=actor)
    else:
        if not note.strip():
            raise ValidationError({"note": "更改已登记的等次须说明原因"})
        a.grade, a.note, a.recorded_by = grade, note.strip(), actor
        a.save()
        ledger.record("appraisal.record", a, actor=actor, before=before, reason=note.strip())
    return a


def honours(scheme: ScoringScheme) -> list[AssessmentResult]:
    """评先评优 — the units whose grade makes the recommendation list (``[use] honours_grades``)."""
    wanted = grade_data()["use"]["honours_grades"]
    return list(AssessmentResult.objects.filter(scheme=scheme, grade__in=wanted).select_related("unit")
                .order_by("-score", "unit__path"))


def overall(result: AssessmentResult) -> Decimal | None:
    """综合得分 = 党建 × weight + 业务 × (1 − weight), where the committee weighs 党建 in."""
    w = rules_for(result.scheme.root)["party_building_weight_percent"].value
    if not w or result.business_score is None:
        return None
    w = Decimal(w) / 100
    return (result.score * w + result.business_score * (1 - w)).quantize(ONE, ROUND_HALF_UP)


@act("assessment.fix", unit=lambda result, **_: result.scheme.root)
@transaction.atomic
def business_score_set(result: AssessmentResult, *, actor, value: Decimal) -> AssessmentResult:
    """业务工作得分 — entered by the committee where 党建 is weighed into the overall score."""
    _officer(actor)
    if not rules_for(result.scheme.root)["party_building_weight_percent"].value:
        raise ValidationError("本组织未设定党建考核在工作目标责任制考核中的比重,不计算综合得分")
    if value is None or not Decimal(0) <= value <= Decimal(100):
        raise ValidationError({"value": "业务工作得分应在 0 至 100 之间"})
    r = AssessmentResult.objects.select_for_update().get(pk=result.pk)
    before = ledger.snapshot(r)
    r.business_score = value
    r.save(update_fields=["business_score"])
    ledger.record("assessment.business_score", r, actor=actor, before=before)
    return r


def _appellant_duty(result, actor, **_) -> set[str]:
    return own_unit_duty(actor, result.unit)


@act("assessment.appeal", unit=lambda result, **_: result.unit, duties=_appellant_duty)
@transaction.atomic
def appeal_submit(result: AssessmentResult, *, actor, reason: str) -> Appeal:
    """申诉 — by someone of the unit assessed, with the reason; one open appeal at a time."""
    if not (reason or "").strip():
        raise ValidationError({"reason": "请填写申诉理由"})
    if Appeal.objects.filter(result=result, state=AppealState.SUBMITTED).exists():
        raise ValidationError("该考核结果已有待处理的申诉")
    a = Appeal.objects.create(result=result, reason=reason.strip(), submitted_by=actor)
    ledger.record("appeal.submit", a, actor=actor)
    return a


@act("assessment.fix", unit=lambda appeal, **_: appeal.result.scheme.root)
@transaction.atomic
def appeal_decide(appeal: Appeal, *, actor, upheld: bool, decision: str, score: Decimal | None = None) -> Appeal:
    """处理申诉 — upheld: the result's score is corrected (grade from the bands) with the decision as
    the ledger's reason; rejected: the result stands. The decision is written either way."""
    _officer(actor)
    a = Appeal.objects.select_for_update().select_related("result__scheme__root").get(pk=appeal.pk)
    if a.state != AppealState.SUBMITTED:
        raise ValidationError("该申诉已处理")
    if not (decision or "").strip():
        raise ValidationError({"decision": "请填写处理意见"})
    before = ledger.snapshot(a)
    if upheld:
        if score is None or not Decimal(0) <= score <= Decimal(100):
            raise ValidationError({"score": "申诉成立时请填写更正后的得分(0 至 100)"})
        r = AssessmentResult.objects.select_for_update().get(pk=a.result_id)
        r_before = ledger.snapshot(r)
        r.score, r.grade = score.quantize(ONE, ROUND_HALF_UP), grade_of(score, rules_for(a.result.scheme.root))
        r.save(update_fields=["score", "grade"])
        ledger.record("assessment.correct", r, actor=actor, before=r_before, reason=f"申诉成立:{decision.strip()}")
        a.uphold()
    else:
        a.reject()
    a.decision, a.decided_by, a.decided_on = decision.strip(), actor, timezone.localdate()
    a.save()
    ledger.record("appeal.decide", a, actor=actor, before=before, reason=decision.strip())
    return a
