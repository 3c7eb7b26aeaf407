"""Execution services: the only code that moves an occurrence through its PDCA states.
Each call is one transaction with its ledger entry; two people acting at once on the same
occurrence get one success and one clear refusal (row lock + optimistic FSM lock)."""
from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition, TransitionNotAllowed, can_proceed

from qms import ledger
from workflows.models import Occurrence, State

CONFLICT = "该事项已被他人更新,请刷新页面后重试"


def _move(occ: Occurrence, method: str, *, actor, reason: str = "", **changes) -> Occurrence:
    o = Occurrence.objects.select_for_update().get(pk=occ.pk)
    if o.state != occ.state:
        raise ValidationError(CONFLICT)
    before = ledger.snapshot(o)
    for k, v in changes.items():
        setattr(o, k, v)
    bound = getattr(o, method)
    if not can_proceed(bound):
        raise ValidationError(f"当前状态“{o.get_state_display()}”不允许此操作,或条件未满足")
    try:
        bound()
        o.updated_by = actor
        o.save()
    except (ConcurrentTransition, TransitionNotAllowed) as exc:
        raise ValidationError(CONFLICT) from exc
    ledger.record(f"occurrence.{method}", o, actor=actor, before=before, reason=reason)
    occ.refresh_from_db()
    return o


@transaction.atomic
def occurrence_plan(occ: Occurrence, *, actor, planned_date: dt.date, place: str, topic: str) -> Occurrence:
    """P 计划 — set date, place and topic. A date outside the period is allowed but marked late."""
    missing = [n for n, v in (("日期", planned_date), ("地点", (place or "").strip()), ("主题/议程", (topic or "").strip())) if not v]
    if missing:
        raise ValidationError(f"计划缺少:{'、'.join(missing)}")
    if planned_date < occ.period_start:
        raise ValidationError({"planned_date": f"计划日期早于本期开始({occ.period_start:%Y-%m-%d})"})
    return _move(occ, "plan", actor=actor, planned_date=planned_date, place=place.strip(), topic=topic.strip(),
                 late=planned_date > occ.due_date)


@transaction.atomic
def occurrence_cancel(occ: Occurrence, *, actor, reason: str) -> Occurrence:
    if not (reason or "").strip():
        raise ValidationError({"reason": "取消必须说明原因"})
    return _move(occ, "cancel", actor=actor, reason=reason, remark=reason)


def mark_missed() -> int:
    """Daily: every open or planned occurrence past its due date becomes a gap (未开展)."""
    n = 0
    for occ in Occurrence.objects.filter(state__in=[State.OPEN, State.PLANNED], due_date__lt=timezone.localdate()):
        with transaction.atomic():
            _move(occ, "miss", actor=None, reason="到期未开展", remark="到期未开展")
        n += 1
    return n
