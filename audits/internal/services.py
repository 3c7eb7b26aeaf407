"""Internal audit services (ISO 9001 §9.2, ISO 19011 §5–6): plan with auditor independence
and time-limited access, checklist from the scope, reproducible stratified sampling,
checklist results, findings that become nonconformities, opening and reporting.
"""
from __future__ import annotations

import datetime as dt
import math
import random

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audits.capa.models import NCSource
from audits.capa.services import nc_raise
from audits.internal.models import (
    Audit,
    AuditMeeting,
    ChecklistItem,
    ChecklistTemplate,
    ItemResult,
    MeetingKind,
    SampledRecord,
)
from procedures.rules import effective_rules
from qms import ledger, signatures
from qms import services as core
from qms.models import Member, Role, SignatureMeaning, Unit
from qms.permissions import act
from qms.rules import rules_for
from qms.scoping import can_manage, can_see, is_admin
from workflows.models import Occurrence, State

DONE = (State.HELD, State.CHECKED, State.CLOSED)


def own_units(user, day: dt.date) -> list[Unit]:
    """The units a person belongs to or holds office in on a day."""
    units = list(Unit.objects.filter(memberships__member__user=user, memberships__start__lte=day)
                 .filter(Q(memberships__end__isnull=True) | Q(memberships__end__gte=day)))
    units += list(Unit.objects.filter(positions__member__user=user, positions__start__lte=day)
                  .filter(Q(positions__end__isnull=True) | Q(positions__end__gte=day)))
    return units


def independence_conflicts(users, units, day: dt.date, *, actor=None) -> list[str]:
    """Nobody audits their own unit, a unit in their own subtree, or a unit that contains theirs.
    The auditor's own unit is named only where ``actor`` (who is told) may see it (qms/scoping.py):
    a unit above the actor's scope is "上级组织"."""
    out = []
    for user in users:
        for own in own_units(user, day):
            for u in units:
                if u.path.startswith(own.path) or own.path.startswith(u.path):
                    where = f"“{own.name}”" if actor is None or can_see(actor, own) else "其上级组织"
                    out.append(f"{user.get_full_name() or user.get_username()} 属于或任职于{where},不能审核“{u.name}”")
    return sorted(set(out))


def may_plan(user, root: Unit) -> bool:
    """体系管理员, the unit's own leaders, or an internal auditor whose standing grant covers it
    (the lead auditor prepares the audit plan, ISO 19011 §6.3.2)."""
    from qms.scoping import scopes_for

    if user is None:
        return False
    return is_admin(user) or can_manage(user, root) or any(
        s.level == "internal_auditor" and root.path.startswith(s.path) for s in scopes_for(user))


def audit_duties(actor, audit: Audit | None) -> set[str]:
    """The actor's duties on ``audit`` (``Audit.duties_of``); none without an audit."""
    return set() if audit is None else audit.duties_of(actor)


@act("audit.plan", unit=lambda root, **_: root)
@transaction.atomic
def audit_plan(*, actor, year: int, title: str, root: Unit, units: list[Unit], lead, team=(), documents=(),
               clauses: str = "", objectives: str = "", start: dt.date, end: dt.date) -> Audit:
    """审核计划 — refused with the conflict named when an auditor is not independent."""
    if not units:
        raise ValidationError("请选择受审核组织")
    if end < start:
        raise ValidationError("结束日期不能早于开始日期")
    outside = [u.name for u in units if not u.path.startswith(root.path)]
    if outside:
        raise ValidationError(f"受审核组织不在{root.name}范围内:{'、'.join(outside)}")
    auditors = [lead, *[t for t in team if t != lead]]
    conflicts = independence_conflicts(auditors, units, start, actor=actor)
    if conflicts:
        raise ValidationError("审核员独立性冲突:" + ";".join(conflicts))
    audit = Audit.objects.create(year=year, title=title.strip() or f"{year}年内部审核", root=root, clauses=clauses,
                                 objectives=objectives, lead=lead, start=start, end=end)
    audit.units.set(units)
    audit.team.set(auditors)
    audit.documents.set(documents)
    ledger.record("audit.plan", audit, actor=actor)
    for user in auditors:  # read access to the audited scope for the audit's duration only
        for u in units:
            core.role_grant(actor=actor, user=user, role=Role.INTERNAL_AUDITOR, unit=u, valid_from=start, valid_until=end)
    checklist_generate(audit, actor=actor)
    return audit


