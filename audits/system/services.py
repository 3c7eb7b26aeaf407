"""体系策划与支持 services — the only code that changes the records of this room. Each act is one
transaction with its ledger entry; an amendment needs its reason (no silent edit); bad input is
refused in Chinese with nothing saved.

- context (ISO 9001 §4.1/§4.2): 内外部环境因素 and 相关方 per organisation, the default parties
  copied from ``defaults.toml`` with their source;
- risks and opportunities (§6.1): likelihood × impact on the scales of ``rules.toml``, the level
  computed, an action that may be raised as an improvement ticket (source 风险应对) and its
  effectiveness recorded;
- competence (§7.2): the requirements of ``defaults.toml`` per role, training records with a
  certificate file, and who meets which requirement (met / expiring / missing);
- satisfaction (§9.1.2): surveys, answers entered within their period, results per question.
"""
from __future__ import annotations

import datetime as dt
import tomllib
from functools import cache
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audits.capa.models import Grade, NCSource
from audits.capa.services import nc_raise
from audits.system.models import (
    ContextIssue,
    InterestedParty,
    IssueKind,
    Population,
    QuestionKind,
    Risk,
    RiskKind,
    Survey,
    SurveyEntry,
    SurveyQuestion,
    TrainingRecord,
)
from qms import ledger
from qms.models import Member, Position, RoleGrant, Unit
from qms.permissions import act
from qms.rules import rule_value

DEFAULTS = Path(__file__).with_name("defaults.toml")


@cache
def defaults() -> dict:
    """The shipped lists (相关方, 能力要求), each item with its source."""
    return tomllib.loads(DEFAULTS.read_text(encoding="utf-8"))


def _text(value, label: str) -> str:
    v = (value or "").strip()
    if not v:
        raise ValidationError(f"请填写{label}")
    return v


def _reason(reason: str) -> str:
    r = (reason or "").strip()
    if not r:
        raise ValidationError("修改须说明原因")
    return r


def _amend(obj, *, actor, reason: str, action: str, changes: dict, unchanged: str = "没有需要修改的内容"):
    """Change fields of a ledgered row with the reason written in the same entry."""
    why = _reason(reason)
    row = type(obj).objects.select_for_update().get(pk=obj.pk)
    before = ledger.snapshot(row)
    for k, v in changes.items():
        setattr(row, k, v)
    if ledger.snapshot(row) == before:
        raise ValidationError(unchanged)
    row.save()
    ledger.record(action, row, actor=actor, before=before, reason=why)
    return row


# ------------------------------------------------------------------ 组织环境和相关方 (§4.1/§4.2)

