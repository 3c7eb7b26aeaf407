"""年度党建工作统计 (seed 004 篇5) — the yearly form, counted from the records wherever the
data exists and entered by hand (and marked so) where it does not; Excel and PDF.

The items are data in ``audits/performance/rules/annual_stats.toml``. Counting is set-based: one query
per kind of item for the whole subtree.
"""
from __future__ import annotations

import datetime as dt
import io
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from audits.performance.models import AnnualReport
from qms import ledger
from qms.models import Member, Unit
from qms.permissions import act
from workflows.models import DuesPayment, Occurrence, State

RULES = Path(__file__).resolve().parent / "rules" / "annual_stats.toml"
HELD = (State.HELD, State.CHECKED, State.CLOSED)


@cache
def form() -> dict:
    with RULES.open("rb") as f:
        return tomllib.load(f)


@dataclass
class Row:
    section: str
    key: str
    label: str
    unit: str
    value: Decimal | int | None
    manual: bool
    how: str


def _occurrence_counts(root: Unit, year: int) -> tuple[dict, dict]:
    """(held, due) counts keyed by (document code, obligation title), one query each."""
    base = Occurrence.objects.filter(unit__path__startswith=root.path)
    held = {(c, t): n for c, t, n in base.filter(held_on__year=year, state__in=HELD)
            .values_list("obligation__version__document__code", "obligation__title").annotate(n=Count("id")).order_by()}
    due = {(c, t): n for c, t, n in base.filter(due_date__year=year).exclude(state=State.CANCELLED)
           .values_list("obligation__version__document__code", "obligation__title").annotate(n=Count("id")).order_by()}
    return held, due


def _sum(counts: dict, item: dict) -> int:
    docs, title = item.get("documents") or [], item.get("obligation_title")
    return sum(n for (code, t), n in counts.items() if (not docs or code in docs) and (not title or t == title))


def rows(root: Unit, year: int) -> list[Row]:
    """The whole form for ``root``'s subtree and ``year``."""
    held, due = _occurrence_counts(root, year)
    members = Member.objects.filter(memberships__unit__path__startswith=root.path).distinct()
    joined = members.filter(joined_on__year=year).count()
    made_full = members.filter(full_on__year=year).count()
    dues = (DuesPayment.objects.filter(member__in=members, paid_on__year=year).aggregate(s=Sum("amount"))["s"]
            or Decimal("0.00"))
    report = AnnualReport.objects.filter(root=root, year=year).first()
    entered = report.values if report else {}
    out = []
    for it in form()["items"]:
        kind = it["kind"]
        if kind == "manual":
            e = entered.get(it["key"])
            value = Decimal(e["value"]) if e else None
            how = f"手工填报({e['by']},{e['at'][:10]}){':' + e['note'] if e.get('note') else ''}" if e else "待填报"
            out.append(Row(it["section"], it["key"], it["label"], it["unit"], value, True, how))
            continue
        if kind == "held":
            value, how = _sum(held, it), "系统统计:已开展并记录的事项" + (f"({'、'.join(it['documents'])})" if it.get("documents") else "")
        elif kind == "due":
            value, how = _sum(due, it), f"系统统计:本年到期的事项({'、'.join(it['documents'])})"
        elif kind == "joined":
            value, how = joined, "系统统计:花名册“入党日期”在本年的人员"
        elif kind == "made_full":
            value, how = made_full, "系统统计:花名册“转正日期”在本年的人员"
        elif kind == "dues":
            value, how = dues, "系统统计:本年交纳的党费合计"
        else:
            raise ValueError(f"未知统计类型 {kind}")
        out.append(Row(it["section"], it["key"], it["label"], it["unit"], value, False, how))
    return out


@act("annual.enter", unit=lambda root, **_: root)
@transaction.atomic
def enter(root: Unit, year: int, key: str, *, actor, value: str, note: str = "") -> AnnualReport:
    """手工填报 one item (manual items only); changing a value needs a note saying why."""
    if actor is None:
        raise ValidationError("填报须由具名人员进行")
    item = next((i for i in form()["items"] if i["key"] == key), None)
    if item is None:
        raise ValidationError("未知的统计项目")
    if item["kind"] != "manual":
        raise ValidationError(f"“{item['label']}”由系统按记录统计,不能手工填报")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError(f"“{item['label']}”应填写数字") from None
    if not number.is_finite() or number < 0:
        raise ValidationError(f"“{item['label']}”应为非负的数字")
    report, _ = AnnualReport.objects.select_for_update().get_or_create(root=root, year=year)
    before = ledger.snapshot(report)
    old = report.values.get(key)
    if old and not (note or "").strip():
        raise ValidationError("修改已填报的数字须说明原因")
    report.values = {**report.values, key: {"value": str(number), "note": (note or "").strip(), "by": actor.get_username(),
                                            "at": timezone.now().isoformat()}}
    report.save()
    ledger.record("annual.amend" if old else "annual.enter", report, actor=actor, before=before, reason=(note or "").strip())
    return report


def xlsx(root: Unit, year: int) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = f"{year}年统计"
    ws.append([f"{root.name} {year} 年党建工作统计({form()['source']})"])
    ws["A1"].font = Font(bold=True)
    ws.append(["类别", "项目", "数量", "单位", "来源"])
    for r in rows(root, year):
        ws.append([r.section, r.label, None if r.value is None else float(r.value) if isinstance(r.value, Decimal) else r.value,
                   r.unit, r.how])
    for col, width in zip("ABCDE", (16, 36, 12, 6, 48), strict=True):
        ws.column_dimensions[col].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def pdf(root: Unit, year: int) -> bytes:
    from django.conf import settings
    from django.template.loader import render_to_string
    from weasyprint import HTML

    html = render_to_string("audits/annual_print.html", {"root": root, "year": year, "rows": rows(root, year),
                                                         "source": form()["source"], "printed_at": timezone.localtime()})
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()


def default_year(today: dt.date | None = None) -> int:
    return (today or timezone.localdate()).year
