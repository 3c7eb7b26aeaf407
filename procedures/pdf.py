"""Printable record forms (A4, WeasyPrint, CJK fonts named in CSS) — 记录表格打印版.

A blank form printed from the system carries its code and version, so a paper record can
be traced to the controlled form it was made on (ISO 9001 §7.5.3).
"""
from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from procedures.models import RecordForm

#: Rows of blank lines a field type gets on paper.
_LINES = {"rich_text": 8, "attendance": 6, "dues": 8, "grades": 10, "votes": 3, "resolutions": 5, "attachments": 1}


def render_form_html(form: RecordForm, *, unit_name: str = "") -> str:
    fields = [
        {"label": f.label, "required": f.required, "help": f.help_text, "lines": range(_LINES.get(f.type, 1)), "type": f.type}
        for f in form.fields.all()
    ]
    return render_to_string("procedures/form_print.html", {
        "form": form, "fields": fields, "unit_name": unit_name, "printed_at": timezone.localtime(),
    })


def render_form_pdf(form: RecordForm, *, unit_name: str = "") -> bytes:
    from weasyprint import HTML

    html = render_form_html(form, unit_name=unit_name)
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()
