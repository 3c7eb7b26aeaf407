"""Execution services: the only code that moves an occurrence through its PDCA states.
Each call is one transaction with its ledger entry; two people acting at once on the same
occurrence get one success and one clear refusal (row lock + optimistic FSM lock)."""
from __future__ import annotations

import datetime as dt
import mimetypes
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_fsm import ConcurrentTransition, TransitionNotAllowed, can_proceed

from procedures.models import FieldType
from qms import ledger, limits, permissions, signatures
from qms import services as core_services
from qms.models import (
    COMMITTEE_TITLES,
    PARTY_MEMBER_CATEGORIES,
    Member,
    MemberCategory,
    Position,
    PositionTitle,
    SignatureMeaning,
)
from qms.permissions import act, is_user
from qms.rules import rule_value, rules_for
from qms.scoping import can_manage, is_admin, restrict
from workflows import dues, review
from workflows import quorum as quorum_rules
from workflows.models import (
    Attachment,
    Attendance,
    Decider,
    FollowUp,
    FollowUpKind,
    MemberReview,
    Occurrence,
    Presence,
    Record,
    State,
)

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


@act("occurrence.plan", unit=lambda occ, **_: occ.unit)
@transaction.atomic
def occurrence_plan(occ: Occurrence, *, actor, planned_date: dt.date, place: str, topic: str) -> Occurrence:
    """P 计划 — set date, place and topic. A date outside the period is allowed but marked late."""
    missing = [n for n, v in (("日期", planned_date), ("地点", (place or "").strip()), ("主题/议程", (topic or "").strip())) if not v]
    if missing:
        raise ValidationError(f"计划缺少:{'、'.join(missing)}")
    if planned_date < occ.period_start:
        raise ValidationError({"planned_date": f"计划日期早于本期开始({occ.period_start:%Y-%m-%d})"})
    occ = _move(occ, "plan", actor=actor, planned_date=planned_date, place=place.strip(), topic=topic.strip(),
                late=planned_date > occ.due_date)
    if occ.obligation.form_id and not Record.objects.filter(occurrence=occ).exists():
        _ensure_record(occ, actor)
    return occ


def may_cancel(user, occ: Occurrence) -> bool:
    """Who may cancel is the permission matrix's ``occurrence.cancel`` (qms/rules/permissions.toml:
    the level above or a 体系管理员 — a unit cannot excuse itself); the page asks the same."""
    return user is not None and permissions.allowed(user, "occurrence.cancel", occ.unit)


@act("occurrence.cancel", unit=lambda occ, **_: occ.unit)
@transaction.atomic
def occurrence_cancel(occ: Occurrence, *, actor, reason: str) -> Occurrence:
    """取消 — with a reason, by the level above."""
    if not (reason or "").strip():
        raise ValidationError({"reason": "取消必须说明原因"})
    if actor is None:
        raise ValidationError("取消须经上级党组织同意:请由上级组织负责人操作")
    permissions.require(actor, "occurrence.cancel", occ.unit)  # the matrix, also when called from another act
    return _move(occ, "cancel", actor=actor, reason=reason, remark=reason)


def mark_missed() -> int:
    """Daily: every open or planned occurrence past its due date becomes a gap (未开展)."""
    n = 0
    for occ in Occurrence.objects.filter(state__in=[State.OPEN, State.PLANNED], due_date__lt=timezone.localdate()):
        with transaction.atomic():
            _move(occ, "miss", actor=None, reason="到期未开展", remark="到期未开展")
        n += 1
    return n


# ---------------------------------------------------------------------------------- records
# Rules enforced here (seed 001 三(二)2 要素齐全; 三(二)6 补课; domain.md §6 quorum):
# attendance comes from the unit's roster on the meeting date; a record cannot pass the check
# unless every required element is there; resolutions count only with a quorum; a record is
# frozen after the check and changed only by an amendment with a reason.

EDITABLE = (State.PLANNED, State.HELD)


def roster_on(unit, day: dt.date):
    """Members whose membership covers ``day``: in that 党小组, that 党支部, or — for a 党委 or
    党总支, whose 党员大会 gathers everyone below — anywhere in its subtree."""
    if unit.kind == "group":
        where = Q(memberships__group=unit)
    elif unit.kind in ("committee", "general_branch"):
        where = Q(memberships__unit__path__startswith=unit.path)
    else:
        where = Q(memberships__unit=unit)
    return Member.objects.filter(where, memberships__start__lte=day).filter(
        Q(memberships__end__isnull=True) | Q(memberships__end__gte=day)).distinct()


def attendees_on(occ: Occurrence, day: dt.date):
    """应到人员 — who is expected at this meeting on ``day``, as its obligation says
    (``attendees``): the 委员 for a 委员会 meeting, the unit's roster that day (``roster_on``)
    for a meeting of all members, nobody in particular for a talk, a training or a check (its
    participants are chosen from the roster and none is owed). Anyone else on the roster who
    comes to a committee meeting is 列席."""
    if occ.obligation.attendees == "committee":  # the committee's seats, as its quorum counts them (quorum.toml)
        ids = (Position.objects.filter(unit=occ.unit, title__in=quorum_rules.bodies()["committee"].titles, start__lte=day)
               .filter(Q(end__isnull=True) | Q(end__gte=day)).values("member_id"))
        return Member.objects.filter(pk__in=ids)
    return roster_on(occ.unit, day)


