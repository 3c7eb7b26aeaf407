"""年度党建工作统计 (seed 004 篇5) — the yearly form whole: its 61 items in the form's six sections
and order, each cell counted from the records wherever the data exists and entered by hand (and
marked so, with who and when) where it does not; a short supplement of items this product counts
that are not on the form; Excel and PDF.

The items are data in ``audits/performance/rules/annual_stats.toml``. Counting is set-based: one query
per kind of item for the whole subtree.
"""
from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from audits.performance.models import AnnualReport
from qms import ledger
from qms.models import Member, Position, Unit
from qms.people import person
from qms.permissions import act
from workflows.models import Attendance, DuesPayment, Occurrence, Presence, State
from workflows.people import leader_offices, lectures_given

RULES = Path(__file__).resolve().parent / "rules" / "annual_stats.toml"
HELD = (State.HELD, State.CHECKED, State.CLOSED)


@cache
def form() -> dict:
    with RULES.open("rb") as f:
        return tomllib.load(f)


@dataclass
class Cell:
    """One blank of the form: its number, and where the number comes from."""

    key: str
    label: str
    unit: str
    value: Decimal | int | None
    manual: bool
    how: str
    check: int | None = None  # a count from the records the hand entries should agree with


@dataclass
class Row:
    """One item of the form (its id in the seed's numbering, e.g. ``5-二4``) with its cells."""

    id: str
    section: str
    group: str
    label: str
    cells: list[Cell]
    supplement: bool = False
    source: str = ""


def _all_rows() -> list[tuple[dict, bool]]:
    return [(r, False) for r in form()["rows"]] + [(r, True) for r in form().get("supplement", [])]


def cell_specs() -> dict[str, dict]:
    """Every cell of the form by key."""
    return {c["key"]: c for r, _ in _all_rows() for c in r["cells"]}


def cell_names() -> dict[str, str]:
    """Every cell's name as a reader knows it: its label, after its item's where the item has
    several cells (报告会's "参加" is "举办报告会,参加人次:参加")."""
    return {c["key"]: c["label"] if len(r["cells"]) == 1 else f"{r['label']}:{c['label']}"
            for r, _ in _all_rows() for c in r["cells"]}


def manual_keys() -> list[str]:
    return [k for k, c in cell_specs().items() if c["kind"] == "manual"]


def _occurrence_counts(root: Unit, year: int) -> tuple[dict, dict]:
    """(held, due) counts keyed by (document code, rule key, unit kind), one query each."""
    base = Occurrence.objects.filter(unit__path__startswith=root.path)
    keys = ("obligation__version__document__code", "obligation_key", "unit__kind")
    held = {k[:3]: k[3] for k in base.filter(held_on__year=year, state__in=HELD)
            .values_list(*keys).annotate(n=Count("id")).order_by()}
    due = {k[:3]: k[3] for k in base.filter(due_date__year=year).exclude(state=State.CANCELLED)
           .values_list(*keys).annotate(n=Count("id")).order_by()}
    return held, due


def _sum(counts: dict, spec: dict) -> int:
    docs, rules, kinds = spec.get("documents") or [], spec.get("obligations") or [], spec.get("unit_kinds") or []
    return sum(n for (code, rule, kind), n in counts.items()
               if (not docs or code in docs) and (not rules or rule in rules) and (not kinds or kind in kinds))


def _attended(root: Unit, year: int) -> dict[str, int]:
    """People marked 出席 at held executions in the year, by procedure code (one query)."""
    return dict(Attendance.objects.filter(record__occurrence__unit__path__startswith=root.path,
                                          record__occurrence__held_on__year=year, record__occurrence__state__in=HELD,
                                          presence=Presence.PRESENT)
                .values_list("record__occurrence__obligation__version__document__code").annotate(n=Count("id")).order_by())


def _position_changes(root: Unit, year: int) -> list[tuple[int, str]]:
    """(member, unit kind) of every office in the subtree that began or ended in the year."""
    return list(Position.objects.filter(unit__path__startswith=root.path)
                .filter(Q(start__year=year) | Q(end__year=year)).values_list("member_id", "unit__kind"))


HOW = {
    "held": "系统统计:已开展并记录的事项",
    "due": "系统统计:本年到期的事项",
    "attended": "系统统计:已开展事项记录中登记出席的人次",
    "position_changes": "系统统计:本年任职或免职的党务干部(职务记录)",
    "joined": "花名册“入党日期”在本年的人员",
    "made_full": "花名册“转正日期”在本年的人员",
    "dues": "系统统计:本年交纳的党费合计",
    "leader_lectures": "系统统计:已检查的党课记录中,主讲人为党委(党组)成员的",
}


def _entered_by(e: dict) -> str:
    if e.get("by_name"):
        return e["by_name"]
    user = get_user_model().objects.filter(username=e.get("by", "")).first()
    return person(user) if user is not None else "填报人"


