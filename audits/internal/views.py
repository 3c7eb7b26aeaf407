"""内部审核 pages: the programme, the list, a new audit plan, one audit (sampling, meetings,
checklist results, findings, templates) and its report PDF. Thin views over
``audits.internal.services``; refusals come back in Chinese."""
from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from audits.capa.models import Grade
from audits.internal import services as audit_services
from audits.internal.models import Audit, ChecklistItem, ItemResult, ProgrammeEntry
from audits.internal.nextstep import audit_next_step
from audits.internal.report import report_pdf
from qms import signatures
from qms.models import Member, Unit
from qms.params import year_param
from qms.permissions import allowed
from qms.scoping import people_who_may_lead, restrict
from workflows.models import Occurrence


@login_required
def audit_list(request):

    audits = restrict(request.user, Audit.objects.all()) | Audit.objects.filter(team=request.user)
    top = restrict(request.user, Unit.objects.exclude(kind="group")).order_by("path").first()
    return render(request, "audits/audit_list.html", {"audits": audits.distinct().order_by("-start"),
                                                       "can_plan": top is not None and audit_services.may_plan(request.user, top)})


@login_required
def audit_new(request):


    units = restrict(request.user, Unit.objects.exclude(kind="group")).order_by("path")
    if not units.exists() or not audit_services.may_plan(request.user, units.first()):
        raise PermissionDenied("只有体系管理员、组织负责人或内审员可以编制审核计划")
    users = people_who_may_lead(seen_by=request.user)
    if request.method == "POST":
        p = request.POST
        try:
            chosen = list(units.filter(pk__in=p.getlist("units")))
            lead = users.filter(pk=p.get("lead") or 0).first()
            if lead is None:
                raise ValidationError("请选择审核组长")
            start, end = dt.date.fromisoformat(p.get("start", "")), dt.date.fromisoformat(p.get("end", ""))
            root = units.first()
            a = audit_services.audit_plan(actor=request.user, year=start.year, title=p.get("title", ""), root=root, units=chosen,
                                          lead=lead, team=list(users.filter(pk__in=p.getlist("team"))), clauses=p.get("clauses", ""),
                                          objectives=p.get("objectives", ""), start=start, end=end)
            messages.success(request, "审核计划已建立,检查表已生成,审核员已获得审核期内的查阅权限")
            return redirect("audit_detail", pk=a.pk)
        except ValueError:
            messages.error(request, "请填写有效的开始和结束日期")
        except ValidationError as exc:
            messages.error(request, ";".join(exc.messages))
    return render(request, "audits/audit_new.html", {"units": units, "users": users, "p": request.POST})


@login_required
def audit_detail(request, pk: int):

    audit = (restrict(request.user, Audit.objects.all()) | Audit.objects.filter(team=request.user)).distinct().filter(pk=pk).first()
    if audit is None:
        raise PermissionDenied("无权查看该审核")

    in_team = audit.team.filter(pk=request.user.pk).exists() or audit.lead_id == request.user.pk
    auditees = Member.objects.none()
    if in_team:
        q = Q()
        for unit in audit.units.all():
            q |= Q(memberships__unit__path__startswith=unit.path, memberships__end__isnull=True)
        auditees = Member.objects.filter(q).distinct().order_by("name")

    duties = audit.duties_of(request.user)
    may = {k: allowed(request.user, f"audit.{k}", audit.root, duties=duties) for k in ("sample", "checklist", "template")}
    return render(request, "audits/audit_detail.html", {
        "audit": audit, "may": may, "next_step": audit_next_step(audit),
        "items": audit.items.select_related("unit", "finding").prefetch_related("evidence"),
        "sample": audit.sample.select_related("occurrence__unit", "occurrence__obligation"),
        "results": [c for c in ItemResult.choices if c[0]], "in_team": in_team, "is_lead": audit.lead_id == request.user.pk,
        "grades": [g for g in Grade.choices if g[0] != "improvement"], "units": audit.units.all(), "team": audit.team.all(),
        "meetings": audit.meetings.prefetch_related("auditors", "auditees"), "auditees": auditees,
        "templates": audit_services.templates_for(audit) if may["template"] else [],
        "today": timezone.localdate(),
    })