ISO_ITEMS = [
    ("7.5.2", "体系文件使用现行有效版本,修订经审核批准"),
    ("7.5.3", "记录要素齐全、清晰完整,更正留有原因"),
    ("10.2", "以往不符合项已按期整改并验证有效"),
]


@act("audit.checklist", unit=lambda audit, **_: audit.root, duties=lambda audit, actor, **_: audit_duties(actor, audit))
def checklist_generate(audit: Audit, *, actor) -> int:
    """检查表 — per audited unit: each effective periodic rule's frequency and record
    completeness, resolutions followed up, term not expired, and the ISO clause items."""
    n = 0
    order = 0
    for unit in audit.units.order_by("path"):
        rows = []
        for rule in effective_rules(unit):
            ob = rule.obligation
            if ob.event:
                continue
            rows.append((rule.document.code, f"{ob.title}:{ob.frequency_text()},本年度应开展 {ob.expected_per_year()} 次,实际达标"))
            rows.append((rule.document.code, f"{ob.title}:抽查记录要素齐全、决议分工落实"))
        rows.append(("DJ-CX-11", "任期未届满,或已按期换届"))
        rows += ISO_ITEMS
        for clause, text in rows:
            order += 1
            item = ChecklistItem.objects.create(audit=audit, unit=unit, clause=clause, text=text, order=order)
            ledger.record("checklist.add", item, actor=actor)
            n += 1
    return n


@act("audit.sample", unit=lambda audit, **_: audit.root, duties=lambda audit, actor, **_: audit_duties(actor, audit))
@transaction.atomic
def sample_draw(audit: Audit, *, actor, seed: int, per_unit: int | None = None, ratio: float | None = None) -> list[SampledRecord]:
    """抽样 — stratified by unit: from each audited unit's executed records of the year, draw
    ``per_unit`` or ``ratio`` of them with a random generator seeded by (seed, unit code).
    The same inputs always give the same sample; the method and seed are kept on the audit."""
    if (per_unit is None) == (ratio is None) or (per_unit is not None and per_unit < 1) or (ratio is not None and not 0 < ratio <= 1):
        raise ValidationError("请给出每个单位的抽样数量,或 0–1 之间的抽样比例(二者选一)")
    if audit.state != "planned":
        raise ValidationError("首次会议后不能重新抽样")
    before = ledger.snapshot(audit)
    for old in audit.sample.all():
        ledger.record("sample.remove", old, actor=actor, before=ledger.snapshot(old), after=None)
        old.delete()
    drawn = []
    for unit in audit.units.order_by("path"):
        candidates = list(Occurrence.objects.filter(unit__path__startswith=unit.path, state__in=DONE, period_start__year=audit.year)
                          .order_by("pk").values_list("pk", flat=True))
        k = min(len(candidates), per_unit if per_unit is not None else math.ceil(len(candidates) * ratio))
        rng = random.Random(f"{seed}:{unit.code}")
        for pk in sorted(rng.sample(candidates, k)):
            s = SampledRecord.objects.create(audit=audit, occurrence_id=pk, stratum=unit.code)
            ledger.record("sample.draw", s, actor=actor)
            drawn.append(s)
    audit.sample_seed = seed
    audit.sample_method = (f"按受审核组织分层随机抽样,每单位 {per_unit} 份" if per_unit is not None else f"按受审核组织分层随机抽样,比例 {ratio:.0%}") + f",随机种子 {seed}"
    audit.save(update_fields=["sample_seed", "sample_method"])
    ledger.record("audit.sample", audit, actor=actor, before=before)
    return drawn


def _auditor(actor, audit: Audit) -> None:
    if actor is None or not (audit.team.filter(pk=actor.pk).exists() or actor.pk == audit.lead_id):
        raise ValidationError("只有审核组成员可以填写检查表")


