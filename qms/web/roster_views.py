"""Roster import pages: thin over ``qms.roster``."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render

from qms import roster
from qms.scoping import scopes_for


def _require_manager(user) -> None:
    if not any(s.can_manage for s in scopes_for(user)):
        raise PermissionDenied("您没有可管理的党组织,不能导入花名册")


@login_required
def roster_template(request):
    resp = HttpResponse(roster.template_bytes(), content_type=roster.XLSX_MIME)
    resp["Content-Disposition"] = 'attachment; filename="roster-template.xlsx"'
    return resp


@login_required
def roster_import(request):
    _require_manager(request.user)
    result = None
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, "请选择要上传的 Excel 文件")
        else:
            result = roster.import_roster(upload, actor=request.user)
            if result.ok:
                messages.success(request, f"导入完成:新建 {result.created} 人,未变化 {result.unchanged} 人")
            else:
                messages.error(request, f"发现 {len(result.errors)} 处错误,未保存任何数据。请修改后重新上传。")
    return render(request, "qms/roster_import.html", {"result": result, "max_mb": roster.settings.QMS_MAX_UPLOAD_BYTES // 1048576})
