"""Home-page panels of improvement: 整改率 of the current scope and gaps that can be raised."""
from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from audits.capa.models import OPEN_STATES, Nonconformity
from audits.capa.services import rectification_of
from qms.models import Unit
from qms.scoping import current_scope, restrict
from workflows.models import Occurrence, State


def rectification_panel(request) -> dict | None:
    scope = current_scope(request)
    if scope is None:
        return None
    qs = restrict(request.user, Nonconformity.objects.all()).filter(unit__path__startswith=scope.path)
    year = timezone.localdate().year
    # the same function and the same year as the management review's inputs (audits/review/services.py)
    st = rectification_of(Unit.objects.get(pk=scope.unit_id), year)
    overdue = qs.filter(state__in=OPEN_STATES, due_date__lt=timezone.localdate()).select_related("unit").order_by("due_date", "pk")[:10]
    if not st.total and not overdue:
        return None
    rows = [(f"{nc.code} {nc.unit.name}", reverse("nc_detail", args=[nc.pk]), f"逾期(期限 {nc.due_date:%Y-%m-%d})") for nc in overdue]
    rate = "—" if st.rate is None else f"{st.rate:.0%}"
    return {"title": f"{year}年整改率 {rate}(按期 {st.on_time}/{st.total},平均关闭 {st.mean_days_text})", "rows": rows,
            "empty": "没有逾期的整改。"}


def gaps_panel(request) -> dict | None:
    """For managers: last quarter's gaps (未开展) not yet raised as nonconformities."""
    scope = current_scope(request)
    if scope is None or not scope.can_manage:
        return None
    since = timezone.localdate().replace(day=1) - timezone.timedelta(days=92)
    gaps = (restrict(request.user, Occurrence.objects.all()).filter(unit__path__startswith=scope.path, state=State.MISSED,
                                                                     due_date__gte=since, nonconformities__isnull=True)
            .select_related("unit", "obligation")[:10])
    # the row opens the occurrence (GET); 立项整改 is a button posting to the raise URL (POST only)
    rows = [(f"{o.unit.name} · {o.obligation.title}({o.period_label()})", reverse("occurrence_detail", args=[o.pk]), "立项整改",
             reverse("nc_raise_gap", args=[o.pk])) for o in gaps]
    return {"title": "近期执行缺口(可立项整改)", "rows": rows, "empty": "近期没有未立项的执行缺口。"}


def ranking_panel(request) -> dict | None:
    """考核排名 of the scope's scheme for the year (whole-year round), top ten."""
    from audits.performance.models import ScoringScheme
    from audits.performance.scoring import ranking

    scope = current_scope(request)
    if scope is None:
        return None
    year = timezone.localdate().year
    scheme = ScoringScheme.objects.filter(root_id=scope.unit_id, year=year).first()
    if scheme is None:
        return None
    from audits.performance.scoring import scheme_rounds

    _items, rows = ranking(scheme, "Y")
    url = reverse("scoring") + f"?year={year}&period=Y"
    out = [(f"第{r.rank}名 {r.unit.name}", url, f"{r.total} 分" + (f"(待评分 {r.pending} 项)" if r.pending else "")) for r in rows[:10]]
    return {"title": f"{year} 年考核排名({scheme_rounds(scheme)['Y']})", "rows": out, "empty": "没有被考核的党支部。"}


def objectives_panel(request) -> dict | None:
    """党建目标 of the scope for the year, each with its computed result."""
    from audits.performance.scoring import objectives_status
    from qms.models import Unit

    scope = current_scope(request)
    if scope is None:
        return None
    year = timezone.localdate().year
    rows = objectives_status(Unit.objects.get(pk=scope.unit_id), year)
    if not rows:
        return None
    url = reverse("objectives") + f"?year={year}"
    out = [(f"{s.objective.title}({s.target_text})", url,
            f"{s.share.text()} " + ("无数据" if s.met is None else "达成" if s.met else "未达成")) for s in rows]
    return {"title": f"{year} 年党建目标", "rows": out, "empty": ""}


def my_targets_panel(request) -> dict | None:
    """人人有指标: the signed-in member's own targets of the year with their progress, and this
    month's 重点工作 of those targets (seed 004 篇7, 篇8)."""
    from audits.performance import targets as tsvc
    from audits.performance.models import Target
    from qms.models import Member

    member = Member.objects.filter(user_id=request.user.pk).first() if request.user.is_authenticated else None
    if member is None:
        return None
    today = timezone.localdate()
    own = list(Target.objects.filter(member=member, year=today.year).select_related("unit", "member", "nonconformity"))
    if not own:
        return None
    nodes = tsvc.evaluate(own, today=today)
    rows = []
    for n in nodes.values():
        url = reverse("targets_tree", args=[n.target.unit.code, today.year])
        rows.append((f"{n.target.title}(目标 {n.target_text},期限 {n.target.due_date:%m-%d})", url,
                     f"完成 {n.progress_text} · {n.status}"))
        for cell in n.tasks:
            if cell.task.month == today.month:
                rows.append((f"本月重点:{cell.task.text}", url, "已完成" if cell.state == "done" else "未完成"))
    return {"title": f"我的 {today.year} 年目标和本月重点工作", "rows": rows, "empty": ""}
