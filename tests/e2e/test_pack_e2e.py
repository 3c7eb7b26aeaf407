"""Scenario 4 (issue 8), on the demo data in Chromium with a real Celery worker on Redis: the
体系管理员 asks for the year's evidence pack, the page shows the build's progress, the pack is
downloaded and verified from the command line; an external auditor's link opens it and,
once revoked, shows a clear page instead of data."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from audits.models import EvidencePack, PackState
from tests.e2e.conftest import html, login, shot

pytestmark = [pytest.mark.e2e, pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_pack_built_in_the_background_downloaded_and_verified(celery_worker_process, page, browser, live_server, tmp_path):
    call_command("demo", "--no-history", stdout=io.StringIO())
    call_command("load_procedures", stdout=io.StringIO())
    today = timezone.localdate()

    login(page, "admin", "demo-admin-2026")
    page.goto("/audits/packs/")
    page.select_option("select[name=unit]", value="HX")
    page.fill("input[name=start]", f"{today.year}-01-01")
    page.fill("input[name=end]", today.isoformat())
    page.click("button:text('生成')")
    page.wait_for_url("**/audits/packs/*/")
    pack = EvidencePack.objects.get()
    # the request returned at once; the worker builds it — the page shows a progress bar until it is done
    assert page.locator("[data-progress-url] progress").count() == 1 or pack.state == PackState.DONE
    shot(page, "e2e-pack-progress")
    page.wait_for_selector("text=下载 PDF/A", timeout=180_000)
    pack.refresh_from_db()
    assert pack.state == PackState.DONE and pack.percent == 100
    shot(page, "e2e-pack-done")

    with page.expect_download() as dl:
        page.click("text=下载 ZIP")
    zip_path = tmp_path / "pack.zip"
    dl.value.save_as(zip_path)
    out = io.StringIO()
    call_command("verify_pack", str(zip_path), stdout=out, stderr=io.StringIO())
    assert "校验通过" in out.getvalue()

    page.fill("input[name=auditor_name]", "王审核")
    page.fill("input[name=organisation]", "华信认证中心")
    page.fill("input[name=expires_on]", (today + dt.timedelta(days=30)).isoformat())
    page.click("button:text('签发')")
    url = page.locator("code").filter(has_text="/external/").inner_text()
    external = browser.new_context(locale="zh-CN", base_url=live_server.url).new_page()
    external.goto(url)
    assert "王审核" in html(external) and pack.pdf_sha256 in html(external)
    shot(external, "e2e-pack-external")
    page.fill("input[name=reason]", "审核结束")
    page.once("dialog", lambda d: d.accept())
    page.click("button:text('撤销')")
    external.goto(url)
    assert "该链接已被撤销" in html(external) and pack.pdf_sha256 not in html(external)
