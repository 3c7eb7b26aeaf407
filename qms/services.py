"""Service functions for the shared core: the only code that changes units, people,
positions and grants. Each runs in one transaction and writes its ledger entries there.

Errors are ``django.core.exceptions.ValidationError`` with a Chinese message naming the
field; nothing is saved when one is raised.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from qms import accounts, ledger, limits, uploads
from qms.citations import cite
from qms.figures import member_count
from qms.models import (
    BRANCH_KINDS,
    AdminUnit,
    DecisionOutcome,
    HigherDecision,
    Member,
    MemberCategory,
    MemberEvent,
    MemberEventKind,
    Membership,
    MemberStatus,
    PolicyOverride,
    Position,
    PositionTitle,
    Role,
    RoleGrant,
    Unit,
    UnitKind,
)
from qms.permissions import act, allowed, member_unit, require
from qms.rules import TERM_KEYS, Rule, defaults, rules_for, shape
from qms.scoping import can_manage
from qms.signals import member_event_recorded

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

def id_number_problem(value: str) -> str | None:
    """Why a 居民身份证号码 is invalid (GB 11643-1999 check digit), or None if it is valid."""
    v = (value or "").strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", v):
        return "身份证号应为18位,前17位为数字,末位为数字或X"
    try:
        dt.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        return "身份证号中的出生日期无效"
    total = sum(int(c) * w for c, w in zip(v[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != v[17]:
        return "身份证号校验位不正确"
    return None


def _basis(source: str) -> str:
    """A rule's source as a refusal quotes it: the document and clause, by its title."""
    return cite(source.split(":", 1)[0].strip() or source)


def _check_parent(kind: str, parent: Unit | None) -> None:
    """Tree shape (``rules/tree.toml`` [parents]): which kind may sit under which."""
    allowed, source = shape().parents[kind]
    parent_kind = parent.kind if parent else None
    if parent_kind not in allowed:
        kind_label = UnitKind(kind).label
        where = f"“{UnitKind(parent_kind).label}”之下" if parent_kind else "顶层"
        raise ValidationError({"parent": f"{kind_label}不能设在{where}(依据:{cite(source)})"})


def term_range(kind: str, rules: dict) -> tuple[int, int, Rule, Rule] | None:
    """The terms a unit of ``kind`` may have under ``rules``: the default term (``term_years_*``)
    ± ``term_adjust_max_years``; None for a kind without a term (党小组)."""
    key = TERM_KEYS.get(kind)
    if key is None:
        return None
    base, adjust = rules[key], rules["term_adjust_max_years"]
    return max(1, base.value - adjust.value), base.value + adjust.value, base, adjust


#: the matter of the 上级批复 a term away from the default needs (qms/rules/decisions.toml)
TERM_DECISION_KINDS = ("term_extend", "term_advance")


def _check_term(kind: str, term_years: int | None, rules: dict, *, unit: Unit | None = None,
                decision: HigherDecision | None = None) -> HigherDecision | None:
    """换届 (seed 001 三(二)8) — the one place the term rule lives: a term set on a unit stays
    within the default ± ``term_adjust_max_years``; and when an existing ``unit``'s term is
    changed away from the default (延期 or 提前换届), a 同意 上级批复 of the matching kind
    concerning that unit is referenced (``decision``). Returns the decision relied on."""
    if term_years is None:
        return None
    kind_label = UnitKind(kind).label
    allowed = term_range(kind, rules)
    if allowed is None:
        raise ValidationError({"term_years": f"{kind_label}不实行任期制,任期应留空"})
    lo, hi, base, adjust = allowed
    basis = "、".join(dict.fromkeys((_basis(base.source), _basis(adjust.source))))
    if not lo <= term_years <= hi:
        raise ValidationError({"term_years": (
            f"任期应在{lo}至{hi}年之间:{kind_label}每届任期一般为{base.value}年,"
            f"延期或提前换届一般不超过{adjust.value}年并须报上级党的委员会批准(依据:{basis})")})
    if unit is None or term_years == base.value:
        return None
    matter = "term_extend" if term_years > base.value else "term_advance"
    try:
        return approving_decision(unit, matter, decision)
    except ValidationError as exc:
        raise ValidationError({"decision": f"{kind_label}每届任期一般为{base.value}年,改为{term_years}年"
                                           f"{exc.messages[0]}(依据:{basis})"}) from None


def _set_path(unit: Unit) -> None:
    parent_path = unit.parent.path if unit.parent_id else ""
    unit.path = f"{parent_path}{unit.pk:08d}/"
    unit.depth = unit.path.count("/") - 1


