"""问题清单/台账 pages: the register with filters, 整改率 and Excel; one nonconformity with its
corrective-action steps; raising (by hand or from a gap); the printable 《问题整改反馈单》."""
from __future__ import annotations

import datetime as dt
import io

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_POST

from audits import services
from audits.models import OPEN_STATES, Grade, NCSource, NCState, Nonconformity
from audits.nextstep import audit_next_step, nc_next_step
from qms import ledger
from qms.models import Member, Unit
from qms.params import choice_param, page_param, text_param, year_param
from qms.scoping import can_manage, get_visible_or_404, people_who_may_lead, restrict
from workflows.models import Occurrence


def _filtered(request):
    qs = restrict(request.user, Nonconformity.objects.all()).select_related("unit", "owner")
    f = {
        "unit": text_param(request, "unit", label="责任组织", max_length=32),
        "state": choice_param(request, "state", ["open", *NCState.values], default="", label="状态"),
        "grade": choice_param(request, "grade", Grade.values, default="", label="等级"),
        "source": choice_param(request, "source", NCSource.values, default="", label="来源"),
        "overdue": choice_param(request, "overdue", ["1"], default="", label="是否只看逾期"),
    }
    if f["unit"]:
        root = Unit.objects.filter(code=f["unit"]).first()
        qs = qs.filter(unit__path__startswith=root.path) if root else qs.none()
    if f["state"] == "open":
        qs = qs.filter(state__in=OPEN_STATES)
    elif f["state"] in NCState.values:
        qs = qs.filter(state=f["state"])
    if f["grade"] in Grade.values:
        qs = qs.filter(grade=f["grade"])
    if f["source"] in NCSource.values:
        qs = qs.filter(source=f["source"])
    if f["overdue"]:
        qs = qs.filter(state__in=OPEN_STATES, due_date__lt=timezone.localdate())
    return qs, f


BY_UNIT_SHOWN = 30  # the per-unit table lists the lowest 整改率 first; Excel has every row


@login_required
def register(request):
    qs, f = _filtered(request)
    overview = services.register_overview(qs, BY_UNIT_SHOWN)
    stats, by_unit, units_total = overview.stats, overview.lowest, overview.units_total
    from django.core.paginator import Paginator

    pager = Paginator(qs, 100)
    pager.count = overview.listed  # counted in the overview's query
    page = pager.get_page(page_param(request))
    params = request.GET.copy()
    params.pop("page", None)
    return render(request, "audits/register.html", {
        "may_raise": any(sc.can_manage for sc in request.scopes),
        "items": page.object_list, "page": page, "units_total": units_total, "f": f, "stats": stats, "by_unit": by_unit,
        "pager_query": params.urlencode(),
        "states": NCState.choices, "grades": Grade.choices, "sources": NCSource.choices, "querystring": request.GET.urlencode(),
    })


