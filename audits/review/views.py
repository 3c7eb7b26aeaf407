"""管理评审 pages: the list (plan a review), one review (inputs gathered from the data, minutes,
conclusion, decisions → tickets, close). Thin views over ``audits.review.services``."""
from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from audits.review import services as review
from audits.review.models import DecisionKind, ManagementReview
from procedures.models import Document
from qms import signatures
from qms.models import Unit
from qms.pages import scope_root, show_refusal
from qms.people import person
from qms.scoping import can_manage, is_admin, people_who_may_lead, restrict

# ------------------------------------------------------------------------- management review


@login_required
def review_list(request):
    root = scope_root(request)
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
            show_refusal(request, exc)
    reviews = restrict(request.user, ManagementReview.objects.all()).select_related("root", "chair")
    users = people_who_may_lead(seen_by=request.user) if may else []
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
            review.review_close(r, actor=u, password=p.get("password"))
            messages.success(request, f"“{r.title}”已关闭")
        else:
            raise PermissionDenied
    except ValueError:
        messages.error(request, "请填写有效的日期")
    except ValidationError as exc:
        signatures.refused(request, exc)
        show_refusal(request, exc)
    return redirect("review_detail", pk=r.pk)


