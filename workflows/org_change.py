"""组织设置调整 — setting up, merging, splitting and dissolving 党组织 by request and approval
(seed 001 三(二)1: 党组织“经上级党组织批准”成立; 联合党支部覆盖单位一般不超过5个; 临时党支部为执行
某项任务临时组建).

A request (``OrgChange``) is made under the organisation ``parent`` by its 书记/委员 (or one above,
or a 体系管理员) — act ``org_change.run``. The higher organisation's answer is a 上级批复
(``qms.HigherDecision`` of matter 成立/合并/拆分/撤销党组织, decided by ``parent`` itself or an
organisation above it: the new unit's 上级党组织). A 同意 lets the request be carried out on a
day (``effective_on``): new units are created (their 成立批复 is the decision), members are moved
by dated memberships (``qms.services.member_transfer``), the 发展党员 files follow them, the old
units' offices end the day before, their open 三会一课 and other occurrences due later are
cancelled, and the old units (with their 党小组) are closed. Each step is one transaction with its
ledger entries; anything refused leaves nothing saved. Units that already exist are recorded
directly (``qms.services.unit_create`` with their ``founding_ref``).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from qms import ledger
from qms import services as core
from qms.models import (
    BRANCH_KINDS,
    AdminUnit,
    HigherDecision,
    Member,
    MemberStatus,
    Position,
    Unit,
    UnitKind,
)
from qms.permissions import act
from workflows import org_change_flows as flows
from workflows import services as wf
from workflows.models import (
    Applicant,
    Occurrence,
    OrgChange,
    OrgChangeKind,
    OrgChangeState,
    RecruitStage,
    State,
)

#: the matter of the 上级批复 each kind of request needs (qms/rules/decisions.toml)
DECISION_KIND = {OrgChangeKind.SETUP: "org_setup", OrgChangeKind.MERGE: "org_merge",
                 OrgChangeKind.SPLIT: "org_split", OrgChangeKind.DISSOLVE: "org_dissolve"}

#: what a proposed unit may carry (the rest of ``qms.services.unit_create``'s fields are set on 实施)
UNIT_FIELDS = ("code", "name", "kind", "term_years", "task", "ends_on", "admin_units")


def _parent(change=None, parent=None, **_) -> Unit:
    return change.parent if change is not None else parent


def on_roll(unit: Unit):
    """The members whose open membership is in ``unit`` (a 党支部) — those a change must move."""
    return Member.objects.filter(memberships__unit=unit, memberships__end__isnull=True,
                                 status=MemberStatus.ACTIVE).distinct().order_by("name")


def _proposed(rows: list[dict], parent: Unit, *, branch_only: bool) -> list[dict]:
    """Check each proposed unit as ``unit_create`` will (codes distinct across the request) and
    return them in storable form. A refusal names the row."""
    out: list[dict] = []
    taken: set[str] = set()
    for i, row in enumerate(rows, 1):
        unknown = set(row) - set(UNIT_FIELDS)
        if unknown:
            raise ValidationError(f"拟成立组织的内容有误:{'、'.join(sorted(unknown))}")
        kind = row.get("kind") or ""
        label = (row.get("name") or "").strip() or f"第{i}个拟成立的组织"
        if branch_only and kind not in BRANCH_KINDS:
            raise ValidationError({"new_units": f"{label}:合并或拆分后的组织应为党支部、联合党支部或临时党支部"})
        admin_ids = [int(a) for a in row.get("admin_units") or ()]
        admin_units = list(AdminUnit.objects.filter(pk__in=admin_ids))
        ends_on = row.get("ends_on")
        if isinstance(ends_on, str):
            ends_on = dt.date.fromisoformat(ends_on) if ends_on else None
        try:
            core.unit_check(code=row.get("code") or "", name=row.get("name") or "", kind=kind, parent=parent,
                            term_years=row.get("term_years"), task=row.get("task") or "", ends_on=ends_on,
                            admin_units=admin_units, taken_codes=taken, new=True)
        except ValidationError as exc:
            raise ValidationError({"new_units": f"{label}:{';'.join(exc.messages)}"}) from None
        code = row["code"].strip()
        taken.add(code)
        out.append({"code": code, "name": row["name"].strip(), "kind": kind, "term_years": row.get("term_years"),
                    "task": (row.get("task") or "").strip(), "ends_on": ends_on.isoformat() if ends_on else None,
                    "admin_units": [a.pk for a in admin_units]})
    return out


def _check_sources(parent: Unit, sources: list[Unit], *, branch_only: bool) -> None:
    for u in sources:
        if u.parent_id != parent.pk:
            raise ValidationError({"sources": f"“{u.name}”不是“{parent.name}”的直属组织,应由它的上级组织请示"})
        if not u.is_active:
            raise ValidationError({"sources": f"“{u.name}”已撤销"})
        if branch_only and u.kind not in BRANCH_KINDS:
            raise ValidationError({"sources": f"“{u.name}”不是党支部:合并、拆分只用于党支部,党总支、党委的调整请逐个撤销、成立"})
        below = Unit.objects.filter(parent=u, is_active=True).exclude(kind=UnitKind.GROUP)
        if below.exists():
            raise ValidationError({"sources": f"“{u.name}”下还有{'、'.join(below.values_list('name', flat=True))},"
                                              "请先调整或撤销这些下级组织"})
    if OrgChange.objects.filter(sources__in=sources, state__in=(OrgChangeState.REQUESTED, OrgChangeState.APPROVED)).exists():
        raise ValidationError({"sources": "所选组织已有尚未办结的组织设置请示"})


@act("org_change.run", unit=_parent)
@transaction.atomic
def request(*, actor, parent: Unit, kind: str, reason: str, sources: list[Unit] = (),
            new_units: list[dict[str, Any]] = (), receiver: Unit | None = None,
            allocation: dict[int, str] | None = None) -> OrgChange:
    """请示 — ask the higher organisation to set up (``new_units``), merge (``sources`` into the
    ``receiver`` among them, or into one new unit), split (one source into ``new_units``, each
    member of it assigned by ``allocation`` member id → new unit code) or dissolve (``sources``;
    their members go to ``receiver``)."""
    if kind not in OrgChangeKind.values:
        raise ValidationError({"kind": "请选择请示事项"})
    if not (reason or "").strip():
        raise ValidationError({"reason": "请填写请示理由"})
    if not parent.is_active:
        raise ValidationError(f"“{parent.name}”已撤销")
    sources = list(dict.fromkeys(sources))
    allocation = {int(k): v for k, v in (allocation or {}).items()}
    proposed: list[dict] = []
    if kind == OrgChangeKind.SETUP:
        if sources or receiver is not None:
            raise ValidationError("成立党组织不涉及现有组织")
        if not new_units:
            raise ValidationError({"new_units": "请填写拟成立的组织"})
        proposed = _proposed(list(new_units), parent, branch_only=False)
    elif kind == OrgChangeKind.MERGE:
        if len(sources) < 2:
            raise ValidationError({"sources": "合并至少涉及两个党支部"})
        _check_sources(parent, sources, branch_only=True)
        if receiver is not None and receiver not in sources:
            raise ValidationError({"receiver": "合并后保留的组织应是被合并的党支部之一;合并为新支部的,请填写新支部而不选保留的组织"})
        if receiver is None:
            if len(new_units) != 1:
                raise ValidationError({"new_units": "请选择合并后保留的党支部,或填写合并成立的一个新党支部"})
            proposed = _proposed(list(new_units), parent, branch_only=True)
        elif new_units:
            raise ValidationError({"new_units": "已选择保留的党支部,不再成立新支部"})
    elif kind == OrgChangeKind.SPLIT:
        if len(sources) != 1:
            raise ValidationError({"sources": "拆分请选择一个党支部"})
        _check_sources(parent, sources, branch_only=True)
        if len(new_units) < 2:
            raise ValidationError({"new_units": "拆分后至少成立两个党支部"})
        proposed = _proposed(list(new_units), parent, branch_only=True)
        _check_allocation(sources[0], allocation, {p["code"] for p in proposed})
    else:  # dissolve
        if not sources:
            raise ValidationError({"sources": "请选择要撤销的组织"})
        _check_sources(parent, sources, branch_only=False)
        _check_receiver(sources, receiver)
    change = OrgChange.objects.create(kind=kind, parent=parent, reason=reason.strip(), new_units=proposed,
                                      receiver=receiver, allocation={str(k): v for k, v in allocation.items()},
                                      requested_by=actor if getattr(actor, "pk", None) else None,
                                      requested_on=timezone.localdate())
    change.sources.set(sources)
    ledger.record("org_change.request", change, actor=actor, reason=reason.strip())
    flows.begin(change)
    return change


def _check_allocation(source: Unit, allocation: dict[int, str], codes: set[str]) -> None:
    """Every member on the source's roll goes to one of the new units."""
    missing = [m.name for m in on_roll(source) if allocation.get(m.pk) not in codes]
    if missing:
        raise ValidationError({"allocation": f"{'、'.join(missing)} 还没有确定去哪个新党支部"})