def rows(root: Unit, year: int) -> list[Row]:
    """The whole form for ``root``'s subtree and ``year``, in the seed's order, then the supplement."""
    held, due = _occurrence_counts(root, year)
    attended = _attended(root, year)
    changes = _position_changes(root, year)
    members = Member.objects.filter(memberships__unit__path__startswith=root.path).distinct()
    counted = {"joined": members.filter(joined_on__year=year).count(),
               "made_full": members.filter(full_on__year=year).count()}
    dues = (DuesPayment.objects.filter(member__in=members, paid_on__year=year).aggregate(s=Sum("amount"))["s"]
            or Decimal("0.00"))
    leaders = leader_offices(year)
    leader_lectures = len({occ.pk for pk, occs in lectures_given(root, year).items() if pk in leaders for occ in occs})
    report = AnnualReport.objects.filter(root=root, year=year).first()
    entered = report.values if report else {}
    out = []
    for spec, supplement in _all_rows():
        cells = []
        for c in spec["cells"]:
            kind = c["kind"]
            docs = f"({'、'.join(c['documents'])})" if c.get("documents") else ""
            if kind == "manual":
                e = entered.get(c["key"])
                value = Decimal(e["value"]) if e else None
                how = f"手工填报({_entered_by(e)},{e['at'][:10]}){':' + e['note'] if e.get('note') else ''}" if e else "待填报"
                check = counted[c["check"]] if c.get("check") else None
                if check is not None:
                    how += f";{HOW[c['check']]}共 {check} 人,各项合计应与之相符"
                cells.append(Cell(c["key"], c["label"], c["unit"], value, True, how, check))
                continue
            if kind == "held":
                value = _sum(held, c)
            elif kind == "due":
                value = _sum(due, c)
            elif kind == "attended":
                value = sum(attended.get(code, 0) for code in c.get("documents") or [])
            elif kind == "position_changes":
                kinds = c.get("unit_kinds") or []
                value = len({m for m, k in changes if not kinds or k in kinds})
            elif kind == "dues":
                value = dues
            elif kind == "leader_lectures":
                value = leader_lectures
            else:
                raise ValueError(f"未知统计类型 {kind}")
            cells.append(Cell(c["key"], c["label"], c["unit"], value, False, HOW[kind] + docs))
        out.append(Row(spec["id"], spec["section"], spec.get("group", ""), spec["label"], cells, supplement,
                       spec.get("source", "")))
    return out


@act("annual.enter", unit=lambda root, **_: root)
@transaction.atomic
def enter(root: Unit, year: int, key: str, *, actor, value: str, note: str = "") -> AnnualReport:
    """手工填报 one item (manual items only); changing a value needs a note saying why."""
    if actor is None:
        raise ValidationError("填报须由具名人员进行")
    item = cell_specs().get(key)
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
    if item.get("percent") and number > 100:
        raise ValidationError(f"“{item['label']}”是百分数,应在 0–100 之间")
    report, _ = AnnualReport.objects.select_for_update().get_or_create(root=root, year=year)
    before = ledger.snapshot(report)
    old = report.values.get(key)
    if old and not (note or "").strip():
        raise ValidationError("修改已填报的数字须说明原因")
    report.values = {**report.values, key: {"value": str(number), "note": (note or "").strip(), "by": actor.get_username(),
                                            "by_name": person(actor), "at": timezone.now().isoformat()}}
    report.save()
    ledger.record("annual.amend" if old else "annual.enter", report, actor=actor, before=before, reason=(note or "").strip())
    return report


@act("annual.enter", unit=lambda root, **_: root)
@transaction.atomic
def enter_many(root: Unit, year: int, values: dict[str, str], *, actor, note: str = "") -> list[str]:
    """手工填报 several items in one submit, all or nothing: blank boxes and unchanged numbers are
    left alone; every refusal is named by its item. Returns the labels of what was entered."""
    report = AnnualReport.objects.filter(root=root, year=year).first()
    current = report.values if report else {}
    specs, done, problems = cell_specs(), [], []
    for key, raw in values.items():
        text = str(raw or "").strip()
        if not text:
            continue
        old = current.get(key)
        try:
            if old is not None and Decimal(text) == Decimal(old["value"]):
                continue
        except InvalidOperation:
            pass  # enter() names the bad number
        try:
            enter(root, year, key, actor=actor, value=text, note=note)
            done.append(specs[key]["label"])
        except ValidationError as exc:
            problems.extend(exc.messages)
    if problems:
        raise ValidationError(problems)
    return done


def xlsx(root: Unit, year: int) -> bytes:
    from openpyxl.styles import Font

    from qms import exports

    wb = exports.workbook()
    ws = wb.active
    ws.title = f"{year}年统计"
    ws.append([f"{root.name} {year} 年党建工作统计({form()['source']})"])
    ws["A1"].font = Font(bold=True)
    ws.append(["编号", "类别", "项目", "栏目", "数量", "单位", "来源"])
    for r in rows(root, year):
        for c in r.cells:
            number = None if c.value is None else float(c.value) if isinstance(c.value, Decimal) else c.value
            ws.append([r.id, r.section, f"{r.group} {r.label}".strip(), c.label, number, c.unit, c.how])
    for col, width in zip("ABCDEFG", (10, 16, 40, 22, 12, 6, 48), strict=True):
        ws.column_dimensions[col].width = width
    return exports.xlsx_bytes(wb)


def pdf(root: Unit, year: int) -> bytes:
    from django.conf import settings
    from django.template.loader import render_to_string
    from weasyprint import HTML

    html = render_to_string("audits/annual_print.html", {"root": root, "year": year, "rows": rows(root, year),
                                                         "source": form()["source"], "printed_at": timezone.localtime()})
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()


def default_year(today: dt.date | None = None) -> int:
    return (today or timezone.localdate()).year