@login_required
@require_POST
def audit_action(request, pk: int, name: str):

    audit = (restrict(request.user, Audit.objects.all()) | Audit.objects.filter(team=request.user)).distinct().filter(pk=pk).first()
    if audit is None:
        raise PermissionDenied("无权查看该审核")
    p, u = request.POST, request.user
    try:
        done = ""
        if name == "sample":
            per_unit = int(p["per_unit"]) if p.get("per_unit") else None
            ratio = float(p["ratio"]) / 100 if p.get("ratio") else None
            audit_services.sample_draw(audit, actor=u, seed=int(p.get("seed") or 0), per_unit=per_unit, ratio=ratio)
            done = f"已抽取样本 {audit.sample.count()} 条记录"
        elif name in ("open", "report"):
            meeting = _meeting_fields(audit, p)
            if name == "open":
                audit_services.audit_open(audit, actor=u, **meeting)
                done = "已记录首次会议,审核开始实施"
            else:
                audit_services.audit_report(audit, actor=u, conclusion=p.get("conclusion", ""), password=p.get("password"), **meeting)
                done = "已记录末次会议,审核报告已出具"
        elif name == "item":
            item = ChecklistItem.objects.get(pk=p.get("item") or 0, audit=audit)
            item = audit_services.item_record(item, actor=u, result=p.get("result", ""), note=p.get("note", ""),
                                              evidence=list(Occurrence.objects.filter(pk__in=[x for x in p.getlist("evidence") if x.isdigit()])
                                                            .filter(pk__in=audit.sample.values("occurrence_id"))))
            done = f"已记录检查结论:{ChecklistItem.objects.get(pk=item.pk).get_result_display()}"
        elif name == "finding":
            item = ChecklistItem.objects.get(pk=p.get("item") or 0, audit=audit)
            nc = audit_services.finding_raise(item, actor=u, grade=p.get("grade", "minor"))
            done = f"已开具不符合项报告单 {nc.code}"
        elif name == "item_add":
            unit = audit.units.filter(pk=p.get("unit") or 0).first()
            audit_services.item_add(audit, actor=u, unit=unit, clause=p.get("clause", ""), text=p.get("text", ""))
            done = "已添加检查项"
        elif name == "item_remove":
            item = ChecklistItem.objects.get(pk=p.get("item") or 0, audit=audit)
            audit_services.item_remove(item, actor=u, reason=p.get("reason", ""))
            done = "已删除检查项(原因已留痕)"
        elif name in ("item_up", "item_down"):
            item = ChecklistItem.objects.get(pk=p.get("item") or 0, audit=audit)
            audit_services.item_move(item, actor=u, up=name == "item_up")
            done = "已上移检查项" if name == "item_up" else "已下移检查项"
        elif name == "template_save":
            t = audit_services.template_save(audit, actor=u, name=p.get("template_name", ""))
            done = f"已另存为检查表模板“{t.name}”({len(t.items)} 项)"
        elif name == "template_apply":
            t = next((t for t in audit_services.templates_for(audit) if str(t.pk) == p.get("template")), None)
            if t is None:
                raise ValidationError("请选择检查表模板")
            n = audit_services.template_apply(audit, t, actor=u)
            done = f"已套用模板“{t.name}”,新增 {n} 项"
        else:
            raise PermissionDenied
        messages.success(request, done)
    except (ValueError, ChecklistItem.DoesNotExist, ObjectDoesNotExist):
        messages.error(request, "输入有误,请检查后重试")
    except ValidationError as exc:
        signatures.refused(request, exc)
        messages.error(request, ";".join(exc.messages))
    return redirect("audit_detail", pk=audit.pk)


def _meeting_fields(audit, p) -> dict:
    """首次/末次会议 form fields → service arguments (a bad date raises ValueError)."""

    team = {audit.lead_id, *audit.team.values_list("pk", flat=True)}
    return {
        "held_on": dt.date.fromisoformat(p.get("held_on", "")), "place": p.get("place", ""), "notes": p.get("notes", ""),
        "auditors": list(get_user_model().objects.filter(pk__in=[int(x) for x in p.getlist("auditors") if x.isdigit() and int(x) in team])),
        "auditees": list(Member.objects.filter(pk__in=[int(x) for x in p.getlist("auditees") if x.isdigit()])),
    }


@login_required
def audit_report_pdf(request, pk: int):

    audit = (restrict(request.user, Audit.objects.all()) | Audit.objects.filter(team=request.user)).distinct().filter(pk=pk).first()
    if audit is None:
        raise PermissionDenied("无权查看该审核")
    resp = HttpResponse(report_pdf(audit), content_type="application/pdf")
    resp["Content-Disposition"] = f'inline; filename="audit-{audit.pk}.pdf"'
    return resp


@login_required
def programme(request):
    """年度审核方案 — built from the data, highest risk first."""

    scope = request.scope or None
    if not scope:
        raise PermissionDenied
    root = Unit.objects.get(pk=scope.unit_id)
    year = year_param(request, "year")
    if request.method == "POST":
        # who may is the permission matrix's (programme.build: 体系管理员 and the unit's leaders);
        # a refusal is NotPermitted, a 403 with the reason
        audit_services.programme_build(root, year, actor=request.user)
        messages.success(request, f"已编制 {year} 年审核方案")
        return redirect(f"{request.path}?year={year}")
    entries = restrict(request.user, ProgrammeEntry.objects.filter(year=year, root=root)).select_related("unit")
    return render(request, "audits/programme.html", {"entries": entries, "year": year, "root": root,
                                                     "can_build": allowed(request.user, "programme.build", root)})