def _check_receiver(sources: list[Unit], receiver: Unit | None) -> None:
    """A dissolved unit's members need a 党支部 to go to (not one being dissolved)."""
    has_members = any(on_roll(u).exists() for u in sources if u.kind in BRANCH_KINDS)
    if receiver is None:
        if has_members:
            raise ValidationError({"receiver": "被撤销的党支部还有党员,请选择接收党员的党支部"})
        return
    if receiver in sources or receiver.kind not in BRANCH_KINDS or not receiver.is_active:
        raise ValidationError({"receiver": "接收党员的应是一个不在撤销之列、仍然有效的党支部"})


def _locked(change: OrgChange, state: str, step: str) -> OrgChange:
    c = OrgChange.objects.select_for_update().select_related("parent").get(pk=change.pk)
    if c.state != state:
        raise ValidationError(f"当前进度为“{c.get_state_display()}”,不能办理“{step}”:依次为请示、上级批复、实施")
    c.ledger_before = ledger.snapshot(c)
    return c


@act("org_change.run", unit=_parent)
@transaction.atomic
def answer(change: OrgChange, *, actor, decision: HigherDecision | None) -> OrgChange:
    """上级批复 — the higher organisation's decision on the request (同意 or 不同意), recorded first
    as a 上级批复 of the matching matter concerning ``parent``."""
    c = _locked(change, OrgChangeState.REQUESTED, "上级批复")
    matter = DECISION_KIND[c.kind]
    if decision is None:
        core.approving_decision(c.parent, matter, None)  # the Chinese refusal naming the matter
    if decision.unit_id != c.parent_id or decision.kind != matter:
        core.approving_decision(c.parent, matter, decision)
    if decision.date < c.requested_on:
        raise ValidationError({"decision": f"批复 {decision.doc_number} 早于请示日期,不是对本请示的批复"})
    c.decision = decision
    if decision.outcome == "approved":
        c.approve()
    else:
        c.refuse()
    c.save()
    ledger.record("org_change.answer", c, actor=actor, before=c.ledger_before,
                  reason=f"上级批复 {decision.doc_number}:{decision.get_outcome_display()}")
    flows.complete(c, flows.OrgChangeFlow.answer, actor)
    return c