def unaccounted(rec: Record) -> list[Member]:
    """应到人员 with no 出席/缺席/请假 on the record (by name order) — empty when the unit's rule
    ``attendance_all_accounted`` is off (seed 001 三(二)2: 出席、缺席、列席人员 are elements)."""
    occ = rec.occurrence
    if not occ.obligation.attendees or not rule_value(occ.unit, "attendance_all_accounted"):
        return []
    marked = rec.attendance.filter(member__isnull=False).values("member_id")
    return list(attendees_on(occ, meeting_day(occ)).exclude(pk__in=marked).order_by("name"))


def _named(actor, member: Member) -> str:
    """A person as an error message may name them: by name only inside the actor's scope
    (qms/scoping.py), else "该人员" — an id posted from elsewhere must not tell who it is."""
    return member.name if restrict(actor, Member.objects.filter(pk=member.pk)).exists() else "该人员"


def meeting_day(occ: Occurrence) -> dt.date:
    """The day whose roster counts: held, else planned, else the period's first day."""
    return occ.held_on or occ.planned_date or occ.period_start


def _record(occ: Occurrence, *, editable: bool = True) -> Record:
    rec = Record.objects.filter(occurrence=occ).select_related("occurrence").first()
    if rec is None:
        raise ValidationError("请先制定计划(日期、地点、主题)再填写记录")
    if editable and rec.occurrence.state not in EDITABLE:
        raise ValidationError("记录已检查并冻结,修改请使用“更正”并填写原因")
    return rec


def _ensure_record(occ: Occurrence, actor) -> Record:
    rec = Record.objects.filter(occurrence=occ).first()
    if rec is None:
        if occ.obligation.form_id is None:
            raise ValidationError("该规定没有记录表格")
        rec = Record.objects.create(occurrence=occ, form=occ.obligation.form,
                                    elements={"time": occ.planned_date.isoformat() if occ.planned_date else "",
                                              "place": occ.place, "topic": occ.topic})
        ledger.record("record.create", rec, actor=actor)
    return rec


_SIMPLE = {FieldType.TEXT, FieldType.RICH_TEXT, FieldType.DATE, FieldType.DATETIME, FieldType.PLACE,
           FieldType.LECTURER, FieldType.TOPIC, FieldType.SCORE, FieldType.VOTES}


def lecturer_candidates(occ: Occurrence):
    """主讲人 — who may be named as the lecturer of a 党课: a member on the unit's roll on the
    meeting day, or a member of a 党委(党组) above it (seed 001 三(二)2: 党组(党委)成员每年至少讲1次
    党课 — they lecture in the branches). Chosen on the form by id, so each person's lectures can
    be counted (workflows/people.py)."""
    day = meeting_day(occ)
    ancestors = [int(p) for p in occ.unit.path.strip("/").split("/") if p and int(p) != occ.unit.pk]
    above = (Position.objects.filter(unit_id__in=ancestors, unit__kind="committee", title__in=COMMITTEE_TITLES, start__lte=day)
             .filter(Q(end__isnull=True) | Q(end__gte=day)).values("member_id"))
    return Member.objects.filter(Q(pk__in=roster_on(occ.unit, day).values("pk")) | Q(pk__in=above)).distinct()


