"""花名册导入 in a browser, at desktop width and on a phone (390 px): an office's own workbook
(two sheets, title rows, its own header words) is uploaded, the preview lists who will be
created and saves nothing, confirm imports them and they are on the roll."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from qms import services
from qms.models import Member, Role
from tests import factories
from tests.e2e.conftest import html, login, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
FILE = Path(__file__).resolve().parents[1] / "fixtures" / "rosters" / "office-2sheets.xlsx"
PEOPLE = ("王芳", "李明", "赵强", "陈静", "刘洋")


@pytest.mark.parametrize(("label", "width"), [("desktop", 1280), ("phone", 390)])
def test_upload_preview_confirm_and_the_members_are_on_the_roll(browser, live_server, tree, label, width):
    u = factories.user("roster_admin", password="roster-pass-2026")
    services.role_grant(actor=None, user=u, role=Role.ADMIN, unit=tree["committee"], valid_from=dt.date(2020, 1, 1))
    before = Member.objects.count()
    context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        login(page, "roster_admin", "roster-pass-2026")
        page.goto("/roster/import/")
        page.set_input_files("input[name=file]", str(FILE))
        page.click("text=上传并预览")
        page.wait_for_url("**/roster/import/*/")
        main = page.locator("main").inner_text()
        assert "花名册导入预览" in main and "现在还没有保存任何数据" in main
        assert page.locator("#count-create").inner_text().replace(" ", "") == "新建5人"
        assert page.locator("#count-errors").inner_text().replace(" ", "") == "错误0处"
        creates = page.locator("table.creates").inner_text()
        assert all(name in creates for name in PEOPLE) and "第一党支部" in creates and "第二党支部" in creates
        assert Member.objects.count() == before  # nothing saved by the preview
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        shot(page, f"roster-preview-{label}")
        page.click("#confirm-import")
        page.wait_for_url("**/members/**")
        assert "导入完成:新建 5 人" in page.locator("main").inner_text() or "导入完成:新建 5 人" in html(page)
        roll = page.locator("main").inner_text()
        assert all(name in roll for name in PEOPLE), roll
        assert Member.objects.count() == before + 5
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        shot(page, f"roster-imported-{label}")
    finally:
        context.close()


def test_the_unit_tree_is_imported_through_the_same_preview_on_a_phone(browser, live_server, tree, tmp_path):
    from openpyxl import Workbook

    from qms.models import Unit

    u = factories.user("units_admin", password="units-pass-2026")
    services.role_grant(actor=None, user=u, role=Role.ADMIN, unit=tree["committee"], valid_from=dt.date(2020, 1, 1))
    wb = Workbook()
    wb.active.append(["党组织一览表"])
    wb.active.append(["党组织编码", "党组织名称", "组织类型", "上级党组织", "成立时间", "换届时间"])
    wb.active.append(["G3B1", "第三总支第一支部", "支部", "G3", "2024年3月1日", "2024.3.1"])
    wb.active.append(["G3", "第三党总支", "党总支", "测试党委", "2023-01-01", "2023-01-01"])
    path = tmp_path / "组织架构.xlsx"
    wb.save(path)
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        login(page, "units_admin", "units-pass-2026")
        page.goto("/roster/units/")
        page.set_input_files("input[name=file]", str(path))
        page.click("text=上传并预览")
        page.wait_for_url("**/roster/units/*/")
        assert page.locator("#count-create").inner_text().replace(" ", "") == "新建2个"
        assert not Unit.objects.filter(code__in=["G3", "G3B1"]).exists()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "units-preview-phone")
        page.click("#confirm-import")
        page.wait_for_url("**/units/")
        assert "第三总支第一支部" in page.locator("main").inner_text()
        assert Unit.objects.get(code="G3B1").parent.code == "G3"
    finally:
        context.close()


def test_positions_are_imported_through_the_same_preview_on_a_phone(browser, live_server, tree):
    from qms.models import Position

    u = factories.user("positions_admin", password="positions-pass-2026")
    services.role_grant(actor=None, user=u, role=Role.ADMIN, unit=tree["committee"], valid_from=dt.date(2020, 1, 1))
    path = Path(__file__).resolve().parents[1] / "fixtures" / "rosters" / "positions-office.xlsx"
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        login(page, "positions_admin", "positions-pass-2026")
        page.goto("/roster/import/")
        page.click("text=从表格导入任职记录")
        page.wait_for_url("**/roster/positions/")
        page.set_input_files("input[name=file]", str(path))
        page.click("text=上传并预览")
        page.wait_for_url("**/roster/positions/*/")
        assert page.locator("#count-create").inner_text().replace(" ", "") == "新建6条"
        assert page.locator("#count-errors").inner_text().replace(" ", "") == "错误0处"
        creates = page.locator("table.creates").inner_text()
        assert "党小组长" in creates and "纪检委员" in creates and "2023-12-31" in creates
        assert not Position.objects.exists()  # nothing saved by the preview
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "positions-preview-phone")
        page.click("#confirm-import")
        page.wait_for_url("**/roster/import/")
        assert "导入完成:新建任职记录 6 条" in page.locator("main").inner_text()
        assert Position.objects.count() == 6 and Position.objects.filter(end__isnull=False).count() == 1
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        context.close()
