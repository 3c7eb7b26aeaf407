"""管理评审 (ISO 9001 §9.3) — plan the meeting, gather its inputs from the data, hold it (the
meeting record), and turn its outputs into decisions whose actions are tickets in the same
corrective/improvement machine as nonconformities (source 管理评审, grade 改进项). A decision
may require a new version of a procedure: its ticket cannot be verified until one takes effect
— the loop back to document control (持续改进).
"""
from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django_fsm import ConcurrentTransition, TransitionNotAllowed, can_proceed

from audits.capa.models import OPEN_STATES, Grade, NCSource, NCState, Nonconformity
from audits.capa.services import nc_raise, rectification_of
from audits.internal.models import Audit
from audits.performance import indicators
from audits.performance.models import Objective
from audits.review.models import DecisionKind, ManagementReview, ReviewDecision
from audits.system.services import open_risks, satisfaction_for_review
from procedures.models import DocumentVersion, VersionStatus
from qms import ledger, signatures
from qms.figures import member_count
from qms.models import SignatureMeaning, Unit
from qms.permissions import act
from workflows.compliance import compliance

CONFLICT = "该管理评审已被他人处理,请刷新页面后重试"


def _manager(actor, root: Unit) -> None:
    """Who may act is the permission matrix's (``review.manage``); the system never does."""
    if actor is None:
        raise ValidationError("管理评审须由具名人员办理")


@act("review.manage", unit=lambda root, **_: root)
@transaction.atomic
def review_plan(*, actor, root: Unit, year: int, planned_on: dt.date, chair, title: str = "") -> ManagementReview:
    """策划管理评审 — a date not in the past and a chair."""
    _manager(actor, root)
    if planned_on < timezone.localdate():
        raise ValidationError({"planned_on": "计划日期不能早于今天"})
    if chair is None:
        raise ValidationError({"chair": "请指定主持人"})
    r = ManagementReview.objects.create(root=root, year=year, planned_on=planned_on, chair=chair,
                                        title=(title or "").strip() or f"{root.name}{year}年度管理评审")
    ledger.record("review.plan", r, actor=actor)
    return r


def review_inputs(root: Unit, year: int, *, today: dt.date | None = None) -> dict:
    """评审输入 (ISO 9001 §9.3.2), gathered from the data for ``root``'s subtree and ``year``:
    previous reviews' actions, changes (procedure versions that took effect), objectives vs
    results, compliance by procedure, nonconformities and 整改率, audit results, open
    observations (improvement opportunities), satisfaction survey results (§9.3.2 c 1) and the open
    risks and opportunities with their actions (§9.3.2 e)."""
    today = today or timezone.localdate()
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    sub = {"unit__path__startswith": root.path}

    audits = Audit.objects.filter(root__path__startswith=root.path, year=year)
    findings = dict(Nonconformity.objects.filter(audit__in=audits).values_list("grade").annotate(n=Count("id")).order_by())
    audit_rows = [{"title": a.title, "state": a.get_state_display(), "start": a.start.isoformat(), "conclusion": a.conclusion}
                  for a in audits.order_by("start")]

    m = compliance(root, year, today=today, cells=False)
    by_obligation = [{"key": k, "title": m.obligations[k], **r.as_dict()} for k, r in sorted(m.by_obligation.items())]

    ncs = Nonconformity.objects.filter(**sub, raised_on__gte=start, raised_on__lte=end)
    st = rectification_of(root, year)
    members_on = min(end, today)
    members = member_count(root, on=members_on)
    by_state = dict(ncs.values_list("state").annotate(n=Count("id")).order_by())
    overdue = ncs.filter(state__in=OPEN_STATES, due_date__lt=today).count()

    objectives = []
    for o in Objective.objects.filter(root=root, year=year).order_by("id"):
        share = indicators.value(o.indicator, root, start, end, today=today)
        objectives.append({"title": o.title, "indicator": o.indicator, "target": f"{o.get_comparator_display()}{o.target}%",
                           "value": share.value, "num": share.num, "den": share.den, "met": o.met(share.value)})

    previous = [{"review": d.review.title, "text": d.text, "ticket": d.action.code, "state": d.action.get_state_display(),
                 "done": d.action.state not in OPEN_STATES}
                for d in ReviewDecision.objects.filter(review__root=root, review__year__lt=year)
                .select_related("review", "action").order_by("review__held_on", "id")]

    changes = [{"code": v.document.code, "title": v.document.title, "label": v.label, "effective_on": v.effective_on.isoformat(),
                "reason": v.change_reason}
               for v in DocumentVersion.objects.filter(effective_on__gte=start, effective_on__lte=min(end, today),
                                                       status__in=(VersionStatus.EFFECTIVE, VersionStatus.SUPERSEDED))
               .select_related("document").order_by("effective_on", "document__code")]

    return {
        "unit": root.name, "year": year, "as_of": today.isoformat(),
        "members": {"total": members.total, "full": members.full, "on": members_on.isoformat()},
        "previous_actions": previous,
        "changes": changes,
        "objectives": objectives,
        "compliance": {"overall": m.overall.as_dict(), "by_obligation": by_obligation},
        "nonconformities": {"total": st.total, "rectified": st.rectified, "on_time": st.on_time, "rate": st.rate,
                            "on_time_rate": st.on_time_rate, "mean_days": st.mean_days,
                            "overdue": overdue,
                            "by_state": {str(NCState(k).label): v for k, v in sorted(by_state.items())}},
        "audits": {"count": len(audit_rows), "list": audit_rows,
                   "findings": {str(Grade(k).label): v for k, v in sorted(findings.items())}},
        "opportunities": ncs.filter(grade=Grade.OBSERVATION, state__in=OPEN_STATES).count(),
        "satisfaction": satisfaction_for_review(root, year),
        "risks": open_risks(root),
    }