def context_due(root: Unit, reviewed_on: dt.date, *, today: dt.date | None = None, months: int | None = None) -> bool:
    """An item not reviewed within ``context_review_months`` months is due for review."""
    today = today or timezone.localdate()
    months = rule_value(root, "context_review_months") if months is None else months
    return add_months(reviewed_on, months) < today


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (the month's last day where it is shorter)."""
    import calendar

    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@act("system.context", unit=lambda root, **_: root)
@transaction.atomic
def parties_seed(*, actor, root: Unit) -> list[InterestedParty]:
    """The default interested parties (defaults.toml, each with its source) for an organisation
    that has none yet."""
    if InterestedParty.objects.filter(root=root).exists():
        raise ValidationError(f"{root.name}已有相关方清单,请逐项修改")
    today = timezone.localdate()
    made = [InterestedParty.objects.create(root=root, name=p["name"], needs=p["needs"], monitoring=p["monitoring"],
                                           source=p["source"], reviewed_on=today) for p in defaults()["parties"]]
    ledger.record_many("context.party_add", made, actor=actor)
    return made


@act("system.context", unit=lambda root, **_: root)
@transaction.atomic
def party_add(*, actor, root: Unit, name: str, needs: str, monitoring: str) -> InterestedParty:
    """添加相关方 — the organisation's own addition (its source says so)."""
    p = InterestedParty.objects.create(root=root, name=_text(name, "相关方名称")[:60], needs=_text(needs, "需求和期望"),
                                       monitoring=_text(monitoring, "监视方式"), source=f"{root.name}确定",
                                       reviewed_on=timezone.localdate())
    ledger.record("context.party_add", p, actor=actor)
    return p


@act("system.context", unit=lambda root, **_: root)
@transaction.atomic
def issue_add(*, actor, root: Unit, kind: str, text: str, effect: str, monitoring: str) -> ContextIssue:
    """登记内外部环境因素."""
    if kind not in IssueKind.values:
        raise ValidationError("请选择内部因素或外部因素")
    i = ContextIssue.objects.create(root=root, kind=kind, text=_text(text, "因素"), effect=(effect or "").strip(),
                                    monitoring=_text(monitoring, "监视方式"), reviewed_on=timezone.localdate())
    ledger.record("context.issue_add", i, actor=actor)
    return i


PARTY_FIELDS = ("name", "needs", "monitoring", "active")
ISSUE_FIELDS = ("kind", "text", "effect", "monitoring", "active")


@act("system.context", unit=lambda item, **_: item.root)
@transaction.atomic
def context_amend(item: InterestedParty | ContextIssue, *, actor, reason: str, **changes) -> InterestedParty | ContextIssue:
    """修改(或停用)一项相关方或环境因素 — with the reason; the item counts as reviewed today.
    Unchanged content with a reason is a review confirmation (评审确认)."""
    allowed = PARTY_FIELDS if isinstance(item, InterestedParty) else ISSUE_FIELDS
    unknown = set(changes) - set(allowed)
    if unknown:
        raise ValidationError("不能修改这些内容")
    clean = {}
    for k, v in changes.items():
        if k == "active":
            clean[k] = bool(v)
        elif k == "kind":
            if v not in IssueKind.values:
                raise ValidationError("请选择内部因素或外部因素")
            clean[k] = v
        elif k == "effect":
            clean[k] = (v or "").strip()
        else:
            clean[k] = _text(v, {"name": "相关方名称", "needs": "需求和期望", "monitoring": "监视方式", "text": "因素"}[k])
    clean["reviewed_on"] = timezone.localdate()
    action = "context.party_amend" if isinstance(item, InterestedParty) else "context.issue_amend"
    return _amend(item, actor=actor, reason=reason, action=action, changes=clean, unchanged="今天已评审过该项,内容也没有变化")


def context_of(root: Unit, *, today: dt.date | None = None) -> dict:
    """The organisation's context on one page: issues by kind and parties, each with whether its
    review is due."""
    today = today or timezone.localdate()
    issues = list(ContextIssue.objects.filter(root=root, active=True))
    parties = list(InterestedParty.objects.filter(root=root, active=True))
    months = rule_value(root, "context_review_months")
    for x in (*issues, *parties):
        x.due = context_due(root, x.reviewed_on, today=today, months=months)
    return {"internal": [i for i in issues if i.kind == IssueKind.INTERNAL],
            "external": [i for i in issues if i.kind == IssueKind.EXTERNAL], "parties": parties,
            "due": sum(1 for x in (*issues, *parties) if x.due), "months": months}


# ------------------------------------------------------------------ 风险和机遇 (§6.1)

def risk_scales(root: Unit) -> dict:
    """The scales and level lines in force for ``root`` (rules, overridable per organisation)."""
    return {k: rule_value(root, f"risk_{k}") for k in ("likelihood_max", "impact_max", "level_high", "level_medium")}


def risk_level(root: Unit, score: int, *, scales: dict | None = None) -> str:
    """高 / 中 / 低 for likelihood × impact, by the organisation's level lines."""
    s = scales or risk_scales(root)
    return "高" if score >= s["level_high"] else "中" if score >= s["level_medium"] else "低"


def _rating(root: Unit, likelihood, impact) -> tuple[int, int]:
    s = risk_scales(root)
    out = []
    for value, top, label in ((likelihood, s["likelihood_max"], "可能性"), (impact, s["impact_max"], "影响程度")):
        try:
            n = int(value)
        except (TypeError, ValueError):
            raise ValidationError(f"请选择{label}(1–{top})") from None
        if not 1 <= n <= top:
            raise ValidationError(f"{label}应在 1 到 {top} 之间,不能是 {n}")
        out.append(n)
    return out[0], out[1]


def _owner_in(root: Unit, owner: Member | None) -> Member:
    if owner is None:
        raise ValidationError("请指定责任人")
    if not owner.memberships.filter(end__isnull=True, unit__path__startswith=root.path).exists():
        raise ValidationError(f"责任人{owner.name}不在{root.name}范围内")
    return owner


@act("system.risk", unit=lambda root, **_: root)
@transaction.atomic
def risk_add(*, actor, root: Unit, kind: str, title: str, process: str, likelihood, impact, action: str,
             owner: Member | None, due_date: dt.date | None) -> Risk:
    """登记一项风险或机遇及其应对措施."""
    if kind not in RiskKind.values:
        raise ValidationError("请选择风险或机遇")
    lk, im = _rating(root, likelihood, impact)
    if due_date is None or due_date < timezone.localdate():
        raise ValidationError("完成期限不能早于今天")
    r = Risk.objects.create(root=root, kind=kind, title=_text(title, "风险或机遇"), process=_text(process, "相关过程或程序")[:120],
                            likelihood=lk, impact=im, action=_text(action, "应对措施"), owner=_owner_in(root, owner),
                            due_date=due_date)
    ledger.record("risk.add", r, actor=actor)
    return r


@act("system.risk", unit=lambda risk, **_: risk.root)
@transaction.atomic
def risk_amend(risk: Risk, *, actor, reason: str, likelihood=None, impact=None, action: str | None = None,
               due_date: dt.date | None = None, owner: Member | None = None) -> Risk:
    """重新评估 — a new rating, action, owner or due date, with the reason."""
    if not risk.is_open:
        raise ValidationError("该项已评价有效性,不能再修改")
    changes: dict = {}
    if likelihood is not None or impact is not None:
        changes["likelihood"], changes["impact"] = _rating(risk.root, risk.likelihood if likelihood is None else likelihood,
                                                           risk.impact if impact is None else impact)
    if action is not None:
        changes["action"] = _text(action, "应对措施")
    if due_date is not None:
        if due_date < timezone.localdate():
            raise ValidationError("完成期限不能早于今天")
        changes["due_date"] = due_date
    if owner is not None:
        changes["owner"] = _owner_in(risk.root, owner)
    return _amend(risk, actor=actor, reason=reason, action="risk.amend", changes=changes)


@act("system.risk", unit=lambda risk, **_: risk.root)
@transaction.atomic
def risk_raise_ticket(risk: Risk, *, actor, unit: Unit) -> Risk:
    """应对措施立项 — the action becomes an improvement ticket (source 风险应对) in the corrective-
    action machine, for ``unit`` inside the organisation."""
    r = Risk.objects.select_for_update().get(pk=risk.pk)
    if r.ticket_id:
        raise ValidationError(f"该项已立项(措施单 {r.ticket.code})")
    if not r.is_open:
        raise ValidationError("该项已评价有效性,不能再立项")
    if not unit.path.startswith(r.root.path):
        raise ValidationError(f"责任组织不在{r.root.name}范围内")
    nc = nc_raise(actor=actor, unit=unit, source=NCSource.RISK, grade=Grade.IMPROVEMENT, clause="6.1",
                  requirement=r.action,
                  evidence=f"{RiskKind(r.kind).label}“{r.title}”(相关过程:{r.process};可能性 {r.likelihood} × 影响 {r.impact}"
                           f" = {r.score},{risk_level(r.root, r.score)})")
    before = ledger.snapshot(r)
    r.ticket = nc
    r.save(update_fields=["ticket"])
    ledger.record("risk.ticket", r, actor=actor, before=before)
    return r


@act("system.risk", unit=lambda risk, **_: risk.root)
@transaction.atomic
def risk_evaluate(risk: Risk, *, actor, effective: bool, note: str) -> Risk:
    """应对措施有效性评价 (§6.1.2 b, §9.3.2 e) — closes the row; an open ticket must be closed first."""
    r = Risk.objects.select_for_update().get(pk=risk.pk)
    if not r.is_open:
        raise ValidationError("该项已评价有效性")
    if r.ticket_id and r.ticket.state not in ("closed", "effective", "ineffective"):
        raise ValidationError(f"措施单 {r.ticket.code} 尚未关闭,关闭后再评价有效性")
    before = ledger.snapshot(r)
    r.effective, r.effectiveness_note, r.evaluated_on = bool(effective), _text(note, "评价说明"), timezone.localdate()
    r.save()
    ledger.record("risk.evaluate", r, actor=actor, before=before)
    return r


def risks_of(root: Unit) -> list[Risk]:
    """The register, open rows first, the highest score first; each with ``level``."""
    s = risk_scales(root)
    rows = list(Risk.objects.filter(root=root).select_related("owner", "ticket"))
    for r in rows:
        r.level = risk_level(root, r.score, scales=s)
    return sorted(rows, key=lambda r: (not r.is_open, -r.score, r.pk))


def open_risks(root: Unit) -> list[dict]:
    """Open risks and opportunities of ``root``'s subtree, for the management review (§9.3.2 e)."""
    out = []
    for r in Risk.objects.filter(root__path__startswith=root.path, evaluated_on__isnull=True).select_related("root", "owner", "ticket"):
        out.append({"unit": r.root.name, "kind": str(RiskKind(r.kind).label), "title": r.title, "process": r.process,
                    "score": r.score, "level": risk_level(r.root, r.score), "action": r.action, "owner": r.owner.name,
                    "due": r.due_date.isoformat(), "ticket": r.ticket.code if r.ticket_id else "",
                    "ticket_state": str(r.ticket.state_label) if r.ticket_id else ""})
    return sorted(out, key=lambda x: -x["score"])


# ------------------------------------------------------------------ 能力 (§7.2)

def requirements(root: Unit) -> list[dict]:
    """The competence requirements with their numbers in force for ``root``."""
    out = []
    for r in defaults()["requirements"]:
        hours = rule_value(root, r["hours_rule"])
        months = rule_value(root, r["valid_months_rule"]) if r.get("valid_months_rule") else 0
        out.append({**r, "hours": hours, "valid_months": months})
    return out


def _holders(root: Unit, req: dict, on: dt.date) -> set[int]:
    """Members of ``root``'s subtree the requirement applies to on ``on``."""
    if req.get("grant"):
        grants = RoleGrant.objects.filter(role=req["grant"], valid_from__lte=on).exclude(valid_until__lt=on).select_related("unit")
        users = {g.user_id for g in grants if g.unit.path.startswith(root.path) or root.path.startswith(g.unit.path)}
        return set(Member.objects.filter(user_id__in=users).values_list("pk", flat=True))
    return set(Position.objects.filter(title__in=req.get("positions", ()), unit__path__startswith=root.path, start__lte=on)
               .exclude(end__lt=on).values_list("member_id", flat=True))


def status_of(req: dict, records: list[TrainingRecord], on: dt.date, expiring_days: int) -> tuple[str, dt.date | None]:
    """(met | expiring | missing, valid until): hours of the requirement's records within its
    validity reach its minimum."""
    recs = sorted((r for r in records if r.requirement == req["key"] and r.taken_on <= on), key=lambda r: r.taken_on, reverse=True)

    def good(day: dt.date) -> dt.date | None:
        total, until = 0, None
        for r in recs:
            expires = add_months(r.taken_on, req["valid_months"]) if req["valid_months"] else None
            if expires is not None and expires < day:
                continue
            total += float(r.hours)
            until = expires if until is None or (expires is not None and expires < until) else until
            if total >= req["hours"]:
                return until or dt.date.max
        return None

    until = good(on)
    if until is None:
        return "missing", None
    if until != dt.date.max and good(on + dt.timedelta(days=expiring_days)) is None:
        return "expiring", until
    return "met", None if until == dt.date.max else until


def competence_matrix(root: Unit, *, on: dt.date | None = None) -> dict:
    """People × requirements: each person the requirements apply to, and for each requirement
    met / expiring / missing (or not applicable)."""
    on = on or timezone.localdate()
    reqs = requirements(root)
    expiring = rule_value(root, "competence_expiring_days")
    applies = {r["key"]: _holders(root, r, on) for r in reqs}
    ids = set().union(*applies.values()) if applies else set()
    people = list(Member.objects.filter(pk__in=ids).order_by("name", "pk"))
    records: dict[int, list[TrainingRecord]] = {}
    for t in TrainingRecord.objects.filter(member_id__in=ids):
        records.setdefault(t.member_id, []).append(t)
    rows = []
    for m in people:
        cells = []
        for r in reqs:
            if m.pk in applies[r["key"]]:
                state, until = status_of(r, records.get(m.pk, []), on, expiring)
                cells.append({"state": state, "until": until})
            else:
                cells.append(None)
        rows.append({"member": m, "cells": cells})
    return {"requirements": reqs, "rows": rows}


def qualified_auditors(root: Unit, *, on: dt.date | None = None) -> dict[int, str]:
    """内审员资格: member id → met / expiring / missing for every 内审员 of ``root``."""
    on = on or timezone.localdate()
    req = next(r for r in requirements(root) if r.get("grant") == "internal_auditor")
    expiring = rule_value(root, "competence_expiring_days")
    out = {}
    for pk in _holders(root, req, on):
        out[pk] = status_of(req, list(TrainingRecord.objects.filter(member_id=pk)), on, expiring)[0]
    return out


@act("system.training", unit=lambda unit, **_: unit)
@transaction.atomic
def training_record(*, actor, unit: Unit, member: Member | None, course: str, hours, taken_on: dt.date | None,
                    requirement: str = "", upload=None) -> TrainingRecord:
    """登记培训记录 — by the member's unit (or above); a certificate file checked like any
    evidence upload (qms.services.read_upload)."""
    from django.core.files.base import ContentFile

    from qms.services import read_upload

    if member is None or not member.memberships.filter(end__isnull=True, unit__path__startswith=unit.path).exists():
        raise ValidationError(f"请选择{unit.name}的党员")
    if requirement and requirement not in {r["key"] for r in defaults()["requirements"]}:
        raise ValidationError("请选择能力要求")
    try:
        h = round(float(hours), 1)
    except (TypeError, ValueError):
        raise ValidationError("请填写学时") from None
    if not 0 < h <= 500:
        raise ValidationError("学时应大于 0 且不超过 500")
    if taken_on is None or taken_on > timezone.localdate():
        raise ValidationError("培训日期不能晚于今天")
    t = TrainingRecord(member=member, unit=unit, requirement=requirement, course=_text(course, "课程名称")[:120], hours=h,
                       taken_on=taken_on, recorded_by=actor)
    if upload is not None:
        name, ext, data, digest = read_upload(upload)
        t.certificate_name, t.certificate_sha256 = name, digest
        t.certificate.save(f"{digest}{ext}", ContentFile(data), save=False)
    t.save()
    ledger.record("training.record", t, actor=actor)
    return t


# ------------------------------------------------------------------ 满意度 (§9.1.2)

@act("system.survey", unit=lambda root, **_: root)
@transaction.atomic
def survey_create(*, actor, root: Unit, title: str, population: str, start: dt.date | None, end: dt.date | None,
                  questions: list[dict]) -> Survey:
    """策划满意度调查 — questions are ``{"text", "kind": scale|choice, "choices": [...]}``; the
    scale is the organisation's rule at creation, kept with the survey."""
    if population not in Population.values:
        raise ValidationError("请选择调查对象(党员或职工群众)")
    if start is None or end is None or end < start:
        raise ValidationError("请填写调查期间,结束日期不能早于开始日期")
    qs = [q for q in questions if (q.get("text") or "").strip()]
    if not qs:
        raise ValidationError("至少要有一道题目")
    for q in qs:
        if q.get("kind") not in QuestionKind.values:
            raise ValidationError("请选择题型")
        if q["kind"] == QuestionKind.CHOICE:
            opts = [c.strip() for c in q.get("choices", ()) if (c or "").strip()]
            if len(opts) < 2 or len(set(opts)) != len(opts):
                raise ValidationError(f"选择题“{q['text'].strip()}”至少要有两个不同的选项")
            q["choices"] = opts
    s = Survey.objects.create(root=root, title=_text(title, "调查名称")[:120], population=population, start=start, end=end,
                              scale_max=rule_value(root, "satisfaction_scale_max"),
                              satisfied_min=rule_value(root, "satisfaction_satisfied_min"))
    made = [SurveyQuestion.objects.create(survey=s, order=n, text=q["text"].strip()[:200], kind=q["kind"],
                                          choices=q.get("choices", []) if q["kind"] == QuestionKind.CHOICE else [])
            for n, q in enumerate(qs, 1)]
    ledger.record("survey.create", s, actor=actor)
    ledger.record_many("survey.question", made, actor=actor)
    return s


def _open_for_answers(survey: Survey) -> None:
    today = timezone.localdate()
    if today < survey.start:
        raise ValidationError(f"调查尚未开始({survey.start:%Y-%m-%d} 起)")
    if today > survey.end:
        raise ValidationError(f"调查已于 {survey.end:%Y-%m-%d} 结束,不能再录入答卷")


@act("system.survey", unit=lambda survey, **_: survey.root)
@transaction.atomic
def survey_answer(survey: Survey, *, actor, answers: dict) -> SurveyEntry:
    """录入一份匿名答卷 — ``answers`` is {question id: option}; every question answered."""
    _open_for_answers(survey)
    counts = {}
    for q in survey.questions.all():
        v = str(answers.get(q.pk, answers.get(str(q.pk), "")) or "").strip()
        if not v:
            raise ValidationError(f"请回答第 {q.order} 题")
        if v not in q.options():
            raise ValidationError(_outside(q, v))
        counts[str(q.pk)] = {v: 1}
    e = SurveyEntry.objects.create(survey=survey, respondents=1, counts=counts, entered_by=actor, entered_on=timezone.localdate())
    ledger.record("survey.answer", e, actor=actor)
    return e


def _outside(q: SurveyQuestion, v) -> str:
    if q.kind == QuestionKind.SCALE:
        return f"第 {q.order} 题的评分应在 1 到 {q.survey.scale_max} 之间,不能是 {v}"
    return f"第 {q.order} 题没有“{v}”这个选项"


@act("system.survey", unit=lambda survey, **_: survey.root)
@transaction.atomic
def survey_tally(survey: Survey, *, actor, respondents, counts: dict) -> SurveyEntry:
    """录入纸质问卷的汇总 — ``counts`` is {question id: {option: count}}; each question's counts
    add up to at most the number of forms (a question may be left blank)."""
    _open_for_answers(survey)
    try:
        n = int(respondents)
    except (TypeError, ValueError):
        raise ValidationError("请填写答卷份数") from None
    if n < 1:
        raise ValidationError("答卷份数至少为 1")
    clean = {}
    for q in survey.questions.all():
        given = counts.get(q.pk, counts.get(str(q.pk), {})) or {}
        row = {}
        for opt, c in given.items():
            if str(c).strip() in ("", "0"):
                continue
            if str(opt) not in q.options():
                raise ValidationError(_outside(q, opt))
            try:
                k = int(c)
            except (TypeError, ValueError):
                raise ValidationError(f"第 {q.order} 题的人数应为整数") from None
            if k < 0:
                raise ValidationError(f"第 {q.order} 题的人数不能为负数")
            row[str(opt)] = k
        if sum(row.values()) > n:
            raise ValidationError(f"第 {q.order} 题各选项人数合计 {sum(row.values())},超过答卷份数 {n}")
        clean[str(q.pk)] = row
    e = SurveyEntry.objects.create(survey=survey, respondents=n, counts=clean, entered_by=actor, entered_on=timezone.localdate())
    ledger.record("survey.tally", e, actor=actor)
    return e


def survey_results(survey: Survey) -> dict:
    """Per question: counts per option, answers, mean score and satisfied share (scale), shares
    (choice); overall: respondents and the satisfied share of all scale answers (满意率)."""
    entries = list(survey.entries.all())
    rows, sat_all, ans_all = [], 0, 0
    for q in survey.questions.all():
        counts = {o: 0 for o in q.options()}
        for e in entries:
            for o, c in e.counts.get(str(q.pk), {}).items():
                counts[o] = counts.get(o, 0) + c
        n = sum(counts.values())
        row = {"order": q.order, "text": q.text, "kind": q.kind, "counts": counts, "answers": n,
               "shares": {o: (c / n if n else None) for o, c in counts.items()}}
        if q.kind == QuestionKind.SCALE:
            total = sum(int(o) * c for o, c in counts.items())
            sat = sum(c for o, c in counts.items() if int(o) >= survey.satisfied_min)
            row["mean"] = round(total / n, 2) if n else None
            row["satisfied"] = sat / n if n else None
            sat_all, ans_all = sat_all + sat, ans_all + n
        rows.append(row)
    return {"title": survey.title, "population": str(Population(survey.population).label), "start": survey.start.isoformat(),
            "end": survey.end.isoformat(), "respondents": sum(e.respondents for e in entries), "questions": rows,
            "satisfied": sat_all / ans_all if ans_all else None, "scale_max": survey.scale_max,
            "satisfied_min": survey.satisfied_min}


def satisfaction_for_review(root: Unit, year: int) -> list[dict]:
    """The year's surveys of ``root``'s subtree (by their end date) with overall results, for the
    management review (§9.3.2 c 1)."""
    out = []
    for s in Survey.objects.filter(root__path__startswith=root.path, end__year=year).select_related("root").order_by("end", "pk"):
        r = survey_results(s)
        out.append({"unit": s.root.name, "title": s.title, "population": r["population"], "end": r["end"],
                    "respondents": r["respondents"], "satisfied": r["satisfied"],
                    "questions": [{"text": q["text"], "mean": q.get("mean"), "satisfied": q.get("satisfied")}
                                  for q in r["questions"] if q["kind"] == QuestionKind.SCALE]})
    return out
