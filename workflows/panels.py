"""Home-page panels of execution (registered with ``qms.site``): for a secretary, what is due
this month, overdue, waiting for a check, and open follow-ups; for a committee, the
subtree's compliance this year and its weakest units."""
from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from qms.scoping import current_scope, restrict
from workflows.models import FollowUp, Occurrence, State


def _scoped(request):
    scope = current_scope(request)
    if scope is None:
        return None, None
    return scope, restrict(request.user, Occurrence.objects.all()).filter(unit__path__startswith=scope.path)


def _rows(qs, note):
    return [(f"{o.unit.name} · {o.obligation.title}({o.period_label()})", reverse("occurrence_detail", args=[o.pk]), note(o))
            for o in qs.select_related("unit", "obligation")[:15]]


def due_panel(request) -> dict | None:
    scope, qs = _scoped(request)
    if qs is None:
        return None
    today = timezone.localdate()
    month_end = (today.replace(day=28) + timezone.timedelta(days=4)).replace(day=1) - timezone.timedelta(days=1)
    due = qs.filter(state__in=[State.OPEN, State.PLANNED], due_date__gte=today, due_date__lte=month_end).order_by("due_date")
    return {"title": f"本月应开展({due.count()})", "rows": _rows(due, lambda o: f"截止 {o.due_date:%m-%d}"), "empty": "本月没有待开展的事项。"}


def overdue_panel(request) -> dict | None:
    scope, qs = _scoped(request)
    if qs is None:
        return None
    today = timezone.localdate()
    late = qs.filter(state__in=[State.OPEN, State.PLANNED, State.MISSED], due_date__lt=today, period_start__year=today.year).order_by("due_date")
    return {"title": f"已逾期(未开展,{late.count()})", "rows": _rows(late, lambda o: f"应于 {o.due_date:%Y-%m-%d} 前完成"), "empty": "没有逾期事项。"}


def waiting_panel(request) -> dict | None:
    scope, qs = _scoped(request)
    if qs is None:
        return None
    held = qs.filter(state=State.HELD).order_by("held_on")
    rows = _rows(held, lambda o: "待检查")
    open_fu = restrict(request.user, FollowUp.objects.all()).filter(done_on__isnull=True, record__occurrence__unit__path__startswith=scope.path)
    for f in open_fu.select_related("owner", "record__occurrence")[:10]:
        rows.append((f"{f.get_kind_display()}:{f.text}({f.owner.name})", reverse("occurrence_detail", args=[f.record.occurrence_id]), f"时限 {f.due_date:%m-%d}"))
    return {"title": "待检查的记录与未完成的决议/补课", "rows": rows, "empty": "没有待处理的记录。"}


def compliance_panel(request) -> dict | None:
    """For a committee or 总支 scope: this year's rate and the five weakest units — for a
    large subtree, the five weakest directly subordinate units (each with everything below
    it, from the subtree tally), as on the heatmap."""
    from qms.models import Unit
    from workflows.compliance import ROLLUP_ABOVE, compliance, rates_by_child, totals_by_child

    scope = current_scope(request)
    if scope is None:
        return None
    root = Unit.objects.get(pk=scope.unit_id)
    if root.kind not in ("committee", "general_branch"):
        return None
    year = timezone.localdate().year
    if Unit.objects.filter(path__startswith=root.path).count() > ROLLUP_ABOVE:
        rates, _titles = rates_by_child(root, year)
        children = {path: (code, name) for code, name, path in Unit.objects.filter(parent=root).values_list("code", "name", "path")}
        by_child, overall = totals_by_child(rates)
        worst = sorted((r.rate, children[p][0], children[p][1]) for p, r in by_child.items() if p in children and r.rate is not None)[:5]
        what = "执行率最低的直属组织"
    else:
        m = compliance(root, year, cells=False)
        overall = m.overall
        worst = sorted((r.rate, code, m.units[code]) for code, r in m.by_unit.items() if r.rate is not None)[:5]
        what = "执行率最低的组织"
    rows = [(name, reverse("compliance") + f"?unit={code}", f"执行率 {rate:.0%}") for rate, code, name in worst]
    rate = "—" if overall.rate is None else f"{overall.rate:.0%}"
    return {"title": f"本年度执行率 {rate}({what})", "rows": rows, "empty": "本年度尚无到期事项。"}
