"""The layout check of every page (qms/pdfcheck.py, ``manage.py check_pdf``): it passes a clean
document and finds each fault a reader would see — a picture run over the footer, a number
printed over its neighbour, a heading left alone at the foot of a page, a page with next to
nothing on it."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qms.pdfcheck import Margins, check_pdf
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[1]
PAGE = '@page { size: A4; margin: 18mm 16mm; @bottom-center { content: "第 " counter(page) " 页"; font: 9pt "Noto Sans CJK SC"; } }'
STYLE = f"<style>{PAGE} body {{ font: 10pt 'Noto Serif CJK SC'; }} h2 {{ font: 13pt 'Noto Sans CJK SC'; }}</style>"
PARA = "<p>" + "三会一课记录要素齐全、清晰完整。" * 12 + "</p>"


@pytest.fixture(autouse=True)
def _poppler():
    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        if IN_CI:
            pytest.fail("CI 必须安装 poppler-utils")
        pytest.skip("需要 poppler-utils")


def _pdf(tmp_path: Path, body: str, name: str = "t.pdf") -> Path:
    from weasyprint import HTML

    path = tmp_path / name
    HTML(string=f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>{STYLE}</head><body>{body}</body></html>").write_pdf(path)
    return path


def _tall(mm: int) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="600" height="{mm * 96 / 25.4:.0f}">'
            f'<rect width="600" height="{mm * 96 / 25.4:.0f}" fill="#2e7d32"/></svg>')


def _kinds(faults) -> set[str]:
    return {f.kind for f in faults}


def test_a_clean_document_passes(tmp_path):
    pdf = _pdf(tmp_path, "<h2>一、概况</h2>" + PARA * 3 + "<h2>二、记录</h2>" + PARA * 2)
    assert check_pdf(pdf) == []


def test_a_picture_run_over_the_footer_is_found(tmp_path):
    """A chart taller than the page is not split by the renderer: it runs past the bottom margin."""
    pdf = _pdf(tmp_path, PARA + f"<div>{_tall(290)}</div>" + PARA)
    kinds = _kinds(check_pdf(pdf))
    assert "内容压住页脚区域" in kinds


def test_a_number_spilling_over_its_neighbour_is_found(tmp_path):
    table = ("<table style='width:60mm;table-layout:fixed;border-collapse:collapse'><colgroup><col style='width:15mm'>"
             "<col style='width:45mm'></colgroup><tr><td style='overflow-wrap:normal'>92.3%(620/672)</td>"
             "<td>未达成</td></tr></table>")
    faults = check_pdf(_pdf(tmp_path, table))
    assert any(f.kind == "文字重叠" and "未达成" in f.detail for f in faults), faults


def test_text_past_the_side_margin_is_found(tmp_path):
    pdf = _pdf(tmp_path, "<p style='white-space:nowrap'>" + "SHA256:" + "0123456789abcdef" * 8 + "</p>")
    assert {"文字超出版心", "内容超出左右页边距"} <= _kinds(check_pdf(pdf))


def test_a_heading_alone_and_a_near_empty_page_are_found(tmp_path):
    # the heading stays at the foot of page 1, its picture goes to page 2 (nothing keeps them together)
    body = PARA * 9 + "<h2 style='break-after:auto'>9.1 规定执行情况</h2>" + f"<div>{_tall(230)}</div>" + "<p>完</p>" + PARA * 4
    faults = check_pdf(_pdf(tmp_path, body))
    assert any(f.kind == "标题孤立在页尾" and "9.1" in f.detail for f in faults), faults
    lonely = PARA + "<h2 style='break-before:page'>十、改进</h2><div style='break-before:page'></div>" + PARA
    assert any(f.kind == "页面几乎空白" and f.page == 2 for f in check_pdf(_pdf(tmp_path, lonely, "e.pdf")))


def test_the_command_prints_the_faults_in_chinese_and_exits_1(tmp_path):
    good = _pdf(tmp_path, PARA, "good.pdf")
    bad = _pdf(tmp_path, PARA + f"<div>{_tall(290)}</div>", "bad.pdf")
    run = subprocess.run([sys.executable, "manage.py", "check_pdf", str(good)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "版面检查通过" in run.stdout
    run = subprocess.run([sys.executable, "manage.py", "check_pdf", str(good), str(bad)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 1 and "内容压住页脚区域" in run.stdout and "第 2 页" in run.stdout  # the picture moved on
    run = subprocess.run([sys.executable, "manage.py", "check_pdf", str(good), "--margins", "甲"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "页边距" in run.stderr


def test_margins_parse():
    assert Margins.parse("20,16,18") == Margins(20, 16, 18, 16)
    assert Margins.parse("18") == Margins(18, 18, 18, 18)
    with pytest.raises(ValueError):
        Margins.parse("1,2,3,4,5")
