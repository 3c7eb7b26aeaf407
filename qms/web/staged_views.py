"""The pages of a staged import (``qms.staged_import``): upload → preview → confirm, thin over the
import's three service steps. The roster, the unit tree, positions and past years' meetings
each get these pages from ``pages`` with their own templates, URL names and success wording."""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from qms import roster_files, roster_pending, staged_import, uploads
from qms.scoping import scopes_for


def require_manager(user) -> None:
    if not any(s.can_manage for s in scopes_for(user)):
        raise PermissionDenied("您没有可管理的党组织,不能导入花名册")


def max_mb() -> int:
    return settings.QMS_MAX_UPLOAD_BYTES // 1048576


class Pages(NamedTuple):
    upload: Callable
    preview: Callable
    confirm: Callable


def pages(steps: staged_import.Steps, *, templates: tuple[str, str], urls: tuple[str, str],
          done: str, success: Callable[..., str],
          preview_page: Callable | None = None) -> Pages:
    """The three views of an import. ``templates``: the upload page's and the preview's;
    ``urls``: the upload page's and the preview's URL names; ``done``: the URL name shown after
    an import that created something, with the message ``success(result)``. ``preview_page``
    (request, pending, result) renders the preview where the import shows more than its
    template's ``pending`` and ``result`` (the roster's column mapping)."""
    upload_template, preview_template = templates
    upload_url, preview_url = urls

    def show(request, pending, result):
        if preview_page is not None:
            return preview_page(request, pending, result)
        return render(request, preview_template, {"pending": pending, "result": result})

    @login_required
    def upload(request):
        """上传: the file is kept on the server and the preview shown; nothing is saved yet."""
        require_manager(request.user)
        if request.method == "POST":
            file = uploads.take(request, "file")
            if file is None:
                messages.error(request, "请选择要上传的 Excel 文件")
            else:
                try:
                    pending = steps.stage(file, actor=request.user, filename=file.name)
                except roster_files.RosterFileError as exc:
                    messages.error(request, f"{exc}。未保存任何数据。")
                else:
                    return redirect(preview_url, token=pending.token)
        return render(request, upload_template, {"max_mb": max_mb()})

    @login_required
    def preview(request, token: str):
        """预览: rows to create, unchanged, differing from the records (side by side), errors."""
        require_manager(request.user)
        try:
            pending, result = steps.preview(token, actor=request.user)
        except staged_import.PendingGone as exc:
            messages.error(request, str(exc))
            return redirect(upload_url)
        return show(request, pending, result)

    @login_required
    @require_POST
    def confirm(request):
        """确认导入: the kept file, all or nothing, only if it still gives the preview shown."""
        require_manager(request.user)
        token = request.POST.get("token", "")
        try:
            result = steps.confirm(token, actor=request.user, seen=request.POST.get("seen", ""))
        except staged_import.PendingGone as exc:
            messages.error(request, str(exc))
            return redirect(upload_url)
        if result.created:
            messages.success(request, success(result))
            return redirect(done)
        messages.error(request, result.notice or f"发现 {len(result.errors)} 处错误,未保存任何数据。请修改文件后重新上传。")
        pending, _ = roster_pending.load(token, user=request.user) or (None, None)
        return show(request, pending, result)

    return Pages(upload, preview, confirm)
