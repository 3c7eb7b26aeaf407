"""下一步 of an occurrence (应开展事项): who acts next, on what, by when — from its PDCA state,
the obligation's responsible office and checker (``Obligation.responsible`` / ``checker`` /
``checker_level``, the same ones ``services.may_check`` enforces) and its open follow-ups.
"""
from __future__ import annotations

from qms.models import PositionTitle
from qms.nextstep import NextStep, admins_over, people_in, position_label
from workflows.models import Occurrence, State

LEADERS = (PositionTitle.SECRETARY, PositionTitle.DEPUTY_SECRETARY)


def _responsible(occ: Occurrence) -> tuple[list[str], str]:
    ob = occ.obligation
    who = people_in(occ.unit, [ob.responsible])
    if not who:  # nobody holds the office the rule names: the unit's secretary answers for it
        who = people_in(occ.unit, LEADERS)
    return who, position_label(occ.unit, ob.responsible)


def checker_unit(occ: Occurrence):
    ob = occ.obligation
    return occ.unit.parent if ob.checker_level == "parent" and occ.unit.parent_id else occ.unit


def occurrence_next_step(occ: Occurrence, missing: list[str] | None = None) -> NextStep:
    """``missing``: the record's missing elements when the caller has them already."""
    state = occ.state
    if state == State.OPEN:
        who, office = _responsible(occ)
        return NextStep("制定计划(日期、地点、议程)", who, occ.due_date, vacant=office)
    if state == State.PLANNED:
        who, office = _responsible(occ)
        when = f"{occ.planned_date:%m-%d} " if occ.planned_date else ""
        what = f"于 {when}开展并提交记录" if when else "开展并提交记录"
        return NextStep(what, who, occ.due_date, vacant=office)
    if state == State.HELD:
        from workflows.services import missing_elements

        if missing is None:
            rec = getattr(occ, "record", None)
            missing = missing_elements(rec) if rec is not None else []
        if missing:  # the checker would refuse it: completing the record comes first
            who, office = _responsible(occ)
            listed = "、".join(missing[:3]) + ("等" if len(missing) > 3 else "")
            return NextStep(f"补全记录要素({listed})后交上级检查", who, None, vacant=office)
        unit = checker_unit(occ)
        who = people_in(unit, [occ.obligation.checker]) or admins_over(occ.unit)
        return NextStep("检查记录(检查通过后记录冻结)", who, None, vacant=position_label(unit, occ.obligation.checker),
                        note="提交人不能检查自己提交的记录")
    if state == State.CHECKED and occ.imported_at:  # a past meeting entered as history: nothing left to do
        if occ.external_id:
            return NextStep("从其他系统导入的会议记录,无需再处理", done=True)
        return NextStep("往年会议的历史记录(导入),无需再处理", done=True)
    if state == State.CHECKED:
        rec = getattr(occ, "record", None)
        open_items = list(rec.followups.filter(done_on__isnull=True).order_by("due_date")) if rec else []
        who, office = _responsible(occ)
        if open_items:
            owners = "、".join(dict.fromkeys(f.owner.name for f in open_items))
            what = "决议、补课或组织处置" if any(f.kind == "disposal" for f in open_items) else "决议或补课"
            return NextStep(f"督促落实 {len(open_items)} 项{what}({owners})后闭环", who,
                            max(f.due_date for f in open_items), vacant=office)
        return NextStep("闭环(A)", who, None, vacant=office)
    if state == State.CLOSED:
        return NextStep("已闭环", done=True)
    if state == State.MISSED:
        nc = occ.nonconformities.order_by("pk").first()
        if nc is not None:
            return NextStep(f"本期未开展,已立项整改 {nc.code}", done=True)
        parent = occ.unit.parent
        who = people_in(parent, LEADERS) or admins_over(occ.unit)
        return NextStep("将本期未开展立项整改", who, None, vacant=position_label(parent or occ.unit, PositionTitle.SECRETARY))
    return NextStep("已取消", done=True, note=occ.remark)