def unit_check(*, code: str, name: str, kind: str, parent: Unit | None, term_years: int | None = None,
               task: str = "", ends_on: dt.date | None = None, admin_units: list[AdminUnit] | tuple = (),
               taken_codes: set[str] = frozenset(), new: bool = False) -> None:
    """What a unit to be set up must satisfy (成立党组织, directly or by an approved request):
    its code free and well-formed, its kind allowed where it will sit (``tree.toml``), its term
    within the rules, a 临时党支部 with its task and the day that task ends (seed 001 三(二)1:
    为执行某项任务临时组建) and, for a unit newly set up (``new``: a request to the higher
    organisation), a 联合党支部 covering at most ``joint_branch_max_units`` units — one that already
    exists is recorded as it is and warned about (``qms.structure``: 一般不超过5个).
    ``taken_codes``: codes other units of the same request will take. Raises in Chinese."""
    code = (code or "").strip()
    errors: dict[str, str] = {}
    if not _CODE_RE.match(code):
        errors["code"] = "组织编码只能由字母、数字、下划线、点和短横线组成,最长32位"
    elif code in taken_codes or Unit.objects.filter(code=code).exists():
        errors["code"] = f"组织编码 {code} 已存在"
    if not (name or "").strip():
        errors["name"] = "组织名称不能为空"
    if kind not in UnitKind.values:
        errors["kind"] = f"未知的组织类别:{kind}"
    if errors:
        raise ValidationError(errors)
    _check_parent(kind, parent)
    rules = rules_for(parent) if parent is not None else defaults()
    _check_term(kind, term_years, rules)
    if kind == UnitKind.TEMP_BRANCH:
        if not (task or "").strip():
            errors["task"] = "临时党支部应写明为执行的任务或项目(依据:" + cite("seed 001 三(二)1") + ")"
        if ends_on is None:
            errors["ends_on"] = "临时党支部应填写任务结束日期"
    elif ends_on is not None:
        errors["ends_on"] = "只有临时党支部填写任务结束日期"
    if kind == UnitKind.JOINT_BRANCH and new:
        cap = rules["joint_branch_max_units"]
        if len(admin_units) > cap.value:
            errors["admin_units"] = f"联合党支部覆盖 {len(admin_units)} 个单位,不应超过 {cap.value} 个(依据:{_basis(cap.source)})"
    if errors:
        raise ValidationError(errors)


@act("unit.create", unit=lambda parent=None, **_: parent)
@transaction.atomic
def unit_create(
    *, actor, code: str, name: str, kind: str, parent: Unit | None = None,
    founded_on: dt.date | None = None, term_start: dt.date | None = None,
    term_years: int | None = None, admin_units: list[AdminUnit] | tuple = (),
    founding_ref: str = "", task: str = "", ends_on: dt.date | None = None,
) -> Unit:
    """成立党组织 — add a unit to the tree: an organisation that already exists, recorded
    directly with its founding approval as ``founding_ref``, or one set up by an approved
    组织设置请示 (``workflows.org_change``)."""
    unit_check(code=code, name=name, kind=kind, parent=parent, term_years=term_years, task=task,
               ends_on=ends_on, admin_units=admin_units)
    unit = Unit(code=code.strip(), name=name.strip(), kind=kind, parent=parent, founded_on=founded_on,
                term_start=term_start, term_years=term_years, founding_ref=(founding_ref or "").strip()[:120],
                task=(task or "").strip()[:200], ends_on=ends_on)
    unit.save()
    _set_path(unit)
    unit.save(update_fields=["path", "depth"])
    if admin_units:
        unit.admin_units.set(admin_units)
    ledger.record("unit.create", unit, actor=actor)
    return unit


