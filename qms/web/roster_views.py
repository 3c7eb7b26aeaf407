"""Roster import pages: thin over ``qms.roster``. Upload → preview (the file kept on the server
by a token) → confirm (the kept file checked again and imported all or nothing)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from qms import position_import, roster, unit_import
from qms.scoping import scopes_for


def _require_manager(user) -> None:
    if not any(s.can_manage for s in scopes_for(user)):
        raise PermissionDenied("您没有可管理的党组织,不能导入花名册")


def _max_mb() -> int:
    return roster.settings.QMS_MAX_UPLOAD_BYTES // 1048576


@login_required
def roster_template(request):
    resp = HttpResponse(roster.template_bytes(), content_type=roster.XLSX_MIME)
    resp["Content-Disposition"] = 'attachment; filename="roster-template.xlsx"'
    return resp


@login_required
def roster_import(request):
    """上传: the file is kept on the server and the preview shown; nothing is saved yet."""
    _require_manager(request.user)
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, "请选择要上传的 Excel 文件")
        else:
            try:
                pending = roster.stage_upload(upload, actor=request.user, filename=upload.name)
            except roster.RosterFileError as exc:
                messages.error(request, f"{exc}。未保存任何数据。")
            else:
                return redirect("roster_preview", token=pending.token)
    return render(request, "qms/roster_import.html", {"max_mb": _max_mb()})


def _preview_page(request, pending, result):
    mapping = None
    if result.columns is not None:
        need = result.columns
        optional = [f for f in roster.MAPPABLE if f not in need.missing and f not in need.found]
        mapping = {"required": [(f, roster.HEADER_OF[f]) for f in need.missing],
                   "optional": [(f, roster.HEADER_OF[f]) for f in optional], "columns": need.unknown}
    return render(request, "qms/roster_preview.html",
                  {"pending": pending, "result": result, "mapping": mapping, "max_mb": _max_mb()})


@login_required
def roster_preview(request, token: str):
    """预览: rows to create, unchanged, differing from the roll (side by side), errors."""
    _require_manager(request.user)
    try:
        pending, result = roster.preview_staged(token, actor=request.user)
    except roster.PendingGone as exc:
        messages.error(request, str(exc))
        return redirect("roster_import")
    return _preview_page(request, pending, result)


@login_required
@require_POST
def roster_confirm(request):
    """确认导入: the kept file, all or nothing, only if it still gives the preview shown."""
    _require_manager(request.user)
    token = request.POST.get("token", "")
    try:
        result = roster.confirm_staged(token, actor=request.user, seen=request.POST.get("seen", ""))
    except roster.PendingGone as exc:
        messages.error(request, str(exc))
        return redirect("roster_import")
    if result.created:
        more = f",与花名册不同 {len(result.differs)} 人未作修改(如需更正请在党员页面“更正信息”中办理)" if result.differs else ""
        messages.success(request, f"导入完成:新建 {result.created} 人,未变化 {result.unchanged} 人{more}。")
        return redirect("member_list")
    messages.error(request, result.notice or f"发现 {len(result.errors)} 处错误,未保存任何数据。请修改文件后重新上传。")
    pending, _ = roster.roster_pending.load(token, user=request.user) or (None, None)
    return _preview_page(request, pending, result)


@login_required
@require_POST
def roster_discard(request):
    """放弃: the kept file is deleted."""
    _require_manager(request.user)
    roster.discard_staged(request.POST.get("token", ""), actor=request.user)
    messages.info(request, "已放弃这次导入,上传的文件已删除。")
    return redirect("roster_import")


@login_required
@require_POST
def roster_columns(request):
    """列对应: the user says which file column is which field; saved for the organisation."""
    _require_manager(request.user)
    token = request.POST.get("token", "")
    choices = {f: request.POST.get(f"map_{f}", "").strip() for f in roster.MAPPABLE}
    try:
        saved = roster.save_column_mapping(token, actor=request.user, choices=choices)
    except roster.PendingGone as exc:
        messages.error(request, str(exc))
        return redirect("roster_import")
    except ValidationError as exc:
        messages.error(request, ";".join(exc.messages))
    else:
        messages.success(request, f"已保存 {len(saved)} 项列对应,本组织以后导入花名册时会自动使用。")
    return redirect("roster_preview", token=token)


# ------------------------------------------------------------------ 组织架构导入 (the unit tree)


@login_required
def units_import(request):
    """上传组织架构表: kept on the server, then the preview."""
    _require_manager(request.user)
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, "请选择要上传的 Excel 文件")
        else:
            try:
                pending = unit_import.stage_units(upload, actor=request.user, filename=upload.name)
            except roster.RosterFileError as exc:
                messages.error(request, f"{exc}。未保存任何数据。")
            else:
                return redirect("units_import_preview", token=pending.token)
    return render(request, "qms/units_import.html", {"max_mb": _max_mb()})


@login_required
def units_import_preview(request, token: str):
    _require_manager(request.user)
    try:
        pending, result = unit_import.preview_units(token, actor=request.user)
    except roster.PendingGone as exc:
        messages.error(request, str(exc))
        return redirect("units_import")
    return render(request, "qms/units_import_preview.html", {"pending": pending, "result": result})


@login_required
@require_POST
def units_import_confirm(request):
    _require_manager(request.user)
    token = request.POST.get("token", "")
    try:
        result = unit_import.confirm_units(token, actor=request.user, seen=request.POST.get("seen", ""))
    except roster.PendingGone as exc:
        messages.error(request, str(exc))
        return redirect("units_import")
    if result.created:
        messages.success(request, f"导入完成:新建党组织 {result.created} 个,未变化 {len(result.same)} 个。")
        return redirect("unit_tree")
    messages.error(request, result.notice or f"发现 {len(result.errors)} 处错误,未保存任何数据。请修改文件后重新上传。")
    pending, _ = roster.roster_pending.load(token, user=request.user) or (None, None)
    return render(request, "qms/units_import_preview.html", {"pending": pending, "result": result})


# ------------------------------------------------------------------ 任职记录导入 (positions and terms)


@login_required
def positions_import(request):
    """上传任职记录表: kept on the server, then the preview."""
    _require_manager(request.user)
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, "请选择要上传的 Excel 文件")
        else:
            try:
                pending = position_import.stage_positions(upload, actor=request.user, filename=upload.name)
            except roster.RosterFileError as exc:
                messages.error(request, f"{exc}。未保存任何数据。")
            else:
                return redirect("positions_import_preview", token=pending.token)
    return render(request, "qms/positions_import.html", {"max_mb": _max_mb()})


@login_required
def positions_import_preview(request, token: str):
    _require_manager(request.user)
    try:
        pending, result = position_import.preview_positions(token, actor=request.user)
    except roster.PendingGone as exc:
        messages.error(request, str(exc))
        return redirect("positions_import")
    return render(request, "qms/positions_import_preview.html", {"pending": pending, "result": result})


@login_required
@require_POST
def positions_import_confirm(request):
    _require_manager(request.user)
    token = request.POST.get("token", "")
    try:
        result = position_import.confirm_positions(token, actor=request.user, seen=request.POST.get("seen", ""))
    except roster.PendingGone as exc:
        messages.error(request, str(exc))
        return redirect("positions_import")
    if result.created:
        messages.success(request, f"导入完成:新建任职记录 {result.created} 条,未变化 {len(result.same)} 条。")
        return redirect("roster_import")
    messages.error(request, result.notice or f"发现 {len(result.errors)} 处错误,未保存任何数据。请修改文件后重新上传。")
    pending, _ = roster.roster_pending.load(token, user=request.user) or (None, None)
    return render(request, "qms/positions_import_preview.html", {"pending": pending, "result": result})
