"""往年会议记录导入 pages: thin over ``workflows.history_import``, the same upload → preview →
confirm as the roster import (``qms/web/roster_views.py``)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from qms import roster
from qms.web.roster_views import _max_mb, _require_manager
from workflows import history_import


@login_required
def history_import_page(request):
    """上传往年会议记录表: kept on the server, then the preview."""
    _require_manager(request.user)
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, "请选择要上传的 Excel 文件")
        else:
            try:
                pending = history_import.stage_history(upload, actor=request.user, filename=upload.name)
            except roster.RosterFileError as exc:
                messages.error(request, f"{exc}。未保存任何数据。")
            else:
                return redirect("history_import_preview", token=pending.token)
    return render(request, "workflows/history_import.html", {"max_mb": _max_mb()})


@login_required
def history_import_preview(request, token: str):
    _require_manager(request.user)
    try:
        pending, result = history_import.preview_history(token, actor=request.user)
    except roster.PendingGone as exc:
        messages.error(request, str(exc))
        return redirect("history_import")
    return render(request, "workflows/history_import_preview.html", {"pending": pending, "result": result})


@login_required
@require_POST
def history_import_confirm(request):
    _require_manager(request.user)
    token = request.POST.get("token", "")
    try:
        result = history_import.confirm_history(token, actor=request.user, seen=request.POST.get("seen", ""))
    except roster.PendingGone as exc:
        messages.error(request, str(exc))
        return redirect("history_import")
    if result.created:
        messages.success(request, f"导入完成:登记往年会议 {result.created} 次,已有记录 {len(result.same)} 次。")
        return redirect("compliance")
    messages.error(request, result.notice or f"发现 {len(result.errors)} 处错误,未保存任何数据。请修改文件后重新上传。")
    pending, _ = roster.roster_pending.load(token, user=request.user) or (None, None)
    return render(request, "workflows/history_import_preview.html", {"pending": pending, "result": result})