@act("unit.update", unit=lambda unit, **_: unit)
@transaction.atomic
def unit_update(unit: Unit, *, actor, reason: str, decision: HigherDecision | None = None, **changes: Any) -> Unit:
    """修改党组织 — change fields or move under another parent (never into its own subtree).
    A new term away from the default references the 同意 上级批复 (``decision``) that allows it."""
    if not (reason or "").strip():
        raise ValidationError({"reason": "修改必须填写原因"})
    unit = Unit.objects.select_for_update().get(pk=unit.pk)
    before = ledger.snapshot(unit)
    admin_units = changes.pop("admin_units", None)
    new_parent = changes.pop("parent", unit.parent) if "parent" in changes else unit.parent
    allowed = {"name", "founded_on", "term_start", "term_years", "is_active", "kind", "founding_ref", "task", "ends_on"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"不能修改字段:{', '.join(sorted(unknown))}")
    old_kind, old_term = unit.kind, unit.term_years
    for k, v in changes.items():
        setattr(unit, k, v)
    if unit.kind not in UnitKind.values:
        raise ValidationError({"kind": f"未知的组织类别:{unit.kind}"})
    moved = (new_parent.pk if new_parent else None) != unit.parent_id
    if moved and new_parent is not None and new_parent.path.startswith(unit.path):
        raise ValidationError({"parent": "不能把党组织移到它自己或它的下级组织之下(会形成环)"})
    _check_parent(unit.kind, new_parent)
    old_path = unit.path
    unit.parent = new_parent
    if moved:
        _set_path(unit)
    relied_on = None
    if unit.term_years != old_term:  # a new term: within the range, and away from the default only as approved
        relied_on = _check_term(unit.kind, unit.term_years, rules_for(unit), unit=unit, decision=decision)
    elif moved or unit.kind != old_kind:  # the rules where the unit now sits
        _check_term(unit.kind, unit.term_years, rules_for(unit))
    if relied_on is not None:
        reason = f"{reason.strip()}(依据上级批复 {relied_on.doc_number})"
    unit.save()
    if moved:
        for d in Unit.objects.filter(path__startswith=old_path).exclude(pk=unit.pk):
            d.path = unit.path + d.path[len(old_path):]
            d.depth = d.path.count("/") - 1
            d.save(update_fields=["path", "depth"])
    if admin_units is not None:
        unit.admin_units.set(admin_units)
    ledger.record("unit.update", unit, actor=actor, before=before, reason=reason)
    return unit


@act("admin_unit.create")
@transaction.atomic
def admin_unit_create(*, actor, code: str, name: str) -> AdminUnit:
    if AdminUnit.objects.filter(code=code).exists():
        raise ValidationError({"code": f"行政单位编码 {code} 已存在"})
    au = AdminUnit.objects.create(code=code, name=name)
    ledger.record("admin_unit.create", au, actor=actor)
    return au


def _check_branch_and_group(unit: Unit, group: Unit | None) -> None:
    if unit.kind not in BRANCH_KINDS:
        raise ValidationError({"unit": f"党员只能编入党支部,“{unit.name}”是{unit.get_kind_display()}"})
    if group is not None and (group.kind != UnitKind.GROUP or group.parent_id != unit.pk):
        raise ValidationError({"group": f"党小组“{group.name}”不属于“{unit.name}”"})


MEMBER_FIELDS = ("name", "gender", "id_number", "birth_date", "ethnicity", "education", "phone",
                 "category", "joined_on", "full_on", "retired_on")


def validate_member_fields(fields: dict[str, Any]) -> dict[str, str]:
    """Field-level problems of a member's data, as {field: Chinese message}."""
    errors: dict[str, str] = {}
    if not (fields.get("name") or "").strip():
        errors["name"] = "姓名不能为空"
    if fields.get("gender") not in ("M", "F"):
        errors["gender"] = "性别应为“男”或“女”"
    problem = id_number_problem(fields.get("id_number") or "")
    if problem:
        errors["id_number"] = problem
    if fields.get("category") not in MemberCategory.values:
        errors["category"] = "人员类别应为正式党员、预备党员、发展对象或入党积极分子"
    joined, full = fields.get("joined_on"), fields.get("full_on")
    if fields.get("category") in (MemberCategory.FULL, MemberCategory.PROBATIONARY) and not joined:
        errors["joined_on"] = "党员必须填写入党日期"
    if fields.get("category") == MemberCategory.FULL and not full:
        errors["full_on"] = "正式党员必须填写转正日期"
    if joined and full and full < joined:
        errors["full_on"] = "转正日期不能早于入党日期"
    for f in ("name", "ethnicity", "education", "phone"):  # 字数上限, so the roster names the row (qms/limits.py)
        label = str(Member._meta.get_field(f).verbose_name)
        problem = limits.too_long(label, fields.get(f), limits.field_limit(Member, f) or 0)
        if problem and f not in errors:
            errors[f] = problem
    birth = fields.get("birth_date")
    if birth and joined and (joined.year, joined.month, joined.day) < (birth.year + 18, birth.month, birth.day):
        errors["joined_on"] = "入党时应年满十八岁"
    return errors