def _lecturer_id(value) -> int | None:
    """The member id a 主讲人 element holds (an int, or digits posted by a form); None if not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _valid_votes(value) -> bool:
    return isinstance(value, dict) and all(isinstance(value.get(k), int) and value[k] >= 0 for k in ("for", "against", "abstain"))


def _clean_elements(rec: Record, elements: dict) -> dict:
    fields = {f.key: f for f in rec.form.fields.all()}
    unknown = set(elements) - set(fields)
    if unknown:
        raise ValidationError(f"记录表格 {rec.form.code} 没有这些栏目:{'、'.join(sorted(unknown))}")
    clean = {}
    for key, value in elements.items():
        f = fields[key]
        if f.type not in _SIMPLE:
            raise ValidationError(f"“{f.label}”在专门的区域填写(出席、决议、附件)")
        if f.type == FieldType.VOTES and value not in ("", None) and not _valid_votes(value):
            raise ValidationError("表决情况应填写同意、反对、弃权的人数(非负整数)")
        if f.type == FieldType.LECTURER and value not in ("", None):
            pk = _lecturer_id(value)
            if pk is None or not lecturer_candidates(rec.occurrence).filter(pk=pk).exists():
                raise ValidationError(f"“{f.label}”须从本组织名册或上级党委(党组)成员中选择")
            clean[key] = pk
            continue
        if f.type in (FieldType.DATE, FieldType.DATETIME) and value:
            try:
                (dt.datetime.fromisoformat if f.type == FieldType.DATETIME else dt.date.fromisoformat)(str(value))
            except ValueError as exc:
                raise ValidationError(f"“{f.label}”的日期格式不正确") from exc
        clean[key] = value.strip() if isinstance(value, str) else value
    # 字数上限 per element by its type (qms/rules/limits.toml); the JSON column has no width
    limits.check_elements(((k, fields[k].label, fields[k].type) for k in clean), clean)
    return clean


@act("record.save", unit=lambda occ, **_: occ.unit)
@transaction.atomic
def record_save(occ: Occurrence, *, actor, elements: dict) -> Record:
    """填写记录 — save the simple elements (time, place, topic, speeches, votes …)."""
    occ = Occurrence.objects.select_for_update().get(pk=occ.pk)
    if occ.state in (State.CHECKED, State.CLOSED):
        raise ValidationError("记录已检查并冻结,修改请使用“更正”并填写原因")
    if occ.state not in EDITABLE:
        raise ValidationError("请先制定计划(日期、地点、主题)再填写记录")
    rec = _ensure_record(occ, actor)
    before = ledger.snapshot(rec)
    rec.elements = {**rec.elements, **_clean_elements(rec, elements)}
    rec.save(update_fields=["elements"])
    ledger.record("record.update", rec, actor=actor, before=before)
    return rec


@act("attendance.mark", unit=lambda occ, **_: occ.unit)
@transaction.atomic
def attendance_mark(occ: Occurrence, *, actor, member: Member | None = None, presence: str, reason: str = "",
                    on_leave: bool = False, guest_name: str = "") -> Attendance:
    """记出席 — one person: 出席 / 缺席 (with reason) / 列席. Members must be on the unit's
    roster on the meeting date; a 列席 guest from outside is named."""
    occ = Occurrence.objects.select_for_update().get(pk=occ.pk)
    if occ.state not in EDITABLE:
        raise ValidationError("记录已检查并冻结,不能再修改出席情况")
    rec = _ensure_record(occ, actor)
    if presence not in Presence.values:
        raise ValidationError("出席情况应为出席、缺席或列席")
    day = meeting_day(occ)
    if member is None:
        if presence != Presence.ATTENDING or not guest_name.strip():
            raise ValidationError("非本组织人员只能作为列席人员,并须填写姓名")
        att = Attendance.objects.create(record=rec, guest_name=guest_name.strip(), presence=presence)
        ledger.record("attendance.add", att, actor=actor)
        return att
    if presence != Presence.ATTENDING and not roster_on(occ.unit, day).filter(pk=member.pk).exists():
        raise ValidationError(f"{_named(actor, member)} {day:%Y-%m-%d} 不在{occ.unit.name}的党员名册中,不能记为出席或缺席")
    if presence == Presence.ABSENT and not reason.strip():
        raise ValidationError(f"{member.name} 缺席,须填写缺席原因")  # on the roster: in scope
    att = Attendance.objects.filter(record=rec, member=member).first()
    before = ledger.snapshot(att) if att else None
    if att is None:
        att = Attendance(record=rec, member=member)
    att.presence, att.reason, att.on_leave = presence, reason.strip(), bool(on_leave and presence == Presence.ABSENT)
    att.save()
    ledger.record("attendance.mark", att, actor=actor, before=before)
    return att


#: the choices of the one-step attendance form: 出席 / 缺席 / 请假 (缺席 with leave, which
#: gives a 补课 make-up when the record is submitted)
ATTENDANCE_CHOICES = {"present": "出席", "absent": "缺席", "leave": "请假"}


@act("attendance.mark", unit=lambda occ, **_: occ.unit)
@transaction.atomic
def attendance_save(occ: Occurrence, *, actor, marks: dict[int, tuple[str, str]]) -> int:
    """记出席(一次提交) — the whole roster of the meeting day in one step: ``marks`` maps each
    member's id to (出席/缺席/请假, reason). Everything is checked first (every member on that
    day's roster, a reason for each 缺席 and 请假); then only the rows that change are written,
    each with its ledger entry. Returns how many rows changed (0 when re-submitted unchanged)."""
    occ = Occurrence.objects.select_for_update().get(pk=occ.pk)
    if occ.state not in EDITABLE:
        raise ValidationError("记录已检查并冻结,不能再修改出席情况")
    day = meeting_day(occ)
    roster = {m.pk: m for m in roster_on(occ.unit, day)}
    errors = []
    for member_id, (choice, reason) in marks.items():
        member = roster.get(member_id)
        if member is None:
            errors.append("有人员不在本次会议当日的党员名册中")
        elif choice not in ATTENDANCE_CHOICES:
            errors.append(f"{member.name}:请选择出席、缺席或请假")
        elif choice != "present" and not (reason or "").strip():
            errors.append(f"{member.name}{ATTENDANCE_CHOICES[choice]},须填写原因")
    if errors:
        raise ValidationError(list(dict.fromkeys(errors)))
    rec = _ensure_record(occ, actor)
    existing = {a.member_id: a for a in Attendance.objects.filter(record=rec, member_id__in=list(marks))}
    changed = 0
    for member_id, (choice, reason) in sorted(marks.items()):
        presence = Presence.PRESENT if choice == "present" else Presence.ABSENT
        reason = "" if choice == "present" else reason.strip()
        on_leave = choice == "leave"
        att = existing.get(member_id)
        if att is not None and (att.presence, att.reason, att.on_leave) == (presence, reason, on_leave):
            continue
        before = ledger.snapshot(att) if att is not None else None
        if att is None:
            att = Attendance(record=rec, member=roster[member_id])
        att.presence, att.reason, att.on_leave = presence, reason, on_leave
        att.save()
        ledger.record("attendance.mark", att, actor=actor, before=before)
        changed += 1
    return changed


@act("followup.add", unit=lambda occ, **_: occ.unit)
@transaction.atomic
def followup_add(occ: Occurrence, *, actor, text: str, owner: Member, due_date: dt.date) -> FollowUp:
    """决议分工 — a resolution becomes a follow-up with an owner and a due date."""
    occ = Occurrence.objects.select_for_update().get(pk=occ.pk)
    if occ.state not in EDITABLE:
        raise ValidationError("记录已检查并冻结,不能再增加决议")
    rec = _ensure_record(occ, actor)
    if not (text or "").strip():
        raise ValidationError("请填写决议事项")
    day = meeting_day(occ)
    if due_date < day:
        raise ValidationError("完成时限不能早于会议日期")
    if not roster_on(occ.unit, day).filter(pk=owner.pk).exists():
        raise ValidationError(f"责任人({_named(actor, owner)})不在本组织名册中")
    fu = FollowUp.objects.create(record=rec, kind=FollowUpKind.RESOLUTION, text=text.strip(), owner=owner, due_date=due_date)
    ledger.record("followup.add", fu, actor=actor)
    return fu


@act("followup.done", unit=lambda fu, **_: fu.record.occurrence.unit)
@transaction.atomic
def followup_done(fu: FollowUp, *, actor, done_on: dt.date, outcome: str, measure: str = "") -> FollowUp:
    """落实 / 补课完成 — with what was done; a 组织处置 also with its measure (限期改正、劝其退党、
    除名: workflows/review.toml, 《中国共产党章程》第九条). A measure the higher organisation must
    approve (review.toml ``approval = "removal"``: 除名) is recorded as decided by the branch and
    sent up as a 除名 request (``dues.removal_open``); the 处置 is done only when the higher
    organisation approves it (``dues.removal_decide``)."""
    fu = FollowUp.objects.select_for_update().get(pk=fu.pk)
    if fu.done_on:
        raise ValidationError("该事项已完成")
    if fu.kind == FollowUpKind.DISPOSAL and fu.measure in review.rules().removal_measures:
        raise ValidationError(f"已作出“{fu.measure}”的决定并报上级党组织审批,待上级批准后完成")
    if not (outcome or "").strip():
        raise ValidationError("请填写落实情况")
    measure = (measure or "").strip()
    if fu.kind == FollowUpKind.DISPOSAL:
        allowed = review.rules().measure_labels
        if measure not in allowed:
            raise ValidationError(f"请选择处置方式:{'、'.join(allowed)}")
    elif measure:
        raise ValidationError("只有组织处置需要选择处置方式")
    before = ledger.snapshot(fu)
    to_approve = fu.kind == FollowUpKind.DISPOSAL and measure in review.rules().removal_measures
    fu.done_on, fu.outcome, fu.measure = (None if to_approve else done_on), outcome.strip(), measure
    fu.save()
    if not to_approve:
        ledger.record("followup.done", fu, actor=actor, before=before)
    else:  # 《中国共产党章程》第九条: 除名 ……报上级党组织批准 — the branch's decision is recorded, not done
        ledger.record("followup.record", fu, actor=actor, before=before)
        dues.removal_open(fu.owner, unit=fu.record.occurrence.unit, actor=actor,
                          reason=f"{fu.text}:{outcome.strip()}(支部决定{measure},报上级党组织批准)")
    return fu


def review_field(occ: Occurrence):
    """The record form's field of type ``grades`` (逐人评议结果), if the occurrence has one."""
    form = occ.obligation.form
    return form.fields.filter(type=FieldType.GRADES).first() if form is not None else None


