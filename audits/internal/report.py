"""审核报告 — the ISO 19011 §6.5.1 report as a PDF (WeasyPrint, CJK fonts named in CSS)."""
from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from audits.capa.models import Grade
from audits.internal.models import Audit


def report_pdf(audit: Audit) -> bytes:
    from weasyprint import HTML

    findings = list(audit.findings.select_related("unit").order_by("grade", "code"))
    counts = {label: sum(1 for f in findings if f.grade == g) for g, label in Grade.choices}
    html = render_to_string("audits/report_print.html", {
        "audit": audit, "units": audit.units.order_by("path"), "team": audit.team.all(), "documents": audit.documents.all(),
        "findings": findings, "counts": counts, "items": audit.items.count(), "sample": audit.sample.count(),
        "meetings": audit.meetings.prefetch_related("auditors", "auditees"),
        "printed_at": timezone.localtime(),
    })
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()
