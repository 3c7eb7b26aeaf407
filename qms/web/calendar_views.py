"""工作日历 page: the years whose 法定节假日 and 调休 are known (shipped with the product or entered
by the 体系管理员), a year's twelve months as a picture, and the form to enter or correct a
year. Thin: parsing and checks are in ``qms.workdays``."""
from __future__ import annotations

import calendar as pycal
import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone

from qms import workdays
from qms.params import as_int, printable_post
from qms.permissions import allowed

WEEKDAYS = "一二三四五六日"


def _months(year: int, y: workdays.Year | None) -> list[dict]:
    """Twelve months, each a list of weeks of (day, kind): kind off (放假), on (调休上班), rest
    (周末), work, or None for the padding."""
    out = []
    for month in range(1, 13):
        weeks = []
        for week in pycal.Calendar().monthdatescalendar(year, month):
            row = []
            for day in week:
                if day.month != month:
                    row.append((None, ""))
                elif y is not None and day in y.off:
                    row.append((day.day, "off"))
                elif y is not None and day in y.on:
                    row.append((day.day, "on"))
                else:
                    row.append((day.day, "rest" if day.weekday() >= 5 else "work"))
            weeks.append(row)
        out.append({"month": month, "weeks": weeks})
    return out


def missing_years(today: dt.date) -> list[int]:
    """This year, and from November the next (the State Council publishes it then), when not entered."""
    years = [today.year] + ([today.year + 1] if today.month >= 11 else [])
    known = workdays.calendar()
    return [y for y in years if y not in known]


@login_required
def work_calendar(request):
    """工作日历 — every member may look; the 体系管理员 enters a year."""
    may = allowed(request.user, "calendar.edit", None)
    if request.method == "POST":
        if not may:
            raise PermissionDenied("只有体系管理员可以录入工作日历")
        printable_post(request)
        p = request.POST
        year = as_int(p.get("year"))
        try:
            workdays.calendar_year_save(actor=request.user, year=year, source=p.get("source", ""),
                                        off=p.get("off", ""), on=p.get("on", ""), reason=p.get("reason", ""))
        except ValidationError as exc:
            messages.error(request, ";".join(exc.messages))
            return render(request, "qms/work_calendar.html", _context(request, may, year, p), status=400)
        messages.success(request, f"已录入{year}年工作日历")
        return redirect(f"{request.path}?year={year}")
    return render(request, "qms/work_calendar.html", _context(request, may, as_int(request.GET.get("year")), None))


def _context(request, may: bool, year: int | None, posted) -> dict:
    today = timezone.localdate()
    cal = workdays.calendar()
    if year is None or not 2000 <= year <= 2100:
        year = today.year
    shown = cal.get(year)
    rows = [{"year": y.year, "source": y.source, "off": len(y.off), "on": len(y.on),
             "entered": y.entered, "current": y.year == year} for y in sorted(cal.values(), key=lambda y: y.year)]
    form = {"year": year, "source": shown.source if shown else "", "reason": "",
            "off": "\n".join(f"{d:%Y-%m-%d}" for d in sorted(shown.off)) if shown else "",
            "on": "\n".join(f"{d:%Y-%m-%d}" for d in sorted(shown.on)) if shown else ""}
    if posted is not None:
        form.update({k: posted.get(k, "") for k in ("year", "source", "off", "on", "reason")})
    return {"rows": rows, "year": year, "shown": shown, "months": _months(year, shown), "weekdays": WEEKDAYS,
            "missing": missing_years(today), "may": may, "form": form, "years": range(today.year - 1, today.year + 3)}


def calendar_panel(request) -> dict | None:
    """Home panel for the 体系管理员: a year whose 节假日安排 is not entered (this year, and from
    November the next), with the way to the page; None otherwise."""
    from django.urls import reverse

    if not getattr(request.user, "is_authenticated", False) or not allowed(request.user, "calendar.edit", None):
        return None
    missing = missing_years(timezone.localdate())
    if not missing:
        return None
    url = reverse("work_calendar")
    return {"title": "工作日历", "empty": "",
            "rows": [(f"{y}年的法定节假日安排尚未录入(公示期暂按周一至周五计算)", f"{url}?year={y}", "去录入") for y in missing]}