@act("org_change.run", unit=_parent)
@transaction.atomic
def carry_out(change: OrgChange, *, actor, effective_on: dt.date | None) -> OrgChange:
    """实施 — on ``effective_on`` (not before the approval, not in the future): create the new
    units, move the members, close the old units."""
    c = _locked(change, OrgChangeState.APPROVED, "实施")
    if effective_on is None:
        raise ValidationError({"effective_on": "请填写实施日期"})
    if effective_on > timezone.localdate():
        raise ValidationError({"effective_on": "实施日期不能晚于今天"})
    if effective_on < c.decision.date:
        raise ValidationError({"effective_on": f"实施日期不能早于上级批复日期({c.decision.date:%Y-%m-%d})"})
    sources = list(c.sources.order_by("path"))
    if sources:  # the roll and the tree may have changed since the request
        _check_sources_again(c, sources)
    ref = f"{c.decision.decided_by} {c.decision.doc_number}"
    made = {}
    for row in c.new_units:
        ends_on = dt.date.fromisoformat(row["ends_on"]) if row.get("ends_on") else None
        made[row["code"]] = core.unit_create(
            actor=actor, code=row["code"], name=row["name"], kind=row["kind"], parent=c.parent, founded_on=effective_on,
            term_start=effective_on if row["kind"] != UnitKind.GROUP else None, term_years=row.get("term_years"),
            admin_units=list(AdminUnit.objects.filter(pk__in=row.get("admin_units") or ())), founding_ref=ref,
            task=row.get("task") or "", ends_on=ends_on)
    c.created_units.set(made.values())
    if c.kind == OrgChangeKind.MERGE:
        target = c.receiver or next(iter(made.values()))
        for u in sources:
            if u.pk != target.pk:
                _move_all(u, lambda _m, t=target: t, c, actor, effective_on)
                _close(u, c, actor, effective_on)
    elif c.kind == OrgChangeKind.SPLIT:
        where = {int(k): made[v] for k, v in c.allocation.items()}
        _move_all(sources[0], lambda m: where[m.pk], c, actor, effective_on)
        _close(sources[0], c, actor, effective_on)
    elif c.kind == OrgChangeKind.DISSOLVE:
        for u in sources:
            if u.kind in BRANCH_KINDS:
                _move_all(u, lambda _m: c.receiver, c, actor, effective_on)
            _close(u, c, actor, effective_on)
    c.effective_on = effective_on
    c.carry_out()
    c.save()
    names = "、".join(u.name for u in made.values())
    ledger.record("org_change.carry_out", c, actor=actor, before=c.ledger_before,
                  reason=f"依据上级批复 {c.decision.doc_number} 于 {effective_on:%Y-%m-%d} 实施" + (f";成立 {names}" if names else ""))
    flows.complete(c, flows.OrgChangeFlow.carry_out, actor)
    return c