def _meeting(audit: Audit, kind: str, *, actor, held_on: dt.date, place: str, auditors, auditees, notes: str) -> AuditMeeting:
    """首次/末次会议记录 — date within the audit, place, the auditors and auditees present, notes."""
    missing = [k for k, v in (("地点", place), ("会议内容", notes)) if not (v or "").strip()]
    if missing:
        raise ValidationError(f"请填写会议{'、'.join(missing)}")
    if not audit.start <= held_on <= max(audit.end, audit.start):
        raise ValidationError(f"会议日期应在审核期间({audit.start:%Y-%m-%d} 至 {audit.end:%Y-%m-%d})")
    if held_on > timezone.localdate():
        raise ValidationError("会议日期不能晚于今天")
    team = set(audit.team.values_list("pk", flat=True)) | {audit.lead_id}
    auditors = list(auditors)
    if not auditors or any(u.pk not in team for u in auditors):
        raise ValidationError("出席审核员须为审核组成员(至少一人)")
    auditees = list(auditees)
    in_scope = Q()
    for u in audit.units.all():
        in_scope |= Q(memberships__unit__path__startswith=u.path, memberships__end__isnull=True)
        in_scope |= Q(positions__unit=u, positions__end__isnull=True)
    allowed = set(Member.objects.filter(in_scope).values_list("pk", flat=True))
    if not auditees or any(m.pk not in allowed for m in auditees):
        raise ValidationError("受审核方出席人员须为受审核组织的党员(至少一人)")
    m = AuditMeeting.objects.create(audit=audit, kind=kind, held_on=held_on, place=place.strip(), notes=notes.strip())
    m.auditors.set(auditors)
    m.auditees.set(auditees)
    ledger.record("audit.meeting", m, actor=actor)
    return m


@act("audit.meeting", unit=lambda audit, **_: audit.root, duties=lambda audit, actor, **_: audit_duties(actor, audit))
@transaction.atomic
def audit_open(audit: Audit, *, actor, held_on: dt.date, place: str, auditors, auditees, notes: str) -> Audit:
    """首次会议 — chaired by the lead auditor; its record (attendance, notes) is kept."""
    if actor is None or actor.pk != audit.lead_id:
        raise ValidationError("首次会议由审核组长主持")
    a = Audit.objects.select_for_update().get(pk=audit.pk)
    if a.state != "planned":
        raise ValidationError("审核已开始")
    _meeting(a, MeetingKind.OPENING, actor=actor, held_on=held_on, place=place, auditors=auditors, auditees=auditees, notes=notes)
    before = ledger.snapshot(a)
    a.open_meeting()
    a.save()
    ledger.record("audit.open", a, actor=actor, before=before)
    return a


def _editable(audit: Audit, actor) -> None:
    """The checklist can change until the report is out. Who may change it is the permission
    matrix's (audit.checklist: the audit team, or a 体系管理员 managing the programme)."""
    if Audit.objects.filter(pk=audit.pk).values_list("state", flat=True).first() == "reported":
        raise ValidationError("审核报告已出具,检查表不能再修改")


@act("audit.checklist", unit=lambda audit, **_: audit.root, duties=lambda audit, actor, **_: audit_duties(actor, audit))
@transaction.atomic
def item_add(audit: Audit, *, actor, unit: Unit | None, clause: str, text: str) -> ChecklistItem:
    """审核员增加检查项 (placed last)."""
    _editable(audit, actor)
    if not (clause or "").strip() or not (text or "").strip():
        raise ValidationError("请填写条款和检查内容")
    if unit is not None and not audit.units.filter(pk=unit.pk).exists():
        raise ValidationError("该组织不在本次审核范围内")
    order = (audit.items.order_by("-order").values_list("order", flat=True).first() or 0) + 1
    item = ChecklistItem.objects.create(audit=audit, unit=unit, clause=clause.strip(), text=text.strip()[:300], order=order)
    ledger.record("checklist.add", item, actor=actor)
    return item


