"""下一步 of a ticket (不符合项/措施单): who acts next, on what, by when — from the object's
state and the permission matrix (``qms/rules/permissions.toml``: the responsible unit's
书记/委员 acknowledge, analyse, plan and register the implementation; the raiser, the level
above or a 体系管理员 verify, close and judge effectiveness, never the implementer).
"""
from __future__ import annotations

from audits.capa.models import NCState, Nonconformity
from qms.models import PositionTitle
from qms.nextstep import NextStep, admins_over, named, people_in, position_label

LEADERS = (PositionTitle.SECRETARY, PositionTitle.DEPUTY_SECRETARY)


def _unit_leaders(nc: Nonconformity) -> tuple[list[str], str]:
    return people_in(nc.unit, LEADERS) or admins_over(nc.unit), position_label(nc.unit, PositionTitle.SECRETARY)


def _verifiers(nc: Nonconformity) -> tuple[list[str], str]:
    """The raiser (unless they registered the implementation), else the level above, else the
    体系管理员 — the first of those the matrix allows."""
    if nc.raised_by_id and nc.raised_by_id != nc.implemented_by_id:
        return [named(nc.raised_by, "提出人")], ""
    parent = nc.unit.parent
    who = people_in(parent, LEADERS, exclude_users=[nc.implemented_by_id]) or admins_over(nc.unit, exclude_users=[nc.implemented_by_id])
    return who, position_label(parent or nc.unit, PositionTitle.SECRETARY)


def nc_next_step(nc: Nonconformity) -> NextStep:
    state = nc.state
    if state == NCState.RAISED:
        who, office = _unit_leaders(nc)
        return NextStep("确认不符合项", who, vacant=office)
    if state == NCState.ACKNOWLEDGED:
        who, office = _unit_leaders(nc)
        return NextStep("分析根本原因(五问法)", who, vacant=office)
    if state == NCState.ANALYSED:
        who, office = _unit_leaders(nc)
        return NextStep("制定纠正措施、责任人和整改期限", who, vacant=office)
    if state == NCState.PLANNED:
        who = [f"{nc.owner.name}(整改责任人)"] if nc.owner_id else _unit_leaders(nc)[0]
        return NextStep("完成整改并登记整改证据", who, nc.due_date)
    if state == NCState.IMPLEMENTED:
        who, office = _verifiers(nc)
        return NextStep("验证整改(实施人不能验证)", who, vacant=office)
    if state == NCState.VERIFIED:
        who, office = _verifiers(nc)
        return NextStep("关闭不符合项", who, vacant=office)
    if state == NCState.CLOSED:
        who, office = _verifiers(nc)
        when = f"自 {nc.effectiveness_due:%Y-%m-%d} 起" if nc.effectiveness_due else ""
        return NextStep(f"{when}评价整改有效性", who, vacant=office)
    if state == NCState.EFFECTIVE:
        return NextStep("整改有效,已闭环", done=True)
    successor = nc.successors.order_by("pk").first()
    return NextStep("整改无效" + (f",已另立 {successor.code}" if successor else ""), done=True)