def review_subjects(occ: Occurrence):
    """Who is graded in a 民主评议党员: the 党员 (正式 and 预备) on the unit's roll on the day."""
    return roster_on(occ.unit, meeting_day(occ)).filter(category__in=PARTY_MEMBER_CATEGORIES)


def _review_text(label: str, name: str, value) -> str:
    text = (value or "").strip() if isinstance(value, str) else ""
    if len(text) > 500:
        raise ValidationError(f"{name}的{label}最多500个字")
    return text


@act("record.save", unit=lambda occ, **_: occ.unit)
@transaction.atomic
def review_save(occ: Occurrence, *, actor, decided_by: str, rows: dict[int, dict]) -> int:
    """民主评议 逐人结果 — for each member (id → {self, mutual, poll: {grade: count}, grade}) the
    个人自评, 党员互评, 民主测评 counts and the 评定意见, given by ``decided_by`` (支委会 or 党员大会).
    Everything is checked first — each member on the day's roll, each grade and each 测评 grade
    in the allowed set (workflows/review.toml), counts whole and not negative — and on any error
    nothing is saved. Returns how many members' results changed."""
    occ = Occurrence.objects.select_for_update().get(pk=occ.pk)
    if occ.state not in EDITABLE:
        raise ValidationError("记录已检查并冻结,修改请使用“更正”并填写原因")
    if review_field(occ) is None:
        raise ValidationError("该记录表格没有逐人评议栏目")
    allowed = review.rules().grade_labels
    subjects = {m.pk: m for m in review_subjects(occ)}
    errors: list[str] = []
    clean: dict[int, dict] = {}
    if decided_by not in Decider.values:
        errors.append("请选择评定意见由支部委员会还是党员大会提出")
    for member_id, row in rows.items():
        member = subjects.get(member_id)
        if member is None:
            errors.append("有人员不在本次评议当日的党员名册中")
            continue
        grade = (row.get("grade") or "").strip()
        if grade and grade not in allowed:
            errors.append(f"{member.name}:评定意见“{grade}”不在规定的等次中(应为{'、'.join(allowed)})")
        poll = {}
        for label, n in (row.get("poll") or {}).items():
            if label not in allowed:
                errors.append(f"{member.name}:民主测评等次“{label}”不在规定的等次中")
                continue
            if n in ("", None):
                continue
            try:
                n = int(n)
            except (TypeError, ValueError):
                n = -1
            if n < 0:
                errors.append(f"{member.name}:民主测评“{label}”票数应为非负整数")
                continue
            poll[label] = n
        try:
            clean[member_id] = {"self_review": _review_text("个人自评", member.name, row.get("self")),
                                "mutual_review": _review_text("党员互评", member.name, row.get("mutual")),
                                "poll": poll, "grade": grade}
        except ValidationError as exc:
            errors.extend(exc.messages)
    if errors:
        raise ValidationError(list(dict.fromkeys(errors)))
    rec = _ensure_record(occ, actor)
    existing = {r.member_id: r for r in MemberReview.objects.filter(record=rec, member_id__in=list(clean))}
    changed = 0
    for member_id, values in sorted(clean.items()):
        values = {**values, "decided_by": decided_by if values["grade"] else ""}
        r = existing.get(member_id)
        if r is not None and all(getattr(r, k) == v for k, v in values.items()):
            continue
        before = ledger.snapshot(r) if r is not None else None
        if r is None:
            r = MemberReview(record=rec, member=subjects[member_id])
        for k, v in values.items():
            setattr(r, k, v)
        r.save()
        ledger.record("member_review.grade", r, actor=actor, before=before)
        changed += 1
    return changed


