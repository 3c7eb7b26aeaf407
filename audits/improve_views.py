"""Pages of 持续改进: management review (管理评审), objectives (党建目标) and scoring (考核排名).
Thin views over ``audits.review`` and ``audits.scoring``; every refusal comes back in Chinese
and nothing is half-saved (each service call is one transaction)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from audits import indicators, review, scoring
from audits.models import (
    Comparator,
    DecisionKind,
    ManagementReview,
    Objective,
    ScoringItem,
    ScoringScheme,
)
from procedures.models import Document
from qms.models import Unit
from qms.params import choice_param, year_param
from qms.scoping import can_manage, is_admin, people_who_may_lead, restrict
from qms.templatetags.people import person


def _root(request) -> Unit:
    scope = request.scope or None
    if not scope:
        raise PermissionDenied("没有可查看的党组织")
    return Unit.objects.get(pk=scope.unit_id)


def _year(request) -> int:
    return year_param(request, "year", data=(request.POST, request.GET))


def _errors(request, exc: ValidationError) -> None:
    messages.error(request, ";".join(exc.messages))


# ------------------------------------------------------------------------- management review


@login_required
def review_list(request):
    root = _root(request)
    may = is_admin(request.user) or can_manage(request.user, root)
    if request.method == "POST":
        if not may:
            raise PermissionDenied("只有体系管理员或党组织负责人可以策划管理评审")
        p = request.POST
        try:
            chair = get_user_model().objects.filter(pk=p.get("chair") or 0, is_active=True).first()
            planned_on = dt.date.fromisoformat(p.get("planned_on", ""))
            r = review.review_plan(actor=request.user, root=root, year=planned_on.year, planned_on=planned_on, chair=chair,
                                   title=p.get("title", ""))
            messages.success(request, f"已策划“{r.title}”({r.planned_on:%Y-%m-%d},主持人 {person(r.chair)}),下一步汇集评审输入")
            return redirect("review_detail", pk=r.pk)
        except ValueError:
            messages.error(request, "请填写有效的计划日期")
        except ValidationError as exc:
            _errors(request, exc)
    reviews = restrict(request.user, ManagementReview.objects.all()).select_related("root", "chair")
    users = people_who_may_lead() if may else []
    return render(request, "audits/review_list.html", {"reviews": reviews, "root": root, "may": may, "users": users,
                                                        "today": timezone.localdate()})


def _review(request, pk: int) -> ManagementReview:
    r = restrict(request.user, ManagementReview.objects.all()).select_related("root", "chair").filter(pk=pk).first()
    if r is None:
        raise PermissionDenied("无权查看该管理评审")
    return r


@login_required
def review_detail(request, pk: int):
    r = _review(request, pk)
    may = is_admin(request.user) or can_manage(request.user, r.root)
    return render(request, "audits/review_detail.html", {
        "r": r, "may": may, "decisions": r.decisions.select_related("action", "action__unit", "action__requires_document"),
        "kinds": DecisionKind.choices, "units": Unit.objects.filter(path__startswith=r.root.path, is_active=True).order_by("path"),
        "documents": Document.objects.filter(versions__status="effective").distinct().order_by("code"),
        "today": timezone.localdate(), "inp": r.inputs,
    })


@login_required
@require_POST
def review_action(request, pk: int, name: str):
    r = _review(request, pk)
    p, u = request.POST, request.user
    try:
        if name == "gather":
            review.review_gather(r, actor=u)
            messages.success(request, f"已从系统数据汇集“{r.title}”的评审输入")
        elif name == "hold":
            review.review_hold(r, actor=u, held_on=dt.date.fromisoformat(p.get("held_on", "")), attendees=p.get("attendees", ""),
                               minutes=p.get("minutes", ""), conclusion=p.get("conclusion", ""))
            messages.success(request, "评审会议已记录,下一步形成评审输出(措施单)")
        elif name == "decision":
            if not p.get("unit"):
                raise ValidationError("请选择责任组织")
            unit = restrict(u, Unit.objects.all()).filter(pk=p["unit"]).first() if p["unit"].isdigit() else None  # elsewhere: not found
            if unit is None:
                raise ValidationError("责任组织不在本人范围内")
            doc = Document.objects.filter(pk=p.get("document") or 0).first() if p.get("document") else None
            d = review.decision_add(r, actor=u, kind=p.get("kind", ""), text=p.get("text", ""), unit=unit, document=doc)
            messages.success(request, f"已形成措施单 {d.action.code}")
        elif name == "close":
            review.review_close(r, actor=u)
            messages.success(request, f"“{r.title}”已关闭")
        else:
            raise PermissionDenied
    except ValueError:
        messages.error(request, "请填写有效的日期")
    except ValidationError as exc:
        _errors(request, exc)
    return redirect("review_detail", pk=r.pk)


# ------------------------------------------------------------------------------ objectives


@login_required
def objectives(request):
    root, year = _root(request), _year(request)
    may = is_admin(request.user) or can_manage(request.user, root)
    if request.method == "POST":
        if not may:
            raise PermissionDenied("只有体系管理员或党组织负责人可以设定目标")
        p = request.POST
        try:
            if p.get("action") == "seed":
                scoring.objectives_seed(root, year, actor=request.user)
                messages.success(request, f"已按默认目标建立 {year} 年党建目标")
            elif p.get("action") == "amend":
                o = Objective.objects.get(pk=p.get("objective") or 0, root=root)
                scoring.objective_set(o, actor=request.user, target=Decimal(p.get("target", "")), comparator=p.get("comparator", ""),
                                      reason=p.get("reason", ""))
                messages.success(request, "目标已修改(留痕)")
        except (InvalidOperation, Objective.DoesNotExist):
            messages.error(request, "请填写有效的目标值")
        except ValidationError as exc:
            _errors(request, exc)
        return redirect(f"{request.path}?year={year}")
    rows = scoring.objectives_status(root, year)
    return render(request, "audits/objectives.html", {"rows": rows, "root": root, "year": year, "may": may,
                                                       "comparators": Comparator.choices})


# --------------------------------------------------------------------------------- scoring


@login_required
def scoring_page(request):
    root, year = _root(request), _year(request)
    may = is_admin(request.user) or can_manage(request.user, root)
    period = choice_param(request, "period", indicators.ROUNDS, default="Y", label="考核轮次", data=(request.POST, request.GET))
    scheme = ScoringScheme.objects.filter(root=root, year=year).first()
    if request.method == "POST":
        if not may:
            raise PermissionDenied("只有体系管理员或党组织负责人可以评分")
        p, u = request.POST, request.user
        try:
            action = p.get("action")
            if action == "seed":
                scoring.scheme_seed(root, year, actor=u)
                messages.success(request, f"已按默认方案建立 {year} 年考核方案")
            elif scheme is None:
                raise ValidationError("请先建立考核方案")
            elif action == "score":
                item = ScoringItem.objects.get(pk=p.get("item") or 0, scheme=scheme)
                unit = restrict(u, Unit.objects.all()).filter(pk=int(p.get("unit") or 0)).first()  # an id outside one's scope is never named
                if unit is None:
                    raise ValidationError("该组织不是本方案的被考核组织")
                scoring.score_enter(item, unit, period, actor=u, value=Decimal(p.get("value", "")), note=p.get("note", ""))
                messages.success(request, f"已评分:{unit.name} · {item.title}")
            elif action == "item_add":
                scoring.item_add(scheme, actor=u, title=p.get("title", ""), points=Decimal(p.get("points", "")),
                                 indicator=p.get("indicator", ""))
            elif action == "item_update":
                item = ScoringItem.objects.get(pk=p.get("item") or 0, scheme=scheme)
                scoring.item_update(item, actor=u, title=p.get("title", ""), points=Decimal(p.get("points", "")),
                                    indicator=p.get("indicator", ""), reason=p.get("reason", ""))
            elif action == "item_remove":
                item = ScoringItem.objects.get(pk=p.get("item") or 0, scheme=scheme)
                scoring.item_remove(item, actor=u, reason=p.get("reason", ""))
        except (InvalidOperation, ValueError, ScoringItem.DoesNotExist):
            messages.error(request, "输入有误:请填写有效的分值")
        except ValidationError as exc:
            _errors(request, exc)
        return redirect(f"{request.path}?year={year}&period={period}")
    items, rows = scoring.ranking(scheme, period) if scheme else ([], [])
    return render(request, "audits/scoring.html", {
        "scheme": scheme, "items": items, "rows": rows, "root": root, "year": year, "period": period, "may": may,
        "rounds": indicators.ROUNDS.items(), "indicator_names": indicators.names(),
        "manual_items": [i for i in items if not i.indicator],
    })


# ------------------------------------------------------------------------ annual statistics


@login_required
def annual_page(request):
    from audits import annual

    root, year = _root(request), _year(request)
    may = is_admin(request.user) or can_manage(request.user, root)
    if request.method == "POST":
        if not may:
            raise PermissionDenied("只有体系管理员或党组织负责人可以填报")
        try:
            annual.enter(root, year, request.POST.get("key", ""), actor=request.user, value=request.POST.get("value", ""),
                         note=request.POST.get("note", ""))
            messages.success(request, "已填报(留痕)")
        except ValidationError as exc:
            _errors(request, exc)
        return redirect(f"{request.path}?year={year}")
    return render(request, "audits/annual.html", {"rows": annual.rows(root, year), "root": root, "year": year, "may": may,
                                                   "source": annual.form()["source"]})


@login_required
def annual_xlsx(request):
    from django.http import HttpResponse

    from audits import annual

    root, year = _root(request), _year(request)
    resp = HttpResponse(annual.xlsx(root, year), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    resp["Content-Disposition"] = f'attachment; filename="annual-{root.code}-{year}.xlsx"'
    return resp


@login_required
def annual_pdf(request):
    from django.http import HttpResponse

    from audits import annual

    root, year = _root(request), _year(request)
    resp = HttpResponse(annual.pdf(root, year), content_type="application/pdf")
    resp["Content-Disposition"] = f'inline; filename="annual-{root.code}-{year}.pdf"'
    return resp