def _check_sources_again(c: OrgChange, sources: list[Unit]) -> None:
    for u in sources:
        if not u.is_active:
            raise ValidationError(f"“{u.name}”已撤销,不能再实施本请示")
        below = Unit.objects.filter(parent=u, is_active=True).exclude(kind=UnitKind.GROUP)
        if below.exists():
            raise ValidationError(f"“{u.name}”下还有{'、'.join(below.values_list('name', flat=True))},请先调整这些下级组织")
    if c.kind == OrgChangeKind.SPLIT:
        try:
            _check_allocation(sources[0], {int(k): v for k, v in c.allocation.items()}, {r["code"] for r in c.new_units})
        except ValidationError as exc:
            raise ValidationError(f"请示后党员名单有变化:{exc.messages[0]},请重新请示") from None
    if c.kind == OrgChangeKind.DISSOLVE:
        _check_receiver(sources, c.receiver)


def _move_all(unit: Unit, where, c: OrgChange, actor, day: dt.date) -> None:
    """Move every member on ``unit``'s roll (to ``where(member)``) and the 发展党员 files in hand."""
    note = f"{c.get_kind_display()}(上级批复 {c.decision.doc_number})"
    for m in on_roll(unit):
        core.member_transfer(m, actor=actor, date=day, to_unit=where(m), note=note)
    for a in Applicant.objects.select_for_update().filter(unit=unit).exclude(stage=RecruitStage.DONE):
        target = where(a.member) if a.member_id else (c.receiver or next(iter(c.created_units.all()), None))
        if target is None:
            continue
        before = ledger.snapshot(a)
        a.unit = target
        a.save(update_fields=["unit"])
        ledger.record("applicant.move", a, actor=actor, before=before, reason=note)


def _close(unit: Unit, c: OrgChange, actor, day: dt.date) -> None:
    """The old unit (and its 党小组) closes: offices end the day before, occurrences due from
    ``day`` on are cancelled, the units are marked 撤销 (kept, with their records)."""
    note = f"{c.get_kind_display()}(上级批复 {c.decision.doc_number})"
    last = day - dt.timedelta(days=1)
    units = [unit, *Unit.objects.filter(parent=unit, is_active=True)]
    for u in units:
        for p in Position.objects.filter(unit=u, end__isnull=True).order_by("pk"):
            core.position_end(p, actor=actor, end=max(last, p.start), reason=note)
        for occ in Occurrence.objects.filter(unit=u, state__in=(State.OPEN, State.PLANNED), due_date__gte=day):
            wf.occurrence_cancel(occ, actor=actor, reason=f"组织已撤销:{note}")
        core.unit_update(u, actor=actor, reason=f"撤销:{note}", is_active=False)
