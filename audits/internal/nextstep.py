"""下一步 of an internal audit: the audit team works the audit, led by its 审核组长, by the
audit's dates (ISO 19011 §6.4)."""
from __future__ import annotations

from audits.internal.models import Audit, AuditState
from qms.nextstep import NextStep, named


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