@act("audit.checklist", unit=lambda item, **_: item.audit.root, duties=lambda item, actor, **_: audit_duties(actor, item.audit))
@transaction.atomic
def item_remove(item: ChecklistItem, *, actor, reason: str) -> None:
    """删除检查项 — only before it has a conclusion; the ledger keeps what was removed and why."""
    _editable(item.audit, actor)
    i = ChecklistItem.objects.select_for_update().get(pk=item.pk)
    if i.result or i.finding_id:
        raise ValidationError("已填写结论的检查项不能删除")
    if not (reason or "").strip():
        raise ValidationError("删除检查项须说明原因")
    ledger.record("checklist.remove", i, actor=actor, before=ledger.snapshot(i), after=None, reason=reason.strip())
    i.delete()


@act("audit.checklist", unit=lambda item, **_: item.audit.root, duties=lambda item, actor, **_: audit_duties(actor, item.audit))
@transaction.atomic
def item_move(item: ChecklistItem, *, actor, up: bool) -> ChecklistItem:
    """调整顺序 — swap with the neighbour above or below."""
    _editable(item.audit, actor)
    items = list(ChecklistItem.objects.select_for_update().filter(audit_id=item.audit_id).order_by("order", "id"))
    idx = next(n for n, i in enumerate(items) if i.pk == item.pk)
    other = idx - 1 if up else idx + 1
    if not 0 <= other < len(items):
        return items[idx]
    a, b = items[idx], items[other]
    before_a, before_b = ledger.snapshot(a), ledger.snapshot(b)
    if a.order == b.order:  # older lists may share numbers: renumber first
        for n, i in enumerate(items, start=1):
            i.order = n
        ChecklistItem.objects.bulk_update(items, ["order"])
    a.order, b.order = b.order, a.order
    a.save(update_fields=["order"])
    b.save(update_fields=["order"])
    ledger.record("checklist.move", a, actor=actor, before=before_a)
    ledger.record("checklist.move", b, actor=actor, before=before_b)
    return a


@act("audit.template", unit=lambda audit, **_: audit.root, duties=lambda audit, actor, **_: audit_duties(actor, audit))
@transaction.atomic
def template_save(audit: Audit, *, actor, name: str) -> ChecklistTemplate:
    """另存为检查表模板 — the audit's distinct (clause, text) pairs, in order (who may: the
    permission matrix, audit.template)."""
    if not (name or "").strip():
        raise ValidationError("请填写模板名称")
    if ChecklistTemplate.objects.filter(root=audit.root, name=name.strip()).exists():
        raise ValidationError(f"模板“{name.strip()}”已存在")
    seen, rows = set(), []
    for clause, text in audit.items.order_by("order", "id").values_list("clause", "text"):
        if (clause, text) not in seen:
            seen.add((clause, text))
            rows.append({"clause": clause, "text": text})
    t = ChecklistTemplate.objects.create(name=name.strip(), root=audit.root, items=rows, created_by=actor)
    ledger.record("checklist_template.save", t, actor=actor)
    return t


def templates_for(audit: Audit) -> list[ChecklistTemplate]:
    """The templates an audit may use: its organisation's, and those of the levels above."""
    return [t for t in ChecklistTemplate.objects.select_related("root").order_by("name")
            if audit.root.path.startswith(t.root.path) or t.root.path.startswith(audit.root.path)]


@act("audit.template", unit=lambda audit, **_: audit.root, duties=lambda audit, actor, **_: audit_duties(actor, audit))
@transaction.atomic
def template_apply(audit: Audit, template: ChecklistTemplate, *, actor) -> int:
    """套用模板 — add the template's items for every audited unit, skipping ones already there."""
    _editable(audit, actor)
    if not audit.root.path.startswith(template.root.path) and not template.root.path.startswith(audit.root.path):
        raise ValidationError("该模板不属于本组织")
    have = set(audit.items.values_list("unit_id", "clause", "text"))
    n = 0
    for unit in audit.units.order_by("path"):
        for row in template.items:
            if (unit.pk, row["clause"], row["text"]) in have:
                continue
            item_add(audit, actor=actor, unit=unit, clause=row["clause"], text=row["text"])
            n += 1
    return n