def ungraded(rec: Record) -> list[Member]:
    """党员 on the roll of the review day with no 评定意见 on the record (by name)."""
    graded = rec.reviews.exclude(grade="").values("member_id")
    return list(review_subjects(rec.occurrence).exclude(pk__in=graded).order_by("name"))


def _disposals(rec: Record, occ: Occurrence, actor, held_on: dt.date) -> None:
    """不合格 → 组织处置: each member graded so gets a follow-up owed within the organisation's
    ``review_disposal_days`` (seed 001 三(二)4 及时进行组织处置), tracked like any follow-up —
    the occurrence closes only when it is done."""
    bad = review.rules().disposal_grades
    days = rule_value(occ.unit, "review_disposal_days")
    for r in rec.reviews.filter(grade__in=bad).select_related("member"):
        if rec.followups.filter(kind=FollowUpKind.DISPOSAL, owner=r.member).exists():
            continue
        fu = FollowUp.objects.create(record=rec, kind=FollowUpKind.DISPOSAL, owner=r.member,
                                     text=f"对{r.member.name}的组织处置(民主评议{r.grade})",
                                     due_date=held_on + dt.timedelta(days=days))
        ledger.record("followup.disposal", fu, actor=actor)


def dues_month(occ: Occurrence) -> dt.date | None:
    """The month whose 党费 the occurrence collects, when its record form has a field of type
    ``dues`` (党费交纳明细: filled from the dues ledger, procedures/library/forms.toml DJ-JL-07)."""
    form = occ.obligation.form
    if form is None or not form.fields.filter(type=FieldType.DUES).exists():
        return None
    return dues.month_start(occ.period_start)


def dues_unsettled(occ: Occurrence) -> list[Member]:
    """For a dues-backed occurrence: the members owing that month who neither paid nor have a
    justified non-payment recorded (empty for any other occurrence)."""
    month = dues_month(occ)
    return dues.unsettled(occ.unit, month) if month else []


def _require_dues_settled(occ: Occurrence) -> None:
    """按月收缴党费 is done by the payments in the dues ledger, not by an attendance list: submit,
    check and close are refused while anyone owing that month is unsettled (seed 001 三(二)7)."""
    left = dues_unsettled(occ)
    if left:
        month = dues_month(occ)
        names = "、".join(m.name for m in left[:10]) + (f"等 {len(left)} 人" if len(left) > 10 else "")
        raise ValidationError(f"{month:%Y年%m月}应交党费的党员中还有 {len(left)} 人既未交纳党费、也未登记未交的正当理由:{names}")


def missing_elements(rec: Record) -> list[str]:
    """The labels of required elements that are not there — “要素齐全” is this list empty."""
    missing = []
    attendance = list(rec.attendance.all())
    for f in rec.form.fields.filter(required=True):
        if f.type == FieldType.DUES:
            ok = not dues_unsettled(rec.occurrence)
        elif f.type == FieldType.ATTENDANCE:
            ok = any(a.presence == Presence.PRESENT for a in attendance)
            left = unaccounted(rec) if ok else []
            if left:
                names = "、".join(m.name for m in left[:5]) + ("等" if len(left) > 5 else "")
                missing.append(f"{f.label}({len(left)} 名应到人员未登记出席、缺席或请假:{names})")
                continue
        elif f.type == FieldType.RESOLUTIONS:
            ok = rec.followups.filter(kind=FollowUpKind.RESOLUTION).exists() or str(rec.elements.get(f.key, "")).strip() != ""
        elif f.type == FieldType.ATTACHMENTS:
            ok = rec.attachments.exists()
        elif f.type == FieldType.GRADES:
            left = ungraded(rec)
            if left:
                names = "、".join(m.name for m in left[:5]) + ("等" if len(left) > 5 else "")
                missing.append(f"{f.label}({len(left)} 名党员尚无评定意见:{names})")
                continue
            ok = True
        elif f.type == FieldType.LECTURER:
            pk = _lecturer_id(rec.elements.get(f.key))
            ok = pk is not None and lecturer_candidates(rec.occurrence).filter(pk=pk).exists()
        elif f.type == FieldType.VOTES:
            v = rec.elements.get(f.key)
            ok = isinstance(v, dict) and all(isinstance(v.get(k), int) for k in ("for", "against", "abstain"))
        else:
            ok = str(rec.elements.get(f.key, "") or "").strip() != ""
        if not ok:
            missing.append(f.label)
    missing += [text for text, strict in observers_missing(rec) if strict]
    return missing


