"""问题清单/台账 pages: the register with filters, 整改率 and Excel; one nonconformity with its
corrective-action steps; raising (by hand or from a gap); the printable 《问题整改反馈单》."""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_POST

from audits.capa import services
from audits.capa.models import OPEN_STATES, Grade, NCSource, NCState, Nonconformity
from audits.capa.nextstep import nc_next_step
from qms import ledger, signatures, uploads
from qms.models import Member, Unit
from qms.params import choice_param, page_param, text_param
from qms.scoping import can_manage, get_visible_or_404, restrict
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
    from qms import exports

    qs, _ = _filtered(request)
    wb = exports.workbook()
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
    resp = HttpResponse(exports.xlsx_bytes(wb), content_type=exports.XLSX_MIME)
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
    nc = get_visible_or_404(request.user, Nonconformity.objects.all(), pk=pk)
    a = nc.attachments.filter(pk=att).first()
    if a is None:
        raise PermissionDenied("附件不存在")
    return uploads.serve(a.file, name=a.name)


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
                                  uploads=uploads.take_all(request, "evidence_file", kinds="evidence"))
            done = "已登记整改实施,等待验证"
        elif name == "verify":
            services.nc_verify(nc, actor=u, note=p.get("note", ""), password=p.get("password"))
            done = "已验证整改,可以关闭"
        elif name == "reject":
            services.nc_reject(nc, actor=u, reason=p.get("reason", ""))
            done = "已退回整改:" + p.get("reason", "").strip()
        elif name == "close":
            nc = services.nc_close(nc, actor=u, password=p.get("password"))
            done = "已关闭不符合项" + (f",{nc.effectiveness_due:%Y-%m-%d} 起评价整改有效性" if nc.effectiveness_due else "")
        elif name in ("effective", "ineffective"):
            services.nc_review_effectiveness(nc, actor=u, effective=name == "effective", note=p.get("note", ""))
            done = "已评价:整改有效" if name == "effective" else "已评价:整改无效,已另立新项"
        else:
            raise PermissionDenied
        messages.success(request, f"{done}。下一步:{nc_next_step(Nonconformity.objects.get(pk=nc.pk)).text}")
    except ValidationError as exc:
        signatures.refused(request, exc)
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
