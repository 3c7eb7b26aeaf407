"""Home-page panels of document control (registered with ``qms.site``)."""
from __future__ import annotations

from django.urls import reverse

from qms.scoping import is_admin


def overdue_review_panel(request) -> dict | None:
    """For the 体系管理员: documents overdue for their periodic review (ISO 9001 §7.5.2)."""
    if not is_admin(request.user):
        return None
    from procedures.views import overdue_reviews

    rows = [
        (f"{v.document.code} {v.document.title}({v.label})", reverse("procedure_detail", args=[v.document_id]),
         f"应于 {v.next_review_on:%Y-%m-%d} 前评审")
        for v in overdue_reviews(request.user)
    ]
    return {"title": "逾期未评审的体系文件", "rows": rows, "empty": "所有现行文件均在评审期内。"}


def approval_tasks_panel(request) -> dict | None:
    """我的待办: open review/approval tasks on documents the user manages."""
    from procedures.flows import DocumentApprovalFlow, open_tasks
    from procedures.models import DocumentVersion
    from qms.scoping import can_manage, scopes_for

    if not any(s.can_manage for s in scopes_for(request.user)):
        return None
    tasks = list(open_tasks())
    versions = DocumentVersion.objects.in_bulk([t.process.artifact_object_id for t in tasks])
    rows = []
    for t in tasks:
        v = versions.get(t.process.artifact_object_id)
        if v is None or v.document.owner is None or not can_manage(request.user, v.document.owner):
            continue
        step = "待审核" if t.flow_task == DocumentApprovalFlow.review else "待批准"
        rows.append((f"{v.document.code} {v.document.title}({v.label})", reverse("procedure_detail", args=[v.document_id]) + f"?version={v.pk}", step))
    return {"title": "文件审批待办", "rows": rows, "empty": "没有待审核或待批准的文件。"}
