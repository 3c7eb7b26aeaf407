"""往年会议记录导入 pages: thin over ``workflows.history_import``, the same upload → preview →
confirm as the roster import (``qms.web.staged_views``)."""
from __future__ import annotations

from qms.web.staged_views import pages
from workflows import history_import

history_import_page, history_import_preview, history_import_confirm = pages(
    history_import.STEPS, templates=("workflows/history_import.html", "workflows/history_import_preview.html"),
    urls=("history_import", "history_import_preview"), done="compliance",
    success=lambda r: f"导入完成:登记往年会议 {r.created} 次,已有记录 {len(r.same)} 次。")
