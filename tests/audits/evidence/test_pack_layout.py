"""The demo committee's full-year evidence pack (60 organisations, a year of executions) as an
auditor reads it: every page passes the layout check (qms/pdfcheck.py) — charts split into
page-sized pictures with their title repeated (续) and no label cut, tables wrapping inside
their cells, no heading left at a page's foot, no near-empty page except a chapter's end."""
from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess

import pytest
from django.core.management import call_command

from audits.evidence.builder import build_pack
from qms import demo
from qms.models import Unit
from qms.pdfcheck import Margins, check_pdf
from tests.conftest import IN_CI

pytestmark = pytest.mark.django_db
PACK_MARGINS = Margins(20, 16, 18, 16)  # templates/audits/evidence/_page.html


def test_the_demo_committees_full_year_pack_passes_the_layout_check_on_every_page(tmp_path):
    if shutil.which("pdftoppm") is None:
        if IN_CI:
            pytest.fail("CI 必须安装 poppler-utils")
        pytest.skip("需要 poppler-utils")
    call_command("demo", stdout=io.StringIO())
    root = Unit.objects.get(code=demo.ROOT_CODE)
    year = demo.TODAY.year
    result = build_pack(root, dt.date(year, 1, 1), dt.date(year, 12, 31), out_dir=tmp_path, generated_by="测试")
    pdf = result.pdf_path
    assert result.pages > 60
    assert check_pdf(pdf, PACK_MARGINS) == []
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    flat = "".join(text.split())
    assert "各党组织规定执行率(续)" in flat  # 60 organisations do not fit one picture
    for unit in Unit.objects.filter(path__startswith=root.path):
        assert unit.name in flat, unit.name  # every organisation is in the chapter 9 table, none lost