@login_required
def register_xlsx(request):
    from openpyxl import Workbook

    qs, _ = _filtered(request)
    wb = Workbook()
    ws = wb.active
    ws.title = "问题清单"
    ws.append(["编号", "责任组织", "来源", "等级", "条款", "问题(客观证据)", "原因", "整改措施", "责任人", "期限", "状态", "关闭日期", "是否按期"])
    for nc in qs:
        on_time = "" if not nc.closed_on else ("是" if not nc.due_date or nc.closed_on <= nc.due_date else "否")
        ws.append([nc.code, nc.unit.name, nc.get_source_display(), nc.get_grade_display(), nc.clause, nc.evidence, nc.root_cause,
                   nc.corrective_action, nc.owner.name if nc.owner else "", nc.due_date, nc.get_state_display(), nc.closed_on, on_time])
    st = services.rectification(qs)
    s = wb.create_sheet("整改率")
    s.append(["问题总数(不含观察项)", "已整改", "按期整改", "整改率", "按期整改率", "平均关闭天数"])
    s.append([st.total, st.rectified, st.on_time, st.rate, st.on_time_rate,
              st.mean_days if st.mean_days is not None else services.close_days_text(None)])
    buf = io.BytesIO()
    wb.save(buf)
    resp = HttpResponse(buf.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    resp["Content-Disposition"] = f'attachment; filename="problems-{timezone.localdate():%Y%m%d}.xlsx"'
    return resp


@login_required
def detail(request, pk: int):
    nc = get_visible_or_404(request.user, Nonconformity.objects.select_related("unit", "owner", "occurrence", "follows"), pk=pk)
    members = Member.objects.filter(memberships__unit__path__startswith=nc.unit.path, memberships__end__isnull=True).order_by("name")
    return render(request, "audits/detail.html", {
        "nc": nc, "next_step": nc_next_step(nc), "history": ledger.history(nc), "members": members[:300],
        "is_auditee": can_manage(request.user, nc.unit),
        "today": timezone.localdate(), "why": (nc.why + [""] * 5)[:5], "attachments": nc.attachments.all(),
    })


@login_required
def nc_attachment(request, pk: int, att: int):
    """整改证据附件 download — only for those who may see the ticket."""
    from django.http import FileResponse

    nc = get_visible_or_404(request.user, Nonconformity.objects.all(), pk=pk)
    a = nc.attachments.filter(pk=att).first()
    if a is None:
        raise PermissionDenied("附件不存在")
    return FileResponse(a.file.open("rb"), as_attachment=True, filename=a.name, content_type=a.content_type)


@login_required
@require_POST
def action(request, pk: int, name: str):
    nc = get_visible_or_404(request.user, Nonconformity, pk=pk)
    p, u = request.POST, request.user

    def day(key, label):
        try:
            return dt.date.fromisoformat(p.get(key, ""))
        except ValueError:
            raise ValidationError(f"请填写有效的{label}") from None

    try:
        if name == "acknowledge":
            services.nc_acknowledge(nc, actor=u)
            done = "已确认不符合项"
        elif name == "analyse":
            services.nc_analyse(nc, actor=u, why=[p.get(f"why{i}", "") for i in range(1, 6)], root_cause=p.get("root_cause", ""))
            done = "已提交原因分析"
        elif name == "plan":
            if not p.get("owner"):
                raise ValidationError("请选择整改责任人")
            # chosen by id: only a person within one's scope, else not found — never a name from elsewhere
            owner = restrict(u, Member.objects.all()).filter(pk=p["owner"]).first() if p["owner"].isdigit() else None
            if owner is None:
                raise ValidationError("整改责任人不在本组织名单中")
            due = day("due_date", "整改期限")
            services.nc_plan(nc, actor=u, correction=p.get("correction", ""), corrective_action=p.get("corrective_action", ""),
                             owner=owner, due_date=due)
            done = f"已制定整改措施:责任人 {owner.name},期限 {due:%Y-%m-%d}"
        elif name == "implement":
            services.nc_implement(nc, actor=u, evidence=p.get("evidence", ""), done_on=day("done_on", "完成日期"),
                                  uploads=request.FILES.getlist("evidence_file"))
            done = "已登记整改实施,等待验证"
        elif name == "verify":
            services.nc_verify(nc, actor=u, note=p.get("note", ""))
            done = "已验证整改,可以关闭"
        elif name == "reject":
            services.nc_reject(nc, actor=u, reason=p.get("reason", ""))
            done = "已退回整改:" + p.get("reason", "").strip()
        elif name == "close":
            nc = services.nc_close(nc, actor=u)
            done = "已关闭不符合项" + (f",{nc.effectiveness_due:%Y-%m-%d} 起评价整改有效性" if nc.effectiveness_due else "")
        elif name in ("effective", "ineffective"):
            services.nc_review_effectiveness(nc, actor=u, effective=name == "effective", note=p.get("note", ""))
            done = "已评价:整改有效" if name == "effective" else "已评价:整改无效,已另立新项"
        else:
            raise PermissionDenied
        messages.success(request, f"{done}。下一步:{nc_next_step(Nonconformity.objects.get(pk=nc.pk)).text}")
    except ValidationError as exc:
        messages.error(request, ";".join(exc.messages))
    return redirect("nc_detail", pk=nc.pk)


@login_required
def raise_nc(request):
    """提出不符合项 — from a spot check, a 组织生活会's 整改措施, an external audit …"""
    from qms.permissions import NotPermitted, allowed, refusal

    # only units where the permission matrix lets this person raise one (internal auditors
    # raise theirs as findings of an audit they are on, from the audit's checklist)
    units = restrict(request.user, Unit.objects.exclude(kind="group"), manage=True).order_by("path")
    if not units.exists() or not allowed(request.user, "nc.raise", units.first()):
        raise NotPermitted(refusal(request.user, "nc.raise", None) or "您无权提出不符合项")
    if request.method == "POST":
        p = request.POST
        unit = units.filter(pk=p.get("unit") or 0).first()
        try:
            if unit is None:
                raise ValidationError("请选择责任组织")
            nc = services.nc_raise(actor=request.user, unit=unit, source=p.get("source", ""), grade=p.get("grade", ""),
                                   clause=p.get("clause", ""), requirement=p.get("requirement", ""), evidence=p.get("evidence", ""))
            messages.success(request, f"已提出不符合项 {nc.code}")
            return redirect("nc_detail", pk=nc.pk)
        except ValidationError as exc:
            messages.error(request, ";".join(exc.messages))
    return render(request, "audits/raise.html", {"units": units, "grades": Grade.choices,
                                                 "sources": [s for s in NCSource.choices if s[0] not in ("gap", "follow_up")], "p": request.POST})


@login_required
@require_POST
def raise_from_gap(request, pk: int):
    occ = get_visible_or_404(request.user, Occurrence, pk=pk)
    if not (occ.unit.parent_id and can_manage(request.user, occ.unit.parent)) and not can_manage(request.user, occ.unit):
        raise PermissionDenied("只有本组织或上级组织的负责人、体系管理员可以从执行缺口立项整改")
    try:
        nc = services.nc_raise_from_gap(occ, actor=request.user)
        messages.success(request, f"已立项整改 {nc.code}")
        return redirect("nc_detail", pk=nc.pk)
    except ValidationError as exc:
        messages.error(request, ";".join(exc.messages))
        return redirect("occurrence_detail", pk=occ.pk)


@login_required
def feedback_pdf(request, pk: int):
    """《问题整改反馈单》 (seed 003) — one problem, its cause, measures, evidence and verification."""
    from weasyprint import HTML

    nc = get_visible_or_404(request.user, Nonconformity.objects.select_related("unit", "owner"), pk=pk)
    html = render_to_string("audits/feedback_print.html", {"nc": nc, "printed_at": timezone.localtime()})
    pdf = HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()
    resp = HttpResponse(pdf, content_type="application/pdf")
    resp["Content-Disposition"] = f'inline; filename="{nc.code}.pdf"'
    return resp


# --------------------------------------------------------------------------- internal audit


@login_required
def audit_list(request):
    from audits.audit_services import may_plan
    from audits.models import Audit

    audits = restrict(request.user, Audit.objects.all()) | Audit.objects.filter(team=request.user)
    top = restrict(request.user, Unit.objects.exclude(kind="group")).order_by("path").first()
    return render(request, "audits/audit_list.html", {"audits": audits.distinct().order_by("-start"),
                                                       "can_plan": top is not None and may_plan(request.user, top)})


@login_required
def audit_new(request):

    from audits import audit_services

    units = restrict(request.user, Unit.objects.exclude(kind="group")).order_by("path")
    if not units.exists() or not audit_services.may_plan(request.user, units.first()):
        raise PermissionDenied("只有体系管理员、组织负责人或内审员可以编制审核计划")
    users = people_who_may_lead()
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
    from audits.models import Audit, ItemResult

    audit = (restrict(request.user, Audit.objects.all()) | Audit.objects.filter(team=request.user)).distinct().filter(pk=pk).first()
    if audit is None:
        raise PermissionDenied("无权查看该审核")
    from audits import audit_services

    in_team = audit.team.filter(pk=request.user.pk).exists() or audit.lead_id == request.user.pk
    auditees = Member.objects.none()
    if in_team:
        from django.db.models import Q

        q = Q()
        for unit in audit.units.all():
            q |= Q(memberships__unit__path__startswith=unit.path, memberships__end__isnull=True)
        auditees = Member.objects.filter(q).distinct().order_by("name")
    from qms.permissions import allowed

    duties = audit_services.audit_duties(request.user, audit)
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
    from audits import audit_services
    from audits.models import Audit, ChecklistItem

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
                audit_services.audit_report(audit, actor=u, conclusion=p.get("conclusion", ""), **meeting)
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
        messages.error(request, ";".join(exc.messages))
    return redirect("audit_detail", pk=audit.pk)


def _meeting_fields(audit, p) -> dict:
    """首次/末次会议 form fields → service arguments (a bad date raises ValueError)."""
    from django.contrib.auth import get_user_model

    team = {audit.lead_id, *audit.team.values_list("pk", flat=True)}
    return {
        "held_on": dt.date.fromisoformat(p.get("held_on", "")), "place": p.get("place", ""), "notes": p.get("notes", ""),
        "auditors": list(get_user_model().objects.filter(pk__in=[int(x) for x in p.getlist("auditors") if x.isdigit() and int(x) in team])),
        "auditees": list(Member.objects.filter(pk__in=[int(x) for x in p.getlist("auditees") if x.isdigit()])),
    }


@login_required
def audit_report_pdf(request, pk: int):
    from audits.models import Audit
    from audits.report import report_pdf

    audit = (restrict(request.user, Audit.objects.all()) | Audit.objects.filter(team=request.user)).distinct().filter(pk=pk).first()
    if audit is None:
        raise PermissionDenied("无权查看该审核")
    resp = HttpResponse(report_pdf(audit), content_type="application/pdf")
    resp["Content-Disposition"] = f'inline; filename="audit-{audit.pk}.pdf"'
    return resp


@login_required
def programme(request):
    """年度审核方案 — built from the data, highest risk first."""
    from audits import audit_services
    from audits.models import ProgrammeEntry
    from qms.permissions import allowed

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
