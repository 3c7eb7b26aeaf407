"""下一步 of a document version: who acts next, on what, by when — from its status and the
permission matrix (the owning unit's 书记/委员 or a 体系管理员 draft, review and approve; the
drafter never reviews, neither drafter nor reviewer approves; an approved version is published
by the system on its effective date; an effective one is reviewed again by ``next_review_on``).
"""
from __future__ import annotations

from procedures.models import DocumentVersion, VersionStatus
from qms.models import PositionTitle
from qms.nextstep import NextStep, admins_over, named, people_in, position_label

LEADERS = (PositionTitle.SECRETARY, PositionTitle.DEPUTY_SECRETARY)


def _officers(v: DocumentVersion, exclude=()) -> list[str]:
    owner = v.document.owner
    return people_in(owner, LEADERS, exclude_users=exclude) or admins_over(owner, exclude_users=exclude)


def version_next_step(v: DocumentVersion) -> NextStep:
    owner = v.document.owner
    office = position_label(owner, PositionTitle.SECRETARY) if owner else "体系管理员"
    if v.status == VersionStatus.DRAFT:
        who = [named(v.drafted_by, "起草人")] if v.drafted_by_id else _officers(v)
        return NextStep("修改草稿并提交审核", who, vacant=office)
    if v.status == VersionStatus.UNDER_REVIEW and not v.reviewed_by_id:
        return NextStep("审核(起草人不能审核)", _officers(v, exclude=[v.drafted_by_id]), vacant=office)
    if v.status == VersionStatus.UNDER_REVIEW:
        return NextStep("批准并确定生效日期(起草人、审核人不能批准)",
                        _officers(v, exclude=[v.drafted_by_id, v.reviewed_by_id]), vacant=office)
    if v.status == VersionStatus.APPROVED:
        return NextStep(f"于 {v.effective_on:%Y-%m-%d} 自动发布生效" if v.effective_on else "发布生效", ["系统"])
    if v.status == VersionStatus.EFFECTIVE:
        return NextStep("定期评审本文件是否仍然适宜", _officers(v), v.next_review_on, vacant=office)
    return NextStep(v.get_status_display(), done=True)