@act("member.enroll", unit=lambda unit, **_: unit)
@transaction.atomic
def member_enroll(*, actor, unit: Unit, start: dt.date, group: Unit | None = None,
                  user=None, **fields: Any) -> Member:
    """建档 — put a person on the roster of a 党支部 from a date."""
    _check_branch_and_group(unit, group)
    fields["id_number"] = (fields.get("id_number") or "").strip().upper()
    errors = validate_member_fields(fields)
    if errors:
        raise ValidationError(errors)
    if Member.objects.filter(id_number=fields["id_number"]).exists():
        raise ValidationError({"id_number": f"身份证号 {fields['id_number']} 已在册"})
    unknown = set(fields) - set(MEMBER_FIELDS)
    if unknown:
        raise ValidationError(f"未知字段:{', '.join(sorted(unknown))}")
    member = Member.objects.create(user=user, **fields)
    ms = Membership.objects.create(member=member, unit=unit, group=group, start=start)
    ev = MemberEvent.objects.create(member=member, kind=MemberEventKind.ENROLL, date=start, to_unit=unit)
    for obj, action in ((member, "member.enroll"), (ms, "membership.open"), (ev, "member_event.create")):
        ledger.record(action, obj, actor=actor)
    return member


@act("member.update", unit=member_unit)
@transaction.atomic
def member_update(member: Member, *, actor, reason: str, **changes: Any) -> Member:
    """更正党员信息 — an amendment with a reason; the old values stay in the ledger."""
    if not (reason or "").strip():
        raise ValidationError({"reason": "更正必须填写原因"})
    member = Member.objects.select_for_update().get(pk=member.pk)
    before = ledger.snapshot(member)
    unknown = set(changes) - set(MEMBER_FIELDS) - {"user"}
    if unknown:
        raise ValidationError(f"不能修改字段:{', '.join(sorted(unknown))}")
    for k, v in changes.items():
        setattr(member, k, v)
    errors = validate_member_fields({f: getattr(member, f) for f in MEMBER_FIELDS})
    if errors:
        raise ValidationError(errors)
    if Member.objects.filter(id_number=member.id_number).exclude(pk=member.pk).exists():
        raise ValidationError({"id_number": f"身份证号 {member.id_number} 已在册"})
    member.save()
    ledger.record("member.update", member, actor=actor, before=before, reason=reason)
    return member


def _close_membership(member: Member, day: dt.date, actor) -> Membership:
    ms = Membership.objects.select_for_update().filter(member=member, end__isnull=True).first()
    if ms is None:
        raise ValidationError(f"{member.name} 当前没有所在党组织")
    if day <= ms.start:
        raise ValidationError({"date": f"日期应晚于当前组织关系的起始日期 {ms.start:%Y-%m-%d}"})
    before = ledger.snapshot(ms)
    ms.end = day - dt.timedelta(days=1)
    ms.save(update_fields=["end"])
    ledger.record("membership.close", ms, actor=actor, before=before)
    return ms


@act("member.transfer", unit=member_unit)
@transaction.atomic
def member_transfer(member: Member, *, actor, date: dt.date, to_unit: Unit | None,
                    group: Unit | None = None, note: str = "") -> Member:
    """组织关系转接 — move to another 党支部 (or out of the tree when ``to_unit`` is None)."""
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status != MemberStatus.ACTIVE:
        raise ValidationError(f"{member.name} 不在册,不能转接")
    if to_unit is not None:
        _check_branch_and_group(to_unit, group)
    old = _close_membership(member, date, actor)
    if to_unit is None:
        before = ledger.snapshot(member)
        member.status = MemberStatus.TRANSFERRED_OUT
        member.save(update_fields=["status"])
        ledger.record("member.transfer_out", member, actor=actor, before=before, reason=note)
        accounts.disable_for_member(member, actor=actor, reason=f"组织关系转出{('(' + note + ')') if note else ''}")
        kind = MemberEventKind.TRANSFER_OUT
    else:
        ms = Membership.objects.create(member=member, unit=to_unit, group=group, start=date)
        ledger.record("membership.open", ms, actor=actor, reason=note)
        kind = MemberEventKind.MOVE
    ev = MemberEvent.objects.create(member=member, kind=kind, date=date, from_unit=old.unit, to_unit=to_unit, note=note)
    ledger.record("member_event.create", ev, actor=actor)
    _announce(ev)
    return member


_STATUS_EVENTS = {
    MemberEventKind.RETIRE: None,
    MemberEventKind.DEATH: MemberStatus.DECEASED,
    MemberEventKind.REMOVAL: MemberStatus.REMOVED,
    MemberEventKind.PROBATION_CANCEL: MemberStatus.DISQUALIFIED,  # 《中国共产党章程》第七条
}


