"""认证周期 pages: the certificates (register one), one certificate with its external-audit
schedule and findings, the findings import (upload → preview → confirm) and the readiness page
for the next external audit. Thin views over ``services``, ``findings_import`` and ``readiness``."""
from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from audits.capa.models import Grade
from audits.certification import findings_import, services
from audits.certification.models import Certificate, CertificationAudit
from qms import roster_files, roster_pending, staged_import, uploads
from qms.models import Unit
from qms.pages import show_refusal
from qms.scoping import can_manage, get_visible_or_404, restrict
from qms.web.staged_views import max_mb


def _date(value: str, label: str) -> dt.date | None:
    if not (value or "").strip():
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(f"请填写有效的{label}") from exc


@login_required
def certificate_list(request):
    units = restrict(request.user, Unit.objects.exclude(kind="group").filter(is_active=True), manage=True).order_by("path")
    if request.method == "POST":
        p = request.POST
        # any organisation the person sees: the service asks the permission matrix (403 with its reason)
        unit = restrict(request.user, Unit.objects.filter(is_active=True)).filter(pk=p.get("unit") or 0).first()
        try:
            if unit is None:
                raise ValidationError("请选择获证组织")
            cert = services.certificate_register(
                actor=request.user, unit=unit, body=p.get("body", ""), standard=p.get("standard", ""), scope=p.get("scope", ""),
                number=p.get("number", ""), issued_on=_date(p.get("issued_on", ""), "发证日期"),
                expires_on=_date(p.get("expires_on", ""), "有效期"))
            messages.success(request, f"已登记认证证书 {cert.number},并排定了 {cert.audits.count()} 次外部审核")
            return redirect("certificate_detail", pk=cert.pk)
        except ValidationError as exc:
            show_refusal(request, exc)
    certs = restrict(request.user, Certificate.objects.all()).select_related("unit")
    today = timezone.localdate()
    rows = [(c, [a for a in c.audits.all() if not a.done_on][:1]) for c in certs.prefetch_related("audits")]
    return render(request, "audits/certification/list.html", {"rows": rows, "units": units, "today": today, "p": request.POST})


@login_required
def certificate_detail(request, pk: int):
    cert = get_visible_or_404(request.user, Certificate.objects.select_related("unit"), pk=pk)
    today = timezone.localdate()
    audits = list(cert.audits.prefetch_related("findings__nonconformity__unit"))
    may = can_manage(request.user, cert.unit)
    units = Unit.objects.filter(path__startswith=cert.unit.path, is_active=True).exclude(kind="group").order_by("path")
    return render(request, "audits/certification/detail.html", {
        "cert": cert, "today": today, "may": may, "units": units,
        "audits": [(a, a.status(today), a.status_label(today)) for a in audits],
        "grades": [g for g in Grade.choices if g[0] in services.FINDING_GRADES],
    })


def _audit(request, pk: int) -> CertificationAudit:
    return get_visible_or_404(request.user, CertificationAudit.objects.select_related("certificate__unit"), pk=pk)


@login_required
@require_POST
def audit_action(request, pk: int, name: str):
    a = _audit(request, pk)
    p = request.POST
    try:
        if name == "done":
            services.audit_record_done(a, actor=request.user, done_on=_date(p.get("done_on", ""), "完成日期"),
                                       reference=p.get("reference", ""))
            messages.success(request, f"已登记{a.title}完成")
        elif name == "finding":
            unit = Unit.objects.filter(pk=p.get("unit") or 0).first()
            nc = services.finding_raise(a, actor=request.user, unit=unit, grade=p.get("grade", ""), clause=p.get("clause", ""),
                                        requirement=p.get("requirement", ""), evidence=p.get("evidence", ""))
            messages.success(request, f"已登记外部审核发现,不符合项编号 {nc.code}")
        else:
            messages.error(request, "没有这项操作")
    except ValidationError as exc:
        show_refusal(request, exc)
    return redirect("certificate_detail", pk=a.certificate_id)


# ------------------------------------------------------------------ 外部审核发现导入


@login_required
def findings_upload(request, pk: int):
    a = _audit(request, pk)
    if request.method == "POST":
        file = uploads.take(request, "file")
        if file is None:
            messages.error(request, "请选择要上传的 Excel 文件")
        else:
            try:
                pending = findings_import.stage_findings(a, file, actor=request.user, filename=file.name)
            except roster_files.RosterFileError as exc:
                messages.error(request, f"{exc}。未保存任何数据。")
            else:
                return redirect("cert_findings_preview", pk=a.pk, token=pending.token)
    return render(request, "audits/certification/findings_import.html", {"a": a, "max_mb": max_mb()})


def _preview_page(request, a, pending, result):
    return render(request, "audits/certification/findings_preview.html", {"a": a, "pending": pending, "result": result})


@login_required
def findings_preview(request, pk: int, token: str):
    a = _audit(request, pk)
    try:
        pending, result = findings_import.preview_findings(a, token, actor=request.user)
    except staged_import.PendingGone as exc:
        messages.error(request, str(exc))
        return redirect("cert_findings_import", pk=a.pk)
    return _preview_page(request, a, pending, result)


@login_required
@require_POST
def findings_confirm(request, pk: int):
    a = _audit(request, pk)
    token = request.POST.get("token", "")
    try:
        result = findings_import.confirm_findings(a, token, actor=request.user, seen=request.POST.get("seen", ""))
    except staged_import.PendingGone as exc:
        messages.error(request, str(exc))
        return redirect("cert_findings_import", pk=a.pk)
    if result.created:
        messages.success(request, f"已导入 {result.created} 条外部审核发现,已进入问题清单")
        return redirect("certificate_detail", pk=a.certificate_id)
    messages.error(request, result.notice or f"发现 {len(result.errors)} 处错误,未保存任何数据。请修改文件后重新上传。")
    pending, _ = roster_pending.load(token, user=request.user) or (None, None)
    return _preview_page(request, a, pending, result)


# ------------------------------------------------------------------ 迎审准备


@login_required
def readiness_page(request):
    """下一次外部审核还缺什么 — for the certificate chosen (the newest one the user sees by default)."""
    from audits.certification.readiness import readiness

    certs = restrict(request.user, Certificate.objects.all()).select_related("unit")
    chosen = request.GET.get("certificate", "")
    cert = (certs.filter(pk=chosen).first() if chosen.isdigit() else None) or certs.first()
    return render(request, "audits/certification/readiness.html", {
        "certs": certs, "cert": cert, "r": readiness(cert) if cert else None, "today": timezone.localdate()})
