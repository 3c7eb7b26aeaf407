"""下一步 of a ticket (不符合项/措施单) and of an internal audit: who acts next, on what, by when —
from the object's state and the permission matrix (``qms/rules/permissions.toml``: the
responsible unit's 书记/委员 acknowledge, analyse, plan and register the implementation; the
raiser, the level above or a 体系管理员 verify, close and judge effectiveness, never the
implementer; the audit team works the audit, led by its 审核组长).
"""
from __future__ import annotations

from audits.models import Audit, AuditState, NCState, Nonconformity
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


def audit_next_step(audit: Audit) -> NextStep:
    lead = named(audit.lead, "审核组长")
    if audit.state == AuditState.PLANNED:
        what = "召开首次会议,开始审核" if audit.sample.exists() else "抽取样本并召开首次会议"
        return NextStep(what, [lead], audit.start)
    if audit.state == AuditState.IN_PROGRESS:
        left = audit.items.filter(result="").count()
        what = f"记录其余 {left} 项检查结论,召开末次会议" if left else "召开末次会议,出具审核报告"
        team = [named(u, "审核员") for u in audit.team.exclude(pk=audit.lead_id).order_by("pk")]
        return NextStep(what, [lead, *team], audit.end)
    findings = audit.findings.count()
    return NextStep("已出审核报告", done=True, note=f"开具不符合项 {findings} 项,由责任组织整改" if findings else "未发现不符合")