@act("member.status_change", unit=member_unit)
@transaction.atomic
def member_status_change(member: Member, *, actor, kind: str, date: dt.date, note: str = "",
                         category: str | None = None) -> MemberEvent:
    """党员状态变化 — retirement, death, removal (除名) or a category change (e.g. 转正)."""
    member = Member.objects.select_for_update().get(pk=member.pk)
    current = member.current_membership()
    before = ledger.snapshot(member)
    if kind == MemberEventKind.CATEGORY:
        if category not in MemberCategory.values:
            raise ValidationError({"category": "请选择新的人员类别"})
        member.category = category
        if category == MemberCategory.FULL:
            member.full_on = date
        if category == MemberCategory.PROBATIONARY:
            member.joined_on = date
    elif kind == MemberEventKind.RETIRE:
        member.retired_on = date
    elif kind in _STATUS_EVENTS:
        if member.status != MemberStatus.ACTIVE:
            raise ValidationError(f"{member.name} 已不在册")
        if kind == MemberEventKind.PROBATION_CANCEL and member.category != MemberCategory.PROBATIONARY:
            raise ValidationError(f"{member.name} 是{member.get_category_display()},只有预备党员才能取消预备党员资格")
        member.status = _STATUS_EVENTS[kind]
        _close_membership(member, date + dt.timedelta(days=1), actor)
        for p in Position.objects.select_for_update().filter(member=member, end__isnull=True):
            _position_close(p, date, actor, note or MemberEventKind(kind).label)
    else:
        raise ValidationError({"kind": f"不支持的变化类型:{kind}"})
    member.save()
    ledger.record(f"member.{kind}", member, actor=actor, before=before, reason=note)
    if member.status != MemberStatus.ACTIVE:  # 去世, 除名: the login cannot sign in any more
        accounts.disable_for_member(member, actor=actor, reason=str(MemberEventKind(kind).label))
    ev = MemberEvent.objects.create(member=member, kind=kind, date=date, note=note,
                                    from_unit=current.unit if current else None)
    ledger.record("member_event.create", ev, actor=actor)
    _announce(ev)
    return ev


def _announce(ev: MemberEvent) -> list:
    """Send ``member_event_recorded`` (same transaction) and collect what the receivers created
    (the triggered occurrences, for the page to name)."""
    out: list = []
    for _receiver, response in member_event_recorded.send(sender=MemberEvent, event=ev):
        out.extend(response or ())
    return out


@act("member.event_record", unit=member_unit)
@transaction.atomic
def member_event_record(member: Member, *, actor, kind: str, date: dt.date, note: str = "") -> MemberEvent:
    """登记党员情况 — a secretary records an event in a member's life (工作岗位变动, 受到表彰或
    奖励, 外出 …, the vocabulary in ``qms/rules/events.toml``); the obligations it triggers
    (六必谈 seed 001 三(二)5, 专题组织生活会 三(二)3, 转接 三(二)7) become occurrences with
    their deadline in the same transaction. ``event.triggered`` lists them."""
    from qms.rules.events import vocabulary

    d = vocabulary().get(kind)
    if d is None:
        raise ValidationError({"kind": "请从列表中选择党员情况的类型"})
    if not d.by_hand:
        raise ValidationError({"kind": f"“{d.label}”不在此登记,请通过相应的办理页面(组织关系转接、状态变化或任职)"})
    if date is None:
        raise ValidationError({"date": "请填写日期"})
    member = Member.objects.select_for_update().get(pk=member.pk)
    current = member.current_membership()
    if member.status != MemberStatus.ACTIVE or current is None:
        raise ValidationError(f"{member.name} 不在册,不能登记")
    ev = MemberEvent.objects.create(member=member, kind=kind, date=date, note=(note or "").strip(), from_unit=current.unit)
    ledger.record("member_event.create", ev, actor=actor, reason=ev.note)
    ev.triggered = _announce(ev)
    return ev


def secretary_training_warning(*, member: Member, unit: Unit, title: str, start: dt.date) -> str | None:
    """任前培训: appointing a 书记 who has no recorded 参加任前培训 on or before the start date
    (seed 001 四(二)). Whether this warns, refuses or is not checked is the organisation's rule
    ``secretary_pre_training_required`` (qms/rules/structure.toml). None when nothing to say."""
    from qms.rules import rules_for

    if title != PositionTitle.SECRETARY or unit.kind == UnitKind.GROUP:
        return None
    if rules_for(unit)["secretary_pre_training_required"].value == 0:
        return None
    if MemberEvent.objects.filter(member=member, kind=MemberEventKind.PRE_TRAINING, date__lte=start).exists():
        return None
    return (f"{member.name} 没有任前培训记录:新任党组织书记必须进行任前培训"
            "(《关于进一步加强和改进机关党的建设的实施意见》四(二))")


