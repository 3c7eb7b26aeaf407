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