def _move(review: ManagementReview, method: str, *, actor, **changes) -> ManagementReview:
    r = ManagementReview.objects.select_for_update().get(pk=review.pk)
    if r.state != review.state:
        raise ValidationError(CONFLICT)
    before = ledger.snapshot(r)
    for k, v in changes.items():
        setattr(r, k, v)
    bound = getattr(r, method)
    if not can_proceed(bound):
        raise ValidationError("请先汇集评审输入并填写召开日期和会议记录" if method == "hold"
                              else f"当前状态“{r.get_state_display()}”不允许此操作")
    try:
        bound()
        r.save()
    except (ConcurrentTransition, TransitionNotAllowed) as exc:
        raise ValidationError(CONFLICT) from exc
    ledger.record(f"review.{method}", r, actor=actor, before=before)
    return r


@act("review.manage", unit=lambda review, **_: review.root)
@transaction.atomic
def review_gather(review: ManagementReview, *, actor) -> ManagementReview:
    """汇集评审输入 — may be refreshed until the meeting is held; each snapshot is ledgered."""
    _manager(actor, review.root)
    r = ManagementReview.objects.select_for_update().get(pk=review.pk)
    if r.state != "planned":
        raise ValidationError("评审已召开,输入不能再更新")
    before = ledger.snapshot(r)
    r.inputs = review_inputs(r.root, r.year)
    r.inputs_at = timezone.now()
    r.save(update_fields=["inputs", "inputs_at"])
    ledger.record("review.gather", r, actor=actor, before=before)
    return r


@act("review.manage", unit=lambda review, **_: review.root)
@transaction.atomic
def review_hold(review: ManagementReview, *, actor, held_on: dt.date, attendees: str, minutes: str,
                conclusion: str) -> ManagementReview:
    """召开评审 — the meeting record and the conclusion on the system's suitability,
    adequacy and effectiveness (§9.3.3)."""
    _manager(actor, review.root)
    if held_on > timezone.localdate():
        raise ValidationError({"held_on": "召开日期不能晚于今天"})
    missing = [k for k, v in (("出席人员", attendees), ("会议记录", minutes), ("评审结论", conclusion)) if not (v or "").strip()]
    if missing:
        raise ValidationError(f"请填写:{'、'.join(missing)}")
    return _move(review, "hold", actor=actor, held_on=held_on, attendees=attendees.strip(), minutes=minutes.strip(),
                 conclusion=conclusion.strip())


@act("review.manage", unit=lambda review, **_: review.root)
@transaction.atomic
def decision_add(review: ManagementReview, *, actor, kind: str, text: str, unit: Unit, document=None) -> ReviewDecision:
    """评审输出 → 措施单: a ticket for ``unit`` in the corrective/improvement machine; with a
    ``document`` it can only be verified after a new version of that procedure takes effect."""
    _manager(actor, review.root)
    r = ManagementReview.objects.select_for_update().get(pk=review.pk)
    if r.state != "held":
        raise ValidationError("评审召开后、关闭前才能形成输出")
    if kind not in DecisionKind.values:
        raise ValidationError("请选择输出类别")
    if not unit.path.startswith(r.root.path):
        raise ValidationError(f"责任组织不在{r.root.name}范围内")
    if not (text or "").strip():
        raise ValidationError("请填写决定内容")
    nc = nc_raise(actor=actor, unit=unit, source=NCSource.REVIEW, grade=Grade.IMPROVEMENT, clause="9.3.3",
                  requirement=text.strip(), evidence=f"{r.title}({r.held_on:%Y-%m-%d})决定({DecisionKind(kind).label}):{text.strip()}",
                  requires_document=document)
    d = ReviewDecision.objects.create(review=r, kind=kind, text=text.strip(), action=nc)
    ledger.record("review.decision", d, actor=actor)
    return d


@act("review.manage", unit=lambda review, **_: review.root)
@transaction.atomic
def review_close(review: ManagementReview, *, actor, password: str | None = None) -> ManagementReview:
    """关闭评审 — the review with its outputs is approved and signed electronically by the one
    who closes it (password re-entered; meaning 批准, over ``signed_review``)."""
    _manager(actor, review.root)
    pending = signatures.prepare(actor, password, SignatureMeaning.APPROVE)
    r = _move(review, "close", actor=actor)
    signatures.attach(pending, r)
    return r


def signed_review(review: ManagementReview) -> dict:
    """What the signature on a management review covers (电子签名的内容): its title, year,
    organisation, chair, the inputs gathered, the meeting (date, attendees, minutes), the
    conclusion and every decision with its ticket."""
    return {
        "title": review.title, "year": review.year, "root": review.root_id, "chair": review.chair_id,
        "planned_on": review.planned_on, "inputs": review.inputs, "held_on": review.held_on,
        "attendees": review.attendees, "minutes": review.minutes, "conclusion": review.conclusion,
        "decisions": [[d.kind, d.text, d.action.code] for d in review.decisions.order_by("pk").select_related("action")],
    }