def observers_missing(rec: Record) -> list[tuple[str, bool]]:
    """列席 the record lacks (observers.toml, e.g. the secretary above at a 民主生活会): each as
    (text, strict) — strict where the unit's rule makes the record incomplete (2), not where it
    only warns at the check (1); nothing where the rule is off (0), where there is no organisation
    at that level or nobody holds the office that day."""
    occ = rec.occurrence
    out = []
    for o in quorum_rules.observers():
        if occ.obligation_key not in o.obligations:
            continue
        mode = rule_value(occ.unit, o.rule)
        where = occ.unit if o.level == "unit" else occ.unit.parent
        if not mode or where is None:
            continue
        day = meeting_day(occ)
        holders = set(Position.objects.filter(unit=where, title__in=o.titles, start__lte=day)
                      .filter(Q(end__isnull=True) | Q(end__gte=day)).values_list("member_id", flat=True))
        if holders and not rec.attendance.filter(member_id__in=holders, presence=Presence.ATTENDING).exists():
            out.append((f"{o.label}({where.name}{'、'.join(str(PositionTitle(t).label) for t in o.titles)}未登记为列席)", mode >= 2))
    return out


class Quorum(NamedTuple):
    """法定人数 of a meeting: who was there and who was owed (the body's members with a vote),
    whether the organisation's rule is met, and the rule's words for a message."""

    present: int
    entitled: int
    reached: bool
    percent: int
    inclusive: bool
    source: str = ""  # the rule's source (the organisation's own where it overrode it)

    @property
    def wording(self) -> str:
        share = "半数" if self.percent == 50 else f"{self.percent}%"
        return f"{'达到' if self.inclusive else '超过'}应到会 {self.entitled} 人的{share}"


def _quorum_body(occ: Occurrence, day: dt.date) -> set[int] | None:
    """The ids of who counts toward the quorum on ``day`` (quorum.toml and the unit's rules):
    the committee offices for a 委员会会议; for a 党员大会 the 正式党员 on the roll, and the 预备党员
    too where the organisation's ``quorum_probationary_counted`` says so."""
    rule = occ.obligation.quorum
    if not rule:
        return None
    body = quorum_rules.bodies()[rule]
    if body.titles:
        return set(Position.objects.filter(unit=occ.unit, title__in=body.titles, start__lte=day)
                   .filter(Q(end__isnull=True) | Q(end__gte=day)).values_list("member_id", flat=True))
    categories = set(body.categories)
    if rule_value(occ.unit, "quorum_probationary_counted"):
        categories.add(MemberCategory.PROBATIONARY)
    return set(roster_on(occ.unit, day).filter(category__in=categories).values_list("pk", flat=True))


def quorum(rec: Record) -> Quorum | None:
    """(present, entitled, reached …) for meetings with a quorum rule; None where none applies.
    党员大会: 有表决权的党员 on the roster that day; 委员会: its members that day (quorum.toml);
    the share that must be there is the unit's rule (rules.toml ``quorum_*``)."""
    occ = rec.occurrence
    entitled_ids = _quorum_body(occ, meeting_day(occ))
    if entitled_ids is None:
        return None
    rules = rules_for(occ.unit)
    rule = rules[quorum_rules.RULE_KEYS[occ.obligation.quorum][0]]
    inclusive = bool(rules["quorum_exactly_at_percent"].value)
    present = rec.attendance.filter(presence=Presence.PRESENT, member_id__in=entitled_ids).count()
    return Quorum(present, len(entitled_ids), quorum_rules.exceeds(present, len(entitled_ids), rule.value, inclusive=inclusive),
                  rule.value, inclusive, rule.source)


def quorum_reached(rec: Record) -> bool:
    q = quorum(rec)
    return q is None or q.reached


def votes_short(rec: Record, q: Quorum | None = None) -> str | None:
    """Where the record's form has 表决情况 (votes) and the meeting has a quorum rule: why the
    votes do not carry a resolution — 赞成 not more than the unit's ``resolution_pass_*`` share of
    the 应到会 (支部工作条例 第十一条) — or None when they do or there is nothing to count."""
    occ = rec.occurrence
    q = q or quorum(rec)
    if q is None:
        return None
    keys = [f.key for f in rec.form.fields.filter(type=FieldType.VOTES)]
    counted = [rec.elements.get(k) for k in keys if _valid_votes(rec.elements.get(k))]
    if not counted:
        return None
    rule = rules_for(occ.unit)[quorum_rules.RULE_KEYS[occ.obligation.quorum][1]]
    share = "半数" if rule.value == 50 else f"{rule.value}%"
    for v in counted:
        if not quorum_rules.exceeds(v["for"], q.entitled, rule.value):
            return f"赞成 {v['for']} 票,未超过应到会 {q.entitled} 人的{share},决议未获通过(依据:{rule.source})"
    return None


