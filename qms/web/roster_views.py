"""Import pages: thin over ``qms.roster``, ``qms.unit_import`` and ``qms.position_import``.
Upload → preview (the file kept on the server by a token) → confirm (the kept file checked
again and imported all or nothing): the pages of ``qms.web.staged_views``."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from qms import position_import, roster, unit_import
from qms.web.staged_views import max_mb, pages, require_manager


@login_required
def roster_template(request):
    resp = HttpResponse(roster.template_bytes(), content_type=roster.XLSX_MIME)
    resp["Content-Disposition"] = 'attachment; filename="roster-template.xlsx"'
    return resp


def _preview_page(request, pending, result):
    mapping = None
    if result.columns is not None:
        need = result.columns
        optional = [f for f in roster.MAPPABLE if f not in need.missing and f not in need.found]
        mapping = {"required": [(f, roster.HEADER_OF[f]) for f in need.missing],
                   "optional": [(f, roster.HEADER_OF[f]) for f in optional], "columns": need.unknown}
    return render(request, "qms/roster_preview.html",
                  {"pending": pending, "result": result, "mapping": mapping, "max_mb": max_mb()})


def _roster_done(result: roster.ImportResult) -> str:
    more = f",与花名册不同 {len(result.differs)} 人未作修改(如需更正请在党员页面“更正信息”中办理)" if result.differs else ""
    return f"导入完成:新建 {result.created} 人,未变化 {result.unchanged} 人{more}。"


roster_import, roster_preview, roster_confirm = pages(
    roster.STEPS,
    templates=("qms/roster_import.html", "qms/roster_preview.html"), urls=("roster_import", "roster_preview"),
    done="member_list", success=_roster_done, preview_page=_preview_page)


@login_required
@require_POST
def roster_discard(request):
    """放弃: the kept file is deleted."""
    require_manager(request.user)
    roster.discard_staged(request.POST.get("token", ""), actor=request.user)
    messages.info(request, "已放弃这次导入,上传的文件已删除。")
    return redirect("roster_import")


@login_required
@require_POST
def roster_columns(request):
    """列对应: the user says which file column is which field; saved for the organisation."""
    require_manager(request.user)
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

units_import, units_import_preview, units_import_confirm = pages(
    unit_import.STEPS, templates=("qms/units_import.html", "qms/units_import_preview.html"),
    urls=("units_import", "units_import_preview"), done="unit_tree",
    success=lambda r: f"导入完成:新建党组织 {r.created} 个,未变化 {len(r.same)} 个。")

# ------------------------------------------------------------------ 任职记录导入 (positions and terms)

positions_import, positions_import_preview, positions_import_confirm = pages(
    position_import.STEPS, templates=("qms/positions_import.html", "qms/positions_import_preview.html"),
    urls=("positions_import", "positions_import_preview"), done="roster_import",
    success=lambda r: f"导入完成:新建任职记录 {r.created} 条,未变化 {len(r.same)} 条。")