def _check_seats(unit: Unit, title: str, start: dt.date) -> None:
    """职数: which offices a kind of unit has (``rules/tree.toml`` [titles]) and how many holders
    a seat may have (``secretary_max``, ``group_leader_max``, ``small_branch_deputy_max``)."""
    title_label, kind_label = PositionTitle(title).label, UnitKind(unit.kind).label
    titles, source = shape().titles[unit.kind]
    if title not in titles:
        where = "、".join(str(UnitKind(k).label) for k, (ts, _s) in shape().titles.items() if title in ts)
        raise ValidationError({"title": f"{kind_label}不设{title_label}(依据:{cite(source)})"
                                        + (f";{title_label}只在{where}任职" if where else "")})
    rules = rules_for(unit)
    holders = Position.objects.filter(unit=unit, title=title, end__isnull=True).count()
    limit_key = {PositionTitle.SECRETARY: "secretary_max", PositionTitle.GROUP_LEADER: "group_leader_max"}.get(title)
    if limit_key and holders >= rules[limit_key].value:
        raise ValidationError({"title": f"{unit.name} 已有在任{title_label} {holders} 名,"
                                        f"{rules[limit_key].label}为 {rules[limit_key].value}(依据:{cite(rules[limit_key].source)}),请先免去原职务"})
    deputy = rules["small_branch_deputy_max"]
    if title == PositionTitle.DEPUTY_SECRETARY and unit.kind in deputy.kinds and holders >= deputy.value:
        small = rules["branch_no_committee_below"]
        count = member_count(unit, on=start)
        n = count.total if small.counts == "党员" else count.full
        if n < small.value:
            raise ValidationError({"title": f"{unit.name} {small.counts} {n} 名,不足{small.value}名,只设书记1人,"
                                            f"副书记最多 {deputy.value} 名,现已有 {holders} 名(依据:{cite(deputy.source)})"})


@act("position.assign", unit=lambda unit, **_: unit)
@transaction.atomic
def position_assign(*, actor, member: Member, unit: Unit, title: str, start: dt.date, past_term: bool = False) -> Position:
    """任职 — a member takes an office in a unit: an office the kind of unit has, within its
    number of seats (one 书记; at most one 副书记 in a 支部 too small for a 支委会).

    A new 书记 without a recorded 任前培训 (seed 001 四(二)) is refused when the organisation's
    rule says so (``secretary_pre_training_required`` = 2); by default (1) the appointment is
    made, the page warns, and an event records it so that the 补行任前培训 is owed (DJ-CX-18).
    ``past_term``: recording an office already ended (past years, imported): the rule concerns
    appointments being made, so no training is owed for it."""
    if title not in PositionTitle.values:
        raise ValidationError({"title": f"未知的职务:{title}"})
    if member.status != MemberStatus.ACTIVE:
        raise ValidationError({"member": f"{member.name} 不在册,不能任职"})
    _check_seats(unit, title, start)
    if Position.objects.filter(unit=unit, member=member, title=title, end__isnull=True).exists():
        raise ValidationError({"title": f"{member.name} 已在 {unit.name} 担任该职务"})
    untrained = None if past_term else secretary_training_warning(member=member, unit=unit, title=title, start=start)
    if untrained:
        from qms.rules import rules_for

        if rules_for(unit)["secretary_pre_training_required"].value == 2:
            raise ValidationError({"member": f"{untrained},本组织规定未培训不得任命"})
    p = Position.objects.create(member=member, unit=unit, title=title, start=start)
    ledger.record("position.assign", p, actor=actor)
    p.triggered = []
    if untrained:
        ev = MemberEvent.objects.create(member=member, kind=MemberEventKind.UNTRAINED_SECRETARY, date=start, to_unit=unit,
                                        note=f"任{unit.name}书记")
        ledger.record("member_event.create", ev, actor=actor)
        p.triggered = _announce(ev)
    return p


def _position_close(p: Position, end: dt.date, actor, reason: str) -> None:
    before = ledger.snapshot(p)
    if end < p.start:
        raise ValidationError({"end": "免职日期不能早于任职日期"})
    p.end = end
    p.save(update_fields=["end"])
    ledger.record("position.end", p, actor=actor, before=before, reason=reason)


@act("position.end", unit=lambda position, **_: position.unit)
@transaction.atomic
def position_end(position: Position, *, actor, end: dt.date, reason: str) -> Position:
    """免职 — an office ends."""
    if not (reason or "").strip():
        raise ValidationError({"reason": "免职必须填写原因"})
    p = Position.objects.select_for_update().get(pk=position.pk)
    if p.end is not None:
        raise ValidationError("该职务已免去")
    _position_close(p, end, actor, reason)
    return p