@act("record.submit", unit=lambda occ, **_: occ.unit)
@transaction.atomic
def record_submit(occ: Occurrence, *, actor, held_on: dt.date) -> Occurrence:
    """D 执行 — the meeting was held on ``held_on``; the record is submitted for checking.
    A date after the due date is allowed and marked late; one before the period is refused."""
    occ = Occurrence.objects.select_for_update().get(pk=occ.pk)
    rec = _record(occ)
    if held_on < occ.period_start:
        raise ValidationError(f"开展日期早于本期开始({occ.period_start:%Y-%m-%d}),不属于本期")
    if held_on > timezone.localdate():
        raise ValidationError("开展日期不能晚于今天")
    _require_dues_settled(occ)
    before = ledger.snapshot(rec)
    rec.submitted_by, rec.submitted_at = actor, timezone.now()
    fields = ["submitted_by", "submitted_at"]
    time = str(rec.elements.get("time") or "")
    if occ.planned_date and held_on != occ.planned_date and time.startswith(occ.planned_date.isoformat()):
        # 时间 was filled from the plan and never changed: it follows the day actually held
        # (the page says 计划 … 实际 … 开展; the planned day stays on the occurrence and in the ledger)
        rec.elements = {**rec.elements, "time": held_on.isoformat() + time[10:]}
        fields.append("elements")
    rec.save(update_fields=fields)
    ledger.record("record.submit", rec, actor=actor, before=before)
    occ = _move(occ, "hold", actor=actor, held_on=held_on, late=held_on > occ.due_date)
    makeup = rule_value(occ.unit, "makeup_days")
    for a in rec.attendance.filter(presence=Presence.ABSENT, on_leave=True).select_related("member"):
        if not rec.followups.filter(kind=FollowUpKind.MAKEUP, owner=a.member).exists():
            fu = FollowUp.objects.create(record=rec, kind=FollowUpKind.MAKEUP, owner=a.member, text=f"{a.member.name} 补课",
                                         due_date=held_on + dt.timedelta(days=makeup))
            ledger.record("followup.makeup", fu, actor=actor)
    _disposals(rec, occ, actor, held_on)
    return occ


def may_check(user, occ: Occurrence) -> bool:
    """The checker named by the obligation (its title, in the unit or the one above), or a 体系管理员."""
    if user is None:
        return False
    if is_admin(user):
        return True
    ob = occ.obligation
    unit = occ.unit.parent if ob.checker_level == "parent" and occ.unit.parent_id else occ.unit
    today = timezone.localdate()
    return Position.objects.filter(member__user=user, unit=unit, title=ob.checker, start__lte=today).filter(
        Q(end__isnull=True) | Q(end__gte=today)).exists() or (ob.checker_level == "parent" and can_manage(user, unit) and unit != occ.unit)


def check_duties(actor, occ: Occurrence) -> set[str]:
    """The duties ``actor`` holds on an occurrence's check: ``checker`` when the obligation
    names them (its title, in the unit or the one above), ``submitter`` when they submitted it."""
    out: set[str] = set()
    if actor is None:
        return out
    ob = occ.obligation
    unit = occ.unit.parent if ob.checker_level == "parent" and occ.unit.parent_id else occ.unit
    today = timezone.localdate()
    if Position.objects.filter(member__user=actor, unit=unit, title=ob.checker, start__lte=today).filter(
            Q(end__isnull=True) | Q(end__gte=today)).exists() or (
            ob.checker_level == "parent" and unit != occ.unit and can_manage(actor, unit)):
        out.add("checker")
    rec = Record.objects.filter(occurrence=occ).only("submitted_by_id").first()
    if rec is not None and is_user(actor, rec.submitted_by_id):
        out.add("submitter")
    return out


@act("record.check", unit=lambda occ, **_: occ.unit, duties=lambda occ, actor, **_: check_duties(actor, occ),
     explain=lambda occ, **_: f"检查人应为{'上级组织' if occ.obligation.checker_level == 'parent' else '本组织'}的{occ.obligation.get_checker_display()}")
