"""检查活动 pages: the list, announcing, one campaign (checklist, teams, sampling, units), one unit
(自查报告, inspection record, findings) and the summary (page, PDF, Excel). Thin views over
``audits.campaign.services``; who may is the permission matrix's, refusals come back in Chinese."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from audits.campaign import services as svc
from audits.campaign import summary as roll
from audits.campaign.models import Campaign, CampaignState, CampaignUnit, Plan, Team, UnitState
from audits.capa.models import Grade
from qms import uploads
from qms.models import Unit, UnitKind
from qms.pages import show_refusal
from qms.permissions import allowed
from qms.scoping import can_see, restrict

SCOPE_KINDS = [k for k in UnitKind.choices if k[0] != UnitKind.COMMITTEE]


def _visible(user):
    """Campaigns a person may open: of a unit they see, with a unit of theirs in scope, or with
    them on a 检查小组."""
    seen = restrict(user, CampaignUnit.objects.all()).values("campaign_id")
    return (restrict(user, Campaign.objects.all()) | Campaign.objects.filter(pk__in=seen)
            | Campaign.objects.filter(teams__members=user)).distinct()


def _campaign(request, pk: int) -> Campaign:
    c = _visible(request.user).filter(pk=pk).select_related("root").first()
    if c is None:
        raise Http404("没有该检查活动")
    return c


def _entries(request, c: Campaign):
    qs = c.units.select_related("unit", "general_branch", "team")
    if can_see(request.user, c.root) or c.teams.filter(members=request.user).exists():
        return qs
    return restrict(request.user, qs) | qs.filter(team__members=request.user)


def _entry(request, c: Campaign, entry: int) -> CampaignUnit:
    e = _entries(request, c).filter(pk=entry).distinct().first()
    if e is None:
        raise Http404("没有该受检单位")
    return e


@login_required
def campaign_list(request):
    top = restrict(request.user, Unit.objects.exclude(kind=UnitKind.GROUP)).order_by("path").first()
    campaigns = list(_visible(request.user).select_related("root").order_by("-announced_on", "-pk"))
    for c in campaigns:
        c.stage_name = (svc.stage_of(c.stage) or {}).get("name", "")
    plans = []
    for p in restrict(request.user, Plan.objects.select_related("root")):
        stages = [{**st, "calendar_year": svc.stage_year(p, st["key"]),
                   "campaign": next((c for c in campaigns if c.plan_id == p.pk and c.stage == st["key"]), None)}
                  for st in svc.plan_spec()["stages"]]
        plans.append((p, stages))
    return render(request, "audits/campaign/list.html", {
        "campaigns": campaigns, "plans": plans,
        "can_announce": top is not None and allowed(request.user, "campaign.announce", top),
        "can_plan": top is not None and allowed(request.user, "campaign.plan", top), "year": timezone.localdate().year})


@login_required
@require_POST
def plan_new(request):
    top = restrict(request.user, Unit.objects.exclude(kind=UnitKind.GROUP)).order_by("path").first()
    if top is None:
        raise PermissionDenied("没有可查看的党组织")
    try:
        p = svc.plan_create(actor=request.user, root=top, title=request.POST.get("title", ""),
                            start_year=int(request.POST.get("start_year") or 0))
        messages.success(request, f"已制定“{p.title}”:{p.start_year} 年整治、{p.start_year + 1} 年提升、{p.start_year + 2} 年巩固")
    except ValueError:
        messages.error(request, "请填写起始年度")
    except ValidationError as exc:
        show_refusal(request, exc)
    return redirect("campaign_list")


@login_required
def campaign_new(request):
    roots = [u for u in restrict(request.user, Unit.objects.filter(kind__in=(UnitKind.COMMITTEE, UnitKind.GENERAL_BRANCH)))
             .order_by("path") if allowed(request.user, "campaign.announce", u)]
    if not roots:
        raise PermissionDenied("只有党委、党总支的书记、委员或体系管理员可以发布检查活动")
    spec = svc.default_checklist()
    p = request.POST
    if request.method == "POST":
        try:
            root = next((u for u in roots if str(u.pk) == p.get("root")), None)
            if root is None:
                raise ValidationError("请选择发起的党组织")
            deadline = dt.date.fromisoformat(p.get("deadline", ""))
            plan, stage = None, ""
            if p.get("stage"):
                plan_pk, _sep, stage = p["stage"].partition(":")
                plan = Plan.objects.filter(pk=int(plan_pk), root=root).first()
            c = svc.campaign_announce(actor=request.user, root=root, title=p.get("title", ""), deadline=deadline,
                                      kinds=p.getlist("kinds") or None, plan=plan, stage=stage)
            messages.success(request, f"已发布检查活动,{c.units.count()} 个单位须在 {c.deadline:%Y-%m-%d} 前提交自查报告")
            return redirect("campaign_detail", pk=c.pk)
        except ValueError:
            messages.error(request, "请填写有效的截止日期")
        except ValidationError as exc:
            show_refusal(request, exc)
    return render(request, "audits/campaign/new.html", {
        "roots": roots, "kinds": SCOPE_KINDS, "p": p, "spec": spec,
        "stages": [(f"{pl.pk}:{st['key']}", f"{pl.title} · {st['name']}({svc.stage_year(pl, st['key'])} 年)")
                   for pl in Plan.objects.filter(root__in=roots) for st in svc.plan_spec()["stages"]],
        "chosen": p.getlist("kinds") if request.method == "POST" else spec["scope_kinds"],
        "deadline": timezone.localdate() + dt.timedelta(days=14)})


@login_required
def campaign_detail(request, pk: int):
    c = _campaign(request, pk)
    u = request.user
    may = {k: allowed(u, f"campaign.{k}", c.root) for k in ("checklist", "team", "sample", "close")}
    editable = may["checklist"] and not c.units.exclude(state__in=(UnitState.PENDING, UnitState.OVERDUE)).exists()
    s = roll.summarise(c)
    shown = {e.pk for e in _entries(request, c)}
    rows = [(e, r) for e, r in zip(c.units.select_related("unit", "team").order_by("unit__path"), s.rows, strict=True)
            if e.pk in shown]
    return render(request, "audits/campaign/detail.html", {
        "c": c, "may": may, "editable": editable, "items": c.items.all(), "teams": c.teams.select_related("leader").prefetch_related("members"),
        "rows": rows, "s": s, "staff": svc.inspectors_of(c.root) if may["team"] else [],
        "today": timezone.localdate(), "after_deadline": timezone.localdate() > c.deadline, "can_summary": can_see(u, c.root),
        "stage": svc.stage_of(c.stage) if c.stage else None})


@login_required
@require_POST
def campaign_action(request, pk: int, name: str):
    c = _campaign(request, pk)
    p, u = request.POST, request.user
    try:
        if name == "checklist":
            items = [{"text": t, "source": s, "max_score": m} for t, s, m in
                     zip(p.getlist("text"), p.getlist("source"), p.getlist("max_score"), strict=False) if t.strip() or s.strip()]
            svc.checklist_set(c, actor=u, items=items)
            done = f"已修改检查表({len(items)} 项)"
        elif name == "team":
            people = svc.inspectors_of(c.root)
            leader = people.filter(pk=p.get("leader") or 0).first()
            members = list(get_user_model().objects.filter(pk__in=[x for x in p.getlist("members") if x.isdigit()]))
            t = svc.team_create(c, actor=u, name=p.get("name", ""), leader=leader, members=members)
            done = f"已成立“{t.name}”"
        elif name == "sample":
            seed = int(p.get("seed") or 0)
            size = int(p["size"]) if p.get("size") else None
            percent = int(p["percent"]) if p.get("percent") and size is None else None
            drawn = svc.sample_draw(c, actor=u, seed=seed, size=size, percent=percent)
            done = f"已抽中 {len(drawn)} 个单位(随机种子 {seed})"
        elif name == "close":
            svc.campaign_close(c, actor=u, conclusion=p.get("conclusion", ""))
            done = "检查活动已总结"
        else:
            raise Http404
        messages.success(request, done)
    except ValueError:
        messages.error(request, "请填写整数")
    except ValidationError as exc:
        show_refusal(request, exc)
    return redirect("campaign_detail", pk=c.pk)


@login_required
def campaign_entry(request, pk: int, entry: int):
    c = _campaign(request, pk)
    e = _entry(request, c, entry)
    u = request.user
    duties = svc.team_duty(u, e)
    may = {"self_assess": allowed(u, "campaign.self_assess", e.unit),
           "inspect": allowed(u, "campaign.inspect", e.unit, duties=duties),
           "finding": allowed(u, "campaign.finding", e.unit, duties=duties),
           "assign": allowed(u, "campaign.sample", c.root)}
    scores = {s.item_id: s for s in e.scores.all()}
    items = [(i, scores.get(i.pk)) for i in c.items.all()]
    return render(request, "audits/campaign/entry.html", {
        "c": c, "e": e, "items": items, "may": may, "evidence": e.evidence.all(),
        "findings": e.findings.select_related("nonconformity", "item"), "teams": c.teams.all(),
        "grades": [g for g in Grade.choices if g[0] != Grade.IMPROVEMENT], "today": timezone.localdate(),
        "open": e.state == UnitState.PENDING and timezone.localdate() <= c.deadline and c.state == CampaignState.SELF_CHECK,
        "inspecting": c.state == CampaignState.INSPECTION and e.sampled,
        "self_total": sum((s.self_score for s in scores.values() if s.self_score is not None), Decimal(0)) if scores else None,
        "inspected_total": sum((s.inspected_score for s in scores.values() if s.inspected_score is not None), Decimal(0))
        if e.state == UnitState.INSPECTED else None})


def _scores(p, prefix: str) -> tuple[dict, dict]:
    scores = {int(k[len(prefix):]): v for k, v in p.items() if k.startswith(prefix) and k[len(prefix):].isdigit()}
    notes = {int(k[2:]): v for k, v in p.items() if k.startswith("n_") and k[2:].isdigit()}
    return scores, notes


@login_required
@require_POST
def entry_action(request, pk: int, entry: int, name: str):
    c = _campaign(request, pk)
    e = _entry(request, c, entry)
    p, u = request.POST, request.user
    try:
        if name == "submit":
            scores, notes = _scores(p, "s_")
            svc.self_assess_submit(e, actor=u, report=p.get("report", ""), scores=scores, notes=notes,
                                   uploads=uploads.take_all(request, "files", kinds="evidence"))
            done = "已提交自查报告"
        elif name == "inspect":
            scores, notes = _scores(p, "i_")
            svc.inspection_record(e, actor=u, visited_on=dt.date.fromisoformat(p.get("visited_on", "")),
                                  visit_notes=p.get("visit_notes", ""), archive_notes=p.get("archive_notes", ""),
                                  forum_sessions=p.get("forum_sessions"), forum_attendance=p.get("forum_attendance"),
                                  forum_notes=p.get("forum_notes", ""), questionnaires_issued=p.get("questionnaires_issued"),
                                  questionnaires_returned=p.get("questionnaires_returned"),
                                  questionnaires_satisfied=p.get("questionnaires_satisfied"), scores=scores, notes=notes)
            done = "已登记检查记录"
        elif name == "finding":
            item = c.items.filter(pk=p.get("item") or 0).first()
            f = svc.finding_raise(e, actor=u, item=item, grade=p.get("grade", ""), evidence=p.get("evidence", ""))
            done = f"已提出检查发现,不符合项 {f.nonconformity.code} 已进入问题清单"
        elif name == "assign":
            team = Team.objects.filter(campaign=c, pk=p.get("team") or 0).first()
            if team is None:
                raise ValidationError("请选择检查小组")
            svc.team_assign(e, team, actor=u)
            done = f"已改由“{team.name}”检查"
        else:
            raise Http404
        messages.success(request, done)
    except ValueError:
        messages.error(request, "请填写有效的日期")
    except ValidationError as exc:
        show_refusal(request, exc)
    return redirect("campaign_entry", pk=c.pk, entry=e.pk)


@login_required
def campaign_summary(request, pk: int):
    c = _campaign(request, pk)
    if not can_see(request.user, c.root):
        raise PermissionDenied("汇总只对发起的党组织可见")
    s = roll.summarise(c)
    return render(request, "audits/campaign/summary.html", {"c": c, "s": s, "totals": [s.total]})


@login_required
def campaign_summary_pdf(request, pk: int):
    c = _campaign(request, pk)
    if not can_see(request.user, c.root):
        raise PermissionDenied("汇总只对发起的党组织可见")
    resp = HttpResponse(roll.pdf(roll.summarise(c)), content_type="application/pdf")
    resp["Content-Disposition"] = f'inline; filename="campaign-{c.pk}.pdf"'
    return resp


@login_required
def campaign_summary_xlsx(request, pk: int):
    c = _campaign(request, pk)
    if not can_see(request.user, c.root):
        raise PermissionDenied("汇总只对发起的党组织可见")
    resp = HttpResponse(roll.xlsx(roll.summarise(c)), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    resp["Content-Disposition"] = f'attachment; filename="campaign-{c.pk}.xlsx"'
    return resp