@act("role.grant", unit=lambda unit, **_: unit)
@transaction.atomic
def role_grant(*, actor, user, role: str, unit: Unit, valid_from: dt.date,
               valid_until: dt.date | None = None) -> RoleGrant:
    """授予角色 — 体系管理员, 内审员 or 外部审核员 over a subtree."""
    if role not in Role.values:
        raise ValidationError({"role": f"未知的角色:{role}"})
    if valid_until is not None and valid_until < valid_from:
        raise ValidationError({"valid_until": "失效日期不能早于生效日期"})
    g = RoleGrant.objects.create(user=user, role=role, unit=unit, valid_from=valid_from, valid_until=valid_until)
    ledger.record("role.grant", g, actor=actor)
    return g


#: the roles a 书记/委员 may give to people they manage (体系管理员 only by a 体系管理员)
AUDITOR_ROLES = (Role.INTERNAL_AUDITOR, Role.EXTERNAL_AUDITOR)


@act("role.grant_auditor", unit=lambda unit, **_: unit)
@transaction.atomic
def auditor_role_grant(*, actor, user, role: str, unit: Unit, valid_from: dt.date,
                       valid_until: dt.date | None = None) -> RoleGrant:
    """授予内审员、外部审核员角色 — by a 体系管理员, or by a 书记/委员 over a unit they manage to
    a login of a member they manage (an outsider's login is the 体系管理员's to grant)."""
    if role not in AUDITOR_ROLES:
        raise ValidationError({"role": "这里只能授予内审员或外部审核员角色"})
    if actor is not None and not allowed(actor, "role.grant", unit):  # not a 体系管理员 here
        member = Member.objects.filter(user_id=user.pk).first()
        current = member.current_membership() if member else None
        if current is None or not can_manage(actor, current.unit):
            raise ValidationError({"user": "只能向本人管理范围内的党员授予角色"})
    return role_grant(actor=actor, user=user, role=role, unit=unit, valid_from=valid_from, valid_until=valid_until)


@act("role.expire", unit=lambda grant, **_: grant.unit)
@transaction.atomic
def role_expire(grant: RoleGrant, *, actor, last_day: dt.date, reason: str) -> RoleGrant:
    """终止角色授权 — the role applies up to and including ``last_day``, not after; a day before
    it starts (or earlier) means it never applies (stored as the day before ``valid_from``).
    A 体系管理员 grant is ended only by a 体系管理员."""
    if not (reason or "").strip():
        raise ValidationError({"reason": "终止授权必须填写原因"})
    g = RoleGrant.objects.select_for_update().select_related("unit").get(pk=grant.pk)
    if g.role == Role.ADMIN and actor is not None:
        require(actor, "role.grant", g.unit)
    last_day = max(last_day, g.valid_from - dt.timedelta(days=1))
    if g.valid_until is not None and g.valid_until <= last_day:
        raise ValidationError(f"该授权的最后有效日期已是 {g.valid_until:%Y-%m-%d},无需终止")
    before = ledger.snapshot(g)
    g.valid_until = last_day
    g.save(update_fields=["valid_until"])
    ledger.record("role.expire", g, actor=actor, before=before, reason=reason)
    return g


@act("policy.override", unit=lambda unit, **_: unit)
@transaction.atomic
def policy_override_set(*, actor, unit: Unit, key: str, value: int, source: str) -> PolicyOverride:
    """An organisation sets its own value for a default rule (with the document it comes from)."""
    from qms.rules import defaults

    if key not in defaults():
        raise ValidationError({"key": f"未知的规则:{key}"})
    if not (source or "").strip():
        raise ValidationError({"source": "必须注明本组织制度依据"})
    obj = PolicyOverride.objects.filter(unit=unit, key=key).select_for_update().first()
    before = ledger.snapshot(obj) if obj else None
    if obj is None:
        obj = PolicyOverride(unit=unit, key=key)
    obj.value, obj.source = value, source
    obj.save()
    ledger.record("policy.set", obj, actor=actor, before=before, reason=source)
    return obj


# ------------------------------------------------------------------------------ 上级批复

#: an uploaded file is checked as evidence in one place (qms/uploads.py: type by content, size,
#: polyglots, zip bombs, a safe name), for every page that accepts one
read_upload = uploads.read_upload