@transaction.atomic
def record_check(occ: Occurrence, *, actor, password: str | None = None) -> Occurrence:
    """C 检查 — by the named checker, not the submitter; the record must be complete and,
    where resolutions were voted, quorate. Then the record is frozen and the check signed
    electronically (the checker re-enters their password; meaning 检查, over
    ``signed_record``)."""
    occ = Occurrence.objects.select_for_update().get(pk=occ.pk)
    rec = _record(occ, editable=False)
    if occ.state != State.HELD:
        raise ValidationError(f"当前状态“{occ.get_state_display()}”不能检查")
    if not may_check(actor, occ):
        raise ValidationError(f"检查人应为{'上级组织' if occ.obligation.checker_level == 'parent' else '本组织'}的{occ.obligation.get_checker_display()}")
    if actor is not None and rec.submitted_by_id == actor.pk:
        raise ValidationError("提交人不能检查自己提交的记录")
    _require_dues_settled(occ)
    missing = missing_elements(rec)
    if missing:
        raise ValidationError(f"记录要素不全,缺少:{'、'.join(missing)}")
    q = quorum(rec)
    if q is not None and rec.followups.filter(kind=FollowUpKind.RESOLUTION).exists():
        # 法定人数 and 表决 (支部工作条例 第十一、十二条; the unit's rules in workflows/rules.toml)
        if not q.reached:
            raise ValidationError(f"到会 {q.present} 人,未{q.wording},会议决议无效(依据:{q.source})")
        if short := votes_short(rec, q):
            raise ValidationError(short)
    pending = signatures.prepare(actor, password, SignatureMeaning.CHECK)
    before = ledger.snapshot(rec)
    rec.checked_by, rec.checked_at = actor, pending.signed_at
    rec.save(update_fields=["checked_by", "checked_at"])
    # a 列席 the unit's rule only warns about is kept with the check (observers.toml)
    warnings = "、".join(text for text, strict in observers_missing(rec) if not strict)
    ledger.record("record.check", rec, actor=actor, before=before, reason=f"检查时提示:{warnings}" if warnings else "")
    moved = _move(occ, "mark_checked", actor=actor)
    signatures.attach(pending, rec)
    return moved


def signed_record(rec: Record) -> dict:
    """What a 检查 signature covers (电子签名的内容): the occurrence (obligation, unit, when,
    where, topic), the record's elements and head counts, who submitted it, the attendance
    and 民主评议 lines, and each attachment's name and SHA-256."""
    occ = Occurrence.objects.select_related("unit", "obligation").get(pk=rec.occurrence_id)
    return {
        "occurrence": {"id": occ.pk, "obligation": occ.obligation.title, "unit": occ.unit.code, "held_on": occ.held_on,
                       "place": occ.place, "topic": occ.topic, "period": [occ.period_start, occ.period_end]},
        "form": rec.form_id, "elements": rec.elements, "submitted_by": rec.submitted_by_id, "submitted_at": rec.submitted_at,
        "expected_count": rec.expected_count, "present_count": rec.present_count,
        "attendance": list(rec.attendance.order_by("pk").values_list("member_id", "guest_name", "presence", "reason", "on_leave")),
        "reviews": list(rec.reviews.order_by("pk").values_list("member_id", "self_review", "mutual_review", "poll", "grade",
                                                               "decided_by")),
        "attachments": list(rec.attachments.order_by("pk").values_list("name", "sha256")),
    }


@act("occurrence.close", unit=lambda occ, **_: occ.unit)
@transaction.atomic
def occurrence_close(occ: Occurrence, *, actor) -> Occurrence:
    """A 处理 — closed when every resolution and make-up is done."""
    occ = Occurrence.objects.select_for_update().get(pk=occ.pk)
    rec = _record(occ, editable=False)
    open_items = list(rec.followups.filter(done_on__isnull=True))
    if open_items:
        raise ValidationError(f"还有 {len(open_items)} 项决议落实、补课或组织处置未完成:{'、'.join(f.text for f in open_items[:5])}")
    _require_dues_settled(occ)
    return _move(occ, "close", actor=actor)


@act("record.amend", unit=lambda occ, **_: occ.unit)
@transaction.atomic
def record_amend(occ: Occurrence, *, actor, reason: str, elements: dict) -> Record:
    """更正 — a checked record changes only with a reason; the old values stay in the ledger."""
    if not (reason or "").strip():
        raise ValidationError({"reason": "更正已检查的记录必须填写原因"})
    rec = _record(Occurrence.objects.select_for_update().get(pk=occ.pk), editable=False)
    before = ledger.snapshot(rec)
    rec.elements = {**rec.elements, **_clean_elements(rec, elements)}
    rec.save(update_fields=["elements"])
    ledger.record("record.amend", rec, actor=actor, before=before, reason=reason)
    # what was checked is no longer what the record says: the 检查 signature stops applying
    signatures.void(rec, [SignatureMeaning.CHECK], actor=actor, reason=f"记录更正:{reason.strip()}")
    return rec


#: 附件 are checked like every upload of evidence (qms/uploads.py: type by content, size, polyglots,
#: ZIP-based Office files unpacked, a safe name); re-exported for the rooms above
read_upload = core_services.read_upload


@act("attachment.add", unit=lambda occ, **_: occ.unit)
@transaction.atomic
def attachment_add(occ: Occurrence, *, actor, upload) -> Attachment:
    """附件 — allow-listed types checked by their first bytes, size-limited, stored under an
    application-made name (its SHA-256), never the user's path."""
    occ = Occurrence.objects.select_for_update().get(pk=occ.pk)
    if occ.state not in EDITABLE:
        raise ValidationError("记录已检查并冻结,不能再上传附件")
    rec = _ensure_record(occ, actor)
    name, ext, data, digest = read_upload(upload)
    att = Attachment(record=rec, name=name, content_type=mimetypes.types_map.get(ext, "application/octet-stream"),
                     size=len(data), sha256=digest, uploaded_by=actor)
    att.file.save(f"{digest}{ext}", ContentFile(data), save=False)
    att.save()
    ledger.record("attachment.add", att, actor=actor)
    return att