@act("audit.item_record", unit=lambda item, **_: item.audit.root, duties=lambda item, actor, **_: audit_duties(actor, item.audit))
@transaction.atomic
def item_record(item: ChecklistItem, *, actor, result: str, note: str, evidence=()) -> ChecklistItem:
    """检查结论 — 符合/不符合/观察项/不适用, with the records examined and notes."""
    _auditor(actor, item.audit)
    if item.audit.state != "in_progress":
        raise ValidationError("审核未在实施中(首次会议后、出具报告前才能填写)")
    if result not in [v for v in ItemResult.values if v]:
        raise ValidationError("请选择结论")
    if result in (ItemResult.NONCONFORM, ItemResult.OBSERVATION) and not (note or "").strip():
        raise ValidationError("不符合或观察项必须写明客观证据")
    i = ChecklistItem.objects.select_for_update().get(pk=item.pk)
    before = ledger.snapshot(i)
    i.result, i.note = result, (note or "").strip()
    i.save()
    if evidence:
        i.evidence.set(evidence)
    ledger.record("checklist.record", i, actor=actor, before=before)
    return i


@act("audit.finding", unit=lambda item, **_: item.audit.root, duties=lambda item, actor, **_: audit_duties(actor, item.audit))
@transaction.atomic
def finding_raise(item: ChecklistItem, *, actor, grade: str):
    """审核发现 → 不符合项报告单 (with the item's clause, requirement and evidence)."""
    item = ChecklistItem.objects.select_for_update(of=("self",)).select_related("audit", "unit").get(pk=item.pk)
    _auditor(actor, item.audit)
    if item.result not in (ItemResult.NONCONFORM, ItemResult.OBSERVATION):
        raise ValidationError("只有结论为不符合或观察项的条目可以形成审核发现")
    if item.finding_id:
        raise ValidationError("该条目已形成审核发现")
    if item.result == ItemResult.OBSERVATION:
        grade = "observation"
    nc = nc_raise(actor=actor, unit=item.unit, source=NCSource.INTERNAL_AUDIT, grade=grade, clause=item.clause,
                  requirement=item.text, evidence=item.note, audit=item.audit)
    before = ledger.snapshot(item)
    item.finding = nc
    item.save(update_fields=["finding"])
    ledger.record("checklist.finding", item, actor=actor, before=before)
    return nc


@act("audit.meeting", unit=lambda audit, **_: audit.root, duties=lambda audit, actor, **_: audit_duties(actor, audit))
@transaction.atomic
def audit_report(audit: Audit, *, actor, conclusion: str, held_on: dt.date, place: str, auditors, auditees,
                 notes: str, password: str | None = None) -> Audit:
    """末次会议与审核报告 — every item must have a conclusion; the closing meeting is recorded
    and the report signed off electronically by the lead (password re-entered; meaning 确认,
    over ``signed_report``)."""
    if actor is None or actor.pk != audit.lead_id:
        raise ValidationError("审核报告由审核组长出具")
    open_items = audit.items.filter(result="").count()
    if open_items:
        raise ValidationError(f"还有 {open_items} 个检查项未填写结论")
    if not (conclusion or "").strip():
        raise ValidationError("请填写审核结论")
    a = Audit.objects.select_for_update().get(pk=audit.pk)
    if a.state != "in_progress":
        raise ValidationError("审核未在实施中")
    pending = signatures.prepare(actor, password, SignatureMeaning.CONFIRM)
    _meeting(a, MeetingKind.CLOSING, actor=actor, held_on=held_on, place=place, auditors=auditors, auditees=auditees, notes=notes)
    before = ledger.snapshot(a)
    a.conclusion = conclusion.strip()
    a.report()
    a.save()
    ledger.record("audit.report", a, actor=actor, before=before)
    signatures.attach(pending, a)
    return a