@act("decision.record", unit=lambda decided_by_unit, **_: decided_by_unit)
@transaction.atomic
def decision_record(*, actor, unit: Unit, decided_by_unit: Unit, kind: str, doc_number: str, date: dt.date | None,
                    outcome: str, text: str = "", upload=None) -> HigherDecision:
    """登记上级批复 — a higher organisation's decision on a matter of ``unit`` (文号, date,
    deciding unit, 同意/不同意, text, an optional scanned file), recorded by the 书记/委员 of the
    deciding unit (or above) or a 体系管理员. The deciding unit must be above ``unit``."""
    return _decision_save(actor=actor, unit=unit, decided_by_unit=decided_by_unit, decided_by_name="", kind=kind,
                          doc_number=doc_number, date=date, outcome=outcome, text=text, upload=upload)


@act("decision.record_external", unit=lambda unit, **_: unit)
@transaction.atomic
def decision_record_external(*, actor, unit: Unit, decided_by_name: str, kind: str, doc_number: str,
                             date: dt.date | None, outcome: str, text: str = "", upload=None) -> HigherDecision:
    """登记系统外上级党组织的批复 — the same record when the deciding body is the top unit's own
    higher committee, which is not in the system: named by text, recorded by a 体系管理员."""
    return _decision_save(actor=actor, unit=unit, decided_by_unit=None, decided_by_name=decided_by_name, kind=kind,
                          doc_number=doc_number, date=date, outcome=outcome, text=text, upload=upload)


def _decision_save(*, actor, unit: Unit, decided_by_unit: Unit | None, decided_by_name: str, kind: str,
                   doc_number: str, date: dt.date | None, outcome: str, text: str, upload) -> HigherDecision:
    from qms.decision_kinds import decision_kinds

    errors: dict[str, str] = {}
    if kind not in decision_kinds():
        errors["kind"] = "请从列表中选择批复事项"
    doc_number = (doc_number or "").strip()
    if not doc_number:
        errors["doc_number"] = "请填写批复文号"
    if date is None:
        errors["date"] = "请填写批复日期"
    elif date > timezone.localdate():
        errors["date"] = "批复日期不能晚于今天"
    if outcome not in DecisionOutcome.values:
        errors["outcome"] = "请选择“同意”或“不同意”"
    decided_by_name = (decided_by_name or "").strip()
    within = kind in decision_kinds() and decision_kinds()[kind].within
    if decided_by_unit is not None:
        if (decided_by_unit.pk == unit.pk and not within) or not unit.path.startswith(decided_by_unit.path):
            whom = f"“{unit.name}”或它的上级党组织" if within else f"“{unit.name}”的上级党组织"
            errors["decided_by_unit"] = f"作出批复的应是{whom},“{decided_by_unit.name}”不是"
    elif unit.parent_id is not None:
        errors["decided_by_name"] = (f"“{unit.name}”的上级党组织在本系统中,批复应由上级党组织作出并登记,"
                                     "系统外的上级党组织只用于顶层组织")
    elif not decided_by_name:
        errors["decided_by_name"] = "请填写作出批复的系统外上级党组织的名称"
    if errors:
        raise ValidationError(errors)
    checked = uploads.check(upload) if upload is not None else None
    d = HigherDecision(unit=unit, kind=kind, doc_number=doc_number, date=date, outcome=outcome,
                       decided_by_unit=decided_by_unit, decided_by_name=decided_by_name, text=(text or "").strip(),
                       recorded_by=actor if getattr(actor, "pk", None) else None)
    if checked is not None:
        d.file_name, d.file_sha256 = checked.name, checked.sha256
    d.save()  # the row's own checks (text limits) before its file is written: a refusal stores none
    if checked is not None:
        d.file.save(checked.stored_name(), ContentFile(checked.data), save=False)
        d.save(update_fields=["file"])
    ledger.record("decision.record", d, actor=actor)
    return d


def approving_decision(unit: Unit, kind: str, decision: HigherDecision | None) -> HigherDecision:
    """The 同意 上级批复 of ``kind`` for ``unit`` that a step references, or a Chinese refusal."""
    from qms.decision_kinds import decision_kinds

    label = decision_kinds()[kind].label
    if decision is None:
        raise ValidationError({"decision": f"须有上级党组织同意的批复(事项:{label}),请先登记批复并选择"})
    if decision.unit_id != unit.pk or decision.kind != kind:
        raise ValidationError({"decision": f"所选批复({decision.doc_number})不是关于“{unit.name}”{label}的批复"})
    if decision.outcome != DecisionOutcome.APPROVED:
        raise ValidationError({"decision": f"批复 {decision.doc_number} 的意见是“不同意”,不能据此办理"})
    return decision
