"""联系组、协作组与联系点 pages: the groups and points of the organisation in scope with each
group's activities against its yearly number (the group's line of 执行情况), the forms to set
them up, and one group with its 联席会议. Thin over ``workflows.coalitions``."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone

from qms import permissions
from qms.models import Member, Unit, UnitKind
from qms.pages import asked_year, scope_root
from qms.params import as_date as _date
from qms.params import as_int as _int
from qms.params import printable_post
from qms.rules import rules_for
from qms.scoping import get_visible_or_404, restrict
from workflows import coalitions
from workflows.models import Coalition, CoalitionKind, LiaisonPoint


@login_required
def coalition_list(request):
    root, year = scope_root(request), asked_year(request)
    may = permissions.allowed(request.user, "coalition.manage", root)
    below = Unit.objects.filter(path__startswith=root.path, is_active=True).exclude(pk=root.pk).exclude(kind=UnitKind.GROUP)
    if request.method == "POST":
        permissions.require(request.user, "coalition.manage", root)
        printable_post(request)
        p = request.POST
        try:
            if p.get("action") == "point":
                unit = below.filter(pk=_int(p.get("unit"))).first()
                leader = Member.objects.filter(pk=_int(p.get("leader"))).first()
                if unit is None or leader is None:
                    raise ValidationError("请选择联系点单位和联系领导")
                coalitions.point_create(actor=request.user, root=root, unit=unit, leader=leader, theme=p.get("theme", ""),
                                        tasks=p.get("tasks", ""), due_on=_date(p.get("due_on")))
                messages.success(request, f"已确定联系点:{unit.name}")
            elif p.get("action") == "summary":
                point = LiaisonPoint.objects.get(pk=_int(p.get("point")), root=root)
                coalitions.point_summarise(point, actor=request.user, summary=p.get("summary", ""))
                messages.success(request, "已登记经验总结")
            else:
                units = list(below.filter(pk__in=[_int(v) for v in p.getlist("units")]))
                lead = below.filter(pk=_int(p.get("lead_unit"))).first()
                leader = Member.objects.filter(pk=_int(p.get("leader"))).first() if p.get("leader") else None
                n = _int(p.get("meetings_per_year")) if p.get("meetings_per_year") else None
                c = coalitions.coalition_create(actor=request.user, root=root, kind=p.get("kind", ""), name=p.get("name", ""),
                                                basis=p.get("basis", ""), units=units, lead_unit=lead, leader=leader,
                                                content=p.get("content", ""), form=p.get("form", ""), meetings_per_year=n,
                                                meetings_source=p.get("meetings_source", ""), guideline=p.get("guideline", ""),
                                                leadership=p.get("leadership", ""))
                messages.success(request, f"已设立:{c.name}")
        except (ValidationError, LiaisonPoint.DoesNotExist) as exc:
            for m in getattr(exc, "messages", ["所选联系点不存在"]):
                messages.error(request, m)
        return redirect(request.path)
    lines = coalitions.compliance(root, year)
    officers = Member.objects.filter(positions__unit=root, positions__end__isnull=True).distinct().order_by("name") if may else []
    return render(request, "workflows/coalitions.html", {
        "root": root, "year": year, "may": may, "lines": lines, "kinds": CoalitionKind.choices, "today": timezone.localdate(),
        "points": restrict(request.user, LiaisonPoint.objects.filter(root__path__startswith=root.path)).select_related("unit", "leader"),
        "below": below.order_by("path") if may else [], "officers": officers,
        "people": restrict(request.user, Member.objects.filter(memberships__end__isnull=True,
                                                               memberships__unit__path__startswith=root.path)).distinct().order_by("name")[:300] if may else [],
        "default_n": rules_for(root)["coalition_meetings_per_year"],
    })


@login_required
def coalition_page(request, pk: int):
    c = Coalition.objects.filter(pk=pk, leader__user=request.user).first()  # the group's 组长 sees their group
    c = c or get_visible_or_404(request.user, Coalition, pk=pk)
    year = asked_year(request)
    may = permissions.allowed(request.user, "coalition.meeting", c.root, duties=coalitions.lead_duty(c, request.user))
    if request.method == "POST":
        printable_post(request)
        p = request.POST
        try:
            coalitions.meeting_record(c, actor=request.user, held_on=_date(p.get("held_on")), topic=p.get("topic", ""),
                                      place=p.get("place", ""), units_present=list(c.units.filter(pk__in=[_int(v) for v in p.getlist("units_present")])),
                                      attendance=_int(p.get("attendance")), minutes=p.get("minutes", ""))
            messages.success(request, "已登记活动")
        except ValidationError as exc:
            for m in exc.messages:
                messages.error(request, m)
        return redirect(request.path)
    return render(request, "workflows/coalition.html", {
        "c": c, "year": year, "may": may, "units": c.units.order_by("path"), "periods": coalitions.periods(c, year),
        "meetings": c.meetings.prefetch_related("units_present").order_by("-held_on"), "today": timezone.localdate(),
    })