def signed_report(audit: Audit) -> dict:
    """What the signature on an audit report covers (电子签名的内容): the audit's title, year,
    organisation, audited units, criteria, objectives, dates, lead and team, sampling, the
    conclusion, every checklist item with its result and note, the findings (code, grade,
    requirement, evidence) and the meetings."""
    return {
        "title": audit.title, "year": audit.year, "root": audit.root_id, "units": sorted(audit.units.values_list("pk", flat=True)),
        "documents": sorted(audit.documents.values_list("pk", flat=True)), "clauses": audit.clauses,
        "objectives": audit.objectives, "lead": audit.lead_id, "team": sorted(audit.team.values_list("pk", flat=True)),
        "start": audit.start, "end": audit.end, "sample_seed": audit.sample_seed, "sample_method": audit.sample_method,
        "conclusion": audit.conclusion,
        "items": list(audit.items.order_by("pk").values_list("unit_id", "clause", "text", "result", "note", "finding_id")),
        "findings": list(audit.findings.order_by("pk").values_list("code", "grade", "clause", "requirement", "evidence")),
        "meetings": [[m.kind, m.held_on, m.place, sorted(x.pk for x in m.auditors.all()), sorted(x.pk for x in m.auditees.all())]
                     for m in audit.meetings.order_by("pk").prefetch_related("auditors", "auditees")],
    }


@act("programme.build", unit=lambda root, **_: root)
@transaction.atomic
def programme_build(root: Unit, year: int, *, actor) -> list:
    """审核方案 (ISO 9001 §9.2.2, ISO 19011 §5) — every 党支部 of the subtree once a year,
    ordered by risk: low compliance last year and open nonconformities come first; units not
    audited last year are brought forward (the carried-over part of last year's programme).
    Idempotent for a year: existing entries are kept."""
    from audits.capa.models import OPEN_STATES, Nonconformity
    from audits.internal.models import ProgrammeEntry
    from qms.models import BRANCH_KINDS
    from workflows.compliance import compliance

    if ProgrammeEntry.objects.filter(year=year, root=root).exists():
        return list(ProgrammeEntry.objects.filter(year=year, root=root))
    last = compliance(root, year - 1, cells=False)
    open_ncs: dict[int, int] = {}
    for uid in Nonconformity.objects.filter(unit__path__startswith=root.path, state__in=OPEN_STATES).values_list("unit_id", flat=True):
        open_ncs[uid] = open_ncs.get(uid, 0) + 1
    audited_last_year = set(Audit.objects.filter(year=year - 1, units__path__startswith=root.path).values_list("units", flat=True))
    r = {k: v.value for k, v in rules_for(root).items()}  # audits/internal/rules.toml, overridable
    watch, poor = r["programme_rate_watch"] / 100, r["programme_rate_poor"] / 100
    scored = []
    for unit in Unit.objects.filter(path__startswith=root.path, kind__in=BRANCH_KINDS, is_active=True).order_by("path"):
        rate = last.by_unit[unit.code].rate if unit.code in last.by_unit else None
        reasons, score = [], 0
        if rate is not None and rate < watch:
            score += 2 if rate < poor else 1
            reasons.append(f"上年执行率 {rate:.0%}")
        if open_ncs.get(unit.pk):
            score += min(open_ncs[unit.pk], r["programme_open_nc_max"])
            reasons.append(f"未关闭不符合项 {open_ncs[unit.pk]} 项")
        if unit.pk not in audited_last_year:
            score += 1
            reasons.append("上年未审核")
        scored.append((-score, unit.path, unit, "、".join(reasons) or "年度例行审核"))
    entries = []
    scored.sort(key=lambda x: (x[0], x[1]))
    for i, (neg, _path, unit, reason) in enumerate(scored):
        priority = 1 if -neg >= r["programme_priority_high"] else 2 if -neg >= r["programme_priority_mid"] else 3
        quarter = min(4, 1 + i * 4 // max(len(scored), 1))
        e = ProgrammeEntry.objects.create(year=year, root=root, unit=unit, priority=priority, reason=reason, quarter=quarter)
        ledger.record("programme.add", e, actor=actor)
        entries.append(e)
    return entries
