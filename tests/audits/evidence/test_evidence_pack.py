"""Certification evidence pack (issue 6): PDF/A-3b with embedded CJK fonts, contents and
bookmarks, attachments byte-for-byte, manifest hashes, verify_pack passing and failing on a
tampered copy, empty periods and missing files, the background build with progress, the
external auditor's expiring and revocable link (every access ledgered), and a real worker."""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from audits.evidence import parts as evidence_parts
from audits.evidence import services as packs
from audits.evidence.builder import build_pack
from audits.evidence.verify import verify_pack
from audits.models import EvidencePack, PackState
from qms import services as core
from qms.models import LedgerEntry, Role
from qms.permissions import NotPermitted
from tests import factories
from tests.conftest import IN_CI
from tests.test_workflows_records import _full_record, _occ, org  # noqa: F401  (fixture and helpers)
from workflows import services

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
SIGN_IN = b"%PDF-1.4\n% \xe7\xad\xbe\xe5\x88\xb0\xe8\xa1\xa8 sign-in sheet\n" + bytes(range(256)) * 4


def _tools():
    if not all(shutil.which(t) for t in ("pdfinfo", "pdffonts", "pdftotext", "pdfdetach")):
        if IN_CI:
            pytest.fail("CI 必须安装 poppler-utils")
        pytest.skip("需要 poppler-utils")


@pytest.fixture
def held(org, settings, tmp_path):  # noqa: F811
    settings.MEDIA_ROOT = str(tmp_path / "media")
    occ = _occ(org)
    day = _full_record(org, occ)
    att = services.attachment_add(occ, actor=org["sec"], upload=SimpleUploadedFile("签到表.pdf", SIGN_IN, content_type="application/pdf"))
    services.record_submit(occ, actor=org["sec"], held_on=day)
    return {**org, "occ": occ, "att": att, "day": day}


NC_PROOF = b"\x89PNG\r\n\x1a\n" + b"photo of the new sign-in sheet" * 10


def _nc_with_evidence_file(held):
    """A ticket of 第一党支部 implemented with a photo as evidence (through the services)."""
    from audits.capa import services as capa

    admin = factories.user("checker-admin")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=held["c"], valid_from=dt.date(2020, 1, 1))
    nc = capa.nc_raise(actor=admin, unit=held["b"], source="spot_check", grade="minor", clause="DJ-CX-01",
                       requirement="签到表应由本人签名", evidence="3月签到表代签")
    capa.nc_acknowledge(nc, actor=held["sec"])
    capa.nc_analyse(nc, actor=held["sec"], why=["为什么代签"], root_cause="会前未准备签到表")
    capa.nc_plan(nc, actor=held["sec"], correction="重新签到", corrective_action="会前打印签到表", owner=held["m"][1],
                 due_date=TODAY + dt.timedelta(days=7))
    capa.nc_implement(nc, actor=held["sec"], evidence="见照片", done_on=TODAY,
                      uploads=[SimpleUploadedFile("新签到表.png", NC_PROOF, content_type="image/png")])
    return nc


def _run(*cmd) -> str:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=True).stdout


def _bookmarks(pdf: Path) -> list[str]:
    """The PDF outline's titles, read from the (compressed) object streams."""
    import re
    import zlib

    data, plain, pos = pdf.read_bytes(), b"", 0
    header = re.compile(rb"/Length (\d+)\b(?:(?!stream).){0,400}?stream\r?\n", re.S)
    while m := header.search(data, pos):  # each stream's body by its length: a font's bytes may hold "endstream"
        body, pos = data[m.end():m.end() + int(m.group(1))], m.end() + int(m.group(1))
        try:
            plain += zlib.decompress(body)
        except zlib.error:
            continue
    assert b"/Outlines" in plain
    return [bytes.fromhex(h.decode()).decode("utf-16") for h in re.findall(rb"/Title\s*<([0-9a-fA-F]+)>", plain)]


def _build(held, out: Path, start=None, end=None, processes=None):
    return build_pack(held["c"], start or dt.date(TODAY.year - 1, 1, 1), end or TODAY, out_dir=out, generated_by="测试",
                      processes=processes)


def test_pdf_is_pdfa_with_cjk_fonts_contents_and_the_attachment(held, tmp_path):
    _tools()
    r = _build(held, tmp_path / "out")
    pdf = str(r.pdf_path)
    info = _run("pdfinfo", pdf)
    assert int(next(ln for ln in info.splitlines() if ln.startswith("Pages:")).split()[1]) == r.pages
    meta = _run("pdfinfo", "-meta", pdf)
    assert 'pdfaid:part="3"' in meta and 'pdfaid:conformance="B"' in meta
    fonts = [line.split() for line in _run("pdffonts", pdf).splitlines()[2:]]
    assert fonts and all("CJK" in f[0] for f in fonts) and all(f[-5] == "yes" for f in fonts)  # emb column
    text = "".join(_run("pdftotext", pdf, "-").split())
    for s in ("测试党委", "认证证据包", "目录", "学习贯彻党章", "第一党支部", "现行有效文件清单", "如何验证本证据包",
              "DJ-CX-01", "4组织环境:体系范围", "10改进:不符合项与纠正措施台账"):
        assert s in text, s
    toc = "".join(_run("pdftotext", "-f", "2", "-l", "2", pdf, "-").split())
    for title, first in r.chapters:  # the contents list every chapter with its page, and that page holds it
        assert "".join(title.split()) + str(first) in toc, title
        page = "".join(_run("pdftotext", "-f", str(first), "-l", str(first), pdf, "-").split())
        assert "".join(title.split())[:12] in page and f"第{first}页" in page
    bookmarks = _bookmarks(r.pdf_path)
    assert bookmarks[:3] == ["封面", "目录", "4 组织环境:体系范围"]
    assert all(title in bookmarks for title, _ in r.chapters)
    detached = tmp_path / "detached"
    detached.mkdir()
    assert f"{held['att'].record_id}-签到表.pdf" in _run("pdfdetach", "-list", pdf)
    _run("pdfdetach", "-saveall", "-o", str(detached), pdf)
    assert (detached / f"{held['att'].record_id}-签到表.pdf").read_bytes() == SIGN_IN


def test_pages_painted_as_their_chapter_is_laid_out_give_the_same_pdf(held, tmp_path, monkeypatch):
    """Memory (issue 7 §4): each chapter's pages are painted right after its layout and the
    layout freed; the PDF is the one the ordinary path (every layout kept until write_pdf) makes.
    In one process, so that every page is painted here (worker processes: the test below)."""
    _tools()
    from audits.evidence import painted

    assert painted.SUPPORTED, "WeasyPrint's page stream changed: packs would keep every page's layout in memory"
    kinds = []
    real_paint = painted._paint
    monkeypatch.setattr(painted, "_paint", lambda *a: kinds.append(type(r := real_paint(*a)).__name__) or r)
    early = _build(held, tmp_path / "early", processes=1)
    # every page but the ones with charts (SVG groups, ≤ 2) and every chapter page's number strip
    assert kinds.count("PaintedPage") >= 2 * early.pages - 4
    monkeypatch.setattr(painted, "ENABLED", False)
    late = _build(held, tmp_path / "late", processes=1)
    assert early.pages == late.pages and early.chapters == late.chapters
    for pdf in (early.pdf_path, late.pdf_path):
        meta = _run("pdfinfo", "-meta", str(pdf))
        assert 'pdfaid:part="3"' in meta and 'pdfaid:conformance="B"' in meta
    text = [_run("pdftotext", "-layout", "-f", "2", str(r.pdf_path), "-") for r in (early, late)]  # (cover: time)
    assert text[0] == text[1]
    fonts = [[ln.split()[0] + ln.split()[-5] for ln in _run("pdffonts", str(r.pdf_path)).splitlines()[2:]] for r in (early, late)]
    assert fonts[0] == fonts[1] and all("CJK" in f and f.endswith("yes") for f in fonts[0])
    assert _bookmarks(early.pdf_path) == _bookmarks(late.pdf_path)
    assert f"{held['att'].record_id}-签到表.pdf" in _run("pdfdetach", "-list", str(early.pdf_path))


def test_zip_manifest_and_verification(held, tmp_path):
    nc = _nc_with_evidence_file(held)
    r = _build(held, tmp_path / "out")
    with zipfile.ZipFile(r.zip_path) as z:
        manifest = json.loads(z.read("manifest.json"))
        f = manifest["files"][0]
        assert z.read(f["path"]) == SIGN_IN and f["sha256"] == held["att"].sha256 and f["size"] == len(SIGN_IN)
        proof = next(x for x in manifest["files"] if x["obj_type"] == "audits.ncattachment")  # 整改证据 too
        assert proof["path"] == f"nc/{nc.code}/{nc.attachments.get().pk}-新签到表.png" and z.read(proof["path"]) == NC_PROOF
        assert LedgerEntry.objects.get(seq=proof["ledger_seq"]).obj_type == "audits.ncattachment"
        assert z.read("pack.pdf") == r.pdf_path.read_bytes()
    assert manifest["ledger_head"] == {"seq": r.ledger_head[0], "hash": r.ledger_head[1]}
    entry = LedgerEntry.objects.get(seq=f["ledger_seq"])
    assert entry.obj_type == "workflows.attachment" and entry.obj_id == str(held["att"].pk)
    assert verify_pack(r.zip_path) == []

    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(r.zip_path) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == f["path"]:
                data = data[:100] + bytes([data[100] ^ 1]) + data[101:]  # one altered byte
            dst.writestr(item, data)
    problems = verify_pack(tampered)
    assert len(problems) == 1 and f["path"] in problems[0] and "SHA-256" in problems[0]

    out, err = io.StringIO(), io.StringIO()
    call_command("verify_pack", str(r.zip_path), stdout=out, stderr=err)
    assert "校验通过" in out.getvalue()
    with pytest.raises(SystemExit) as exc:
        call_command("verify_pack", str(tampered), stdout=out, stderr=err)
    assert exc.value.code == 1 and f["path"] in err.getvalue()


def test_empty_period_says_so_and_missing_files_are_listed(held, tmp_path):
    _tools()
    long_ago = dt.date(2001, 1, 1)
    r = build_pack(held["c"], long_ago, long_ago + dt.timedelta(days=30), out_dir=tmp_path / "empty", generated_by="测试")
    text = "".join(_run("pdftotext", str(r.pdf_path), "-").split())
    assert text.count("本期间无记录") >= 2 and "本期间无不符合项" in text and "本期间无内部审核" in text
    assert verify_pack(r.zip_path) == []

    Path(held["att"].file.path).unlink()  # the stored file disappears
    r = _build(held, tmp_path / "gone")
    assert r.missing_attachments and "签到表.pdf" in r.missing_attachments[0]
    text = "".join(_run("pdftotext", str(r.pdf_path), "-").split())
    assert "存储中缺失的附件" in text
    with zipfile.ZipFile(r.zip_path) as z:
        assert json.loads(z.read("manifest.json"))["missing"] == r.missing_attachments


def test_command_line(held, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    call_command("evidence_pack", "--unit", "C", "--from", f"{TODAY.year - 1}-01-01", "--to", TODAY.isoformat(),
                 "--out", str(tmp_path / "cli" / "pack.zip"), stdout=out, stderr=err)
    assert (tmp_path / "cli" / "pack.pdf").exists() and "100%" in err.getvalue() and "SHA-256" in out.getvalue()
    call_command("verify_pack", str(tmp_path / "cli" / "pack.zip"), stdout=out, stderr=err)
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="不存在"):
        call_command("evidence_pack", "--unit", "NOPE", "--from", "2026-01-01", "--to", "2026-02-01", "--out", str(tmp_path))
    with pytest.raises(CommandError, match="不能晚于"):
        call_command("evidence_pack", "--unit", "C", "--from", "2026-03-01", "--to", "2026-02-01", "--out", str(tmp_path))


def test_request_build_download_and_external_links(held, client, django_capture_on_commit_callbacks, settings, monkeypatch):
    settings.QMS_PACK_PROCESSES = 1  # the last step's label then says no more (a real worker with 2: below)
    admin = factories.user("office")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=held["c"], valid_from=dt.date(2020, 1, 1))
    with pytest.raises(NotPermitted, match="您无权申请生成证据包"):
        packs.pack_request(actor=held["sec"], root=held["c"], start=dt.date(TODAY.year, 1, 1), end=TODAY)
    assert not EvidencePack.objects.exists()
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(reverse("pack_list"), {"unit": "C", "start": f"{TODAY.year - 1}-01-01", "end": TODAY.isoformat()})
    pack = EvidencePack.objects.get()
    assert r.status_code == 302 and pack.state == PackState.DONE and pack.percent == 100 and pack.pages > 5
    assert client.get(reverse("pack_progress", args=[pack.pk])).json() == {"state": "done", "percent": 100, "chapter": "完成"}
    assert b"".join(client.get(reverse("pack_download", args=[pack.pk, "pdf"])).streaming_content).startswith(b"%PDF")
    assert packs.verify_stored(pack) == []
    assert set(LedgerEntry.objects.filter(obj_type="audits.evidencepack").values_list("action", flat=True)) == {
        "pack.request", "pack.begin", "pack.finish"}

    with pytest.raises(NotPermitted, match="您无权签发外部审核链接"):
        packs.link_issue(pack, actor=held["sec"], auditor_name="王审核", organisation="某认证中心", expires_on=TODAY)
    with pytest.raises(ValidationError, match="不能早于今天"):
        packs.link_issue(pack, actor=admin, auditor_name="王审核", organisation="某认证中心", expires_on=TODAY - dt.timedelta(days=1))
    client.post(reverse("pack_action", args=[pack.pk, "link"]), {"auditor_name": "王审核", "organisation": "某认证中心",
                                                                 "expires_on": (TODAY + dt.timedelta(days=10)).isoformat()})
    url = client.get(reverse("pack_detail", args=[pack.pk])).context["token"]
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert client.get(reverse("pack_detail", args=[pack.pk])).context["token"] is None  # shown once
    client.logout()
    page = client.get(f"/external/{token}/")
    assert page.status_code == 200 and "王审核" in page.content.decode() and pack.pdf_sha256 in page.content.decode()
    assert b"".join(client.get(f"/external/{token}/pack.zip").streaming_content)[:2] == b"PK"
    assert LedgerEntry.objects.filter(action="pack_link.access").count() == 2
    assert client.get("/external/not-a-token/").status_code == 404

    link = pack.links.get()
    with monkeypatch.context() as later:  # the date passes (editing the link's row would be refused as tampering)
        later.setattr(timezone, "localdate", lambda *a, **k: link.expires_on + dt.timedelta(days=1))
        expired = client.get(f"/external/{token}/")
    assert expired.status_code == 410 and "已于" in expired.content.decode() and pack.pdf_sha256 not in expired.content.decode()
    packs.link_revoke(link, actor=admin, reason="审核结束")
    revoked = client.get(f"/external/{token}/pack.pdf")
    assert revoked.status_code == 410 and "已被撤销" in revoked.content.decode()
    assert LedgerEntry.objects.filter(action="pack_link.refused").count() == 2


def test_long_tables_are_laid_out_in_parts_with_the_page_numbers_running_on(held, tmp_path, monkeypatch):
    """Issue 7 §4 (memory bounded by one part, not the longest chapter): with one row per part
    every long table is cut into parts, each laid out on its own; the pack keeps every row,
    its bookmarks, contents and page numbers (page i says 第 i 页, each chapter starts on the
    page the contents give)."""
    import re

    _tools()
    from audits.evidence import builder
    from qms.models import Unit

    laid: list[str] = []
    real = builder._lay_out
    monkeypatch.setattr(builder, "_lay_out", lambda html, *a, **k: laid.append(html) or real(html, *a, **k))
    whole = _build(held, tmp_path / "whole")
    whole_docs, laid[:] = len(laid), []
    monkeypatch.setattr(builder, "PART_ROWS", 1)
    cut = _build(held, tmp_path / "cut")
    assert len(laid) > whole_docs + 3 and cut.pages > whole.pages
    assert all(h.startswith("<!doctype html>") and h.count(builder.BODY_MARK) <= 1 for h in laid)  # each a whole document

    def pages(r) -> list[str]:
        return [_run("pdftotext", "-layout", "-f", str(i), "-l", str(i), str(r.pdf_path), "-") for i in range(1, r.pages + 1)]

    text = {"whole": pages(whole), "cut": pages(cut)}
    for name, r in (("whole", whole), ("cut", cut)):
        assert all(re.search(rf"第\s*{i}\s*页", t) for i, t in enumerate(text[name], start=1)), name
        for title, first in r.chapters:
            assert title.split()[0] in text[name][first - 1], (name, title, first)
    names = Unit.objects.exclude(pk=held["c"].pk).values_list("name", flat=True)
    assert all("".join(text["cut"]).count(n) == "".join(text["whole"]).count(n) > 0 for n in names)
    assert _bookmarks(cut.pdf_path) == _bookmarks(whole.pdf_path)


def test_the_collector_is_tuned_during_layout_and_put_back_even_when_a_chapter_fails(held, tmp_path, monkeypatch):
    """Issue 7 §4: while a pack is laid out the garbage collector's young threshold is raised
    (collections once per chapter instead of dozens per chapter); afterwards, and after a
    failure, the process has its own thresholds again."""
    import gc

    from audits.evidence import builder

    gc.set_threshold(700, 10, 10)
    seen, real = [], builder._parts

    def parts(template, *a, **k):
        seen.append(gc.get_threshold()[0])
        assert gc.get_freeze_count() > 0  # what was alive before the layout is left out of its collections
        if template.endswith("ch_verify.html"):
            raise OSError("排版失败")
        return real(template, *a, **k)

    monkeypatch.setattr(builder, "_parts", parts)
    with pytest.raises(OSError, match="排版失败"):
        _build(held, tmp_path / "failed")
    assert set(seen) == {builder.LAYOUT_GC_THRESHOLD} and gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_a_failed_build_is_recorded_not_silent(held, monkeypatch):
    admin = factories.user("office")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=held["c"], valid_from=dt.date(2020, 1, 1))
    pack = packs.pack_request(actor=admin, root=held["c"], start=TODAY, end=TODAY, enqueue=False)

    def broken(*a, **k):
        raise OSError("磁盘已满")

    monkeypatch.setattr("audits.evidence.builder.build_pack", broken)
    pack = packs.pack_run(pack.pk)
    assert pack.state == PackState.FAILED and "磁盘已满" in pack.error
    assert LedgerEntry.objects.filter(action="pack.fail", obj_id=str(pack.pk)).exists()
    from qms.models import Notification

    assert Notification.objects.filter(user=admin, key=f"pack:{pack.pk}:failed").exists()


@pytest.mark.celery_worker
def test_a_real_worker_builds_a_pack(celery_worker_process, client):
    from procedures.library_loader import load_library

    load_library()
    root = factories.small_tree()["committee"]
    admin = factories.user("office")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=root, valid_from=dt.date(2020, 1, 1))
    pack = packs.pack_request(actor=admin, root=root, start=dt.date(TODAY.year, 1, 1), end=TODAY)  # enqueued on commit
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        pack.refresh_from_db()
        if pack.state in (PackState.DONE, PackState.FAILED):
            break
        time.sleep(0.5)
    assert pack.state == PackState.DONE, pack.error
    assert pack.chapter == "完成(2 个进程排版)"  # the worker's child (a daemon) laid it out with 2 processes
    client.force_login(admin)
    assert "完成(2 个进程排版)" in client.get(reverse("pack_detail", args=[pack.pk])).content.decode()
    assert pack.pdf_sha256 and packs.verify_stored(pack) == []


def test_parts_laid_out_by_worker_processes_give_the_same_pdf(held, tmp_path, monkeypatch):
    """Issue 7 §4 (pages per second): with two worker processes the parts are laid out in
    parallel, unnumbered, and stamped with their page numbers in order; the PDF has the pages,
    text, page numbers, contents, bookmarks, fonts and attachment of the one-process build."""
    import re

    _tools()
    from audits.evidence import builder

    monkeypatch.setattr(builder, "PART_ROWS", 1)  # many parts, so both workers have some
    one = build_pack(held["c"], dt.date(TODAY.year - 1, 1, 1), TODAY, out_dir=tmp_path / "one", generated_by="测试", processes=1)
    two = build_pack(held["c"], dt.date(TODAY.year - 1, 1, 1), TODAY, out_dir=tmp_path / "two", generated_by="测试", processes=2)
    assert (one.layout.processes, one.layout.parts_here) == (1, one.layout.parts)
    assert two.layout.processes == 2 and two.layout.parts == one.layout.parts > 10
    assert two.layout.parts_here < two.layout.parts / 2  # the workers laid out most parts (not the chart pages)
    assert two.pages == one.pages and two.chapters == one.chapters

    def pages(r) -> list[str]:
        return [_run("pdftotext", "-layout", "-f", str(i), "-l", str(i), str(r.pdf_path), "-") for i in range(2, r.pages + 1)]

    text = pages(two)
    assert text == pages(one)
    assert all(re.search(rf"第\s*{i}\s*页", t) and len(re.findall(r"第\s*\d+\s*页", t)) == 1 for i, t in enumerate(text, start=2))
    for title, first in two.chapters:
        assert title.split()[0] in text[first - 2]

    def fonts(r) -> list[str]:
        return sorted(" ".join(ln.split()[:1] + ln.split()[-5:-2]) for ln in _run("pdffonts", str(r.pdf_path)).splitlines()[2:])

    assert fonts(two) == fonts(one) and all("CJK" in f and f.endswith("yes yes yes") for f in fonts(two))
    assert _bookmarks(two.pdf_path) == _bookmarks(one.pdf_path)
    meta = _run("pdfinfo", "-meta", str(two.pdf_path))
    assert 'pdfaid:part="3"' in meta and 'pdfaid:conformance="B"' in meta
    assert f"{held['att'].record_id}-签到表.pdf" in _run("pdfdetach", "-list", str(two.pdf_path))
    assert verify_pack(two.zip_path) == []


def test_a_part_a_worker_cannot_send_back_is_laid_out_by_the_builder(held, tmp_path, monkeypatch):
    """A part whose pages need their layout to be painted, or a font the workers did not start
    with, comes back from the worker as None and is laid out by the builder: same PDF text."""
    _tools()
    from audits.evidence import builder, parts

    monkeypatch.setattr(builder, "PART_ROWS", 1)
    monkeypatch.setattr(parts, "_work", _refusing_the_first_branch)
    two = build_pack(held["c"], dt.date(TODAY.year - 1, 1, 1), TODAY, out_dir=tmp_path / "two", generated_by="测试", processes=2)
    one = build_pack(held["c"], dt.date(TODAY.year - 1, 1, 1), TODAY, out_dir=tmp_path / "one", generated_by="测试", processes=1)
    assert two.layout.processes == 2 and 0 < two.layout.parts_here < two.layout.parts
    assert _run("pdftotext", "-layout", "-f", "2", str(two.pdf_path), "-") == _run("pdftotext", "-layout", "-f", "2", str(one.pdf_path), "-")



_REAL_WORK = evidence_parts._work


def _dying_at_the_ticket_register(html: str):
    """A worker that dies at chapter 10 (the register of nonconformities), late in the pack."""
    if "纠正措施台账" in html:
        os._exit(1)
    return _REAL_WORK(html)


def _stuck_at_the_ticket_register(html: str):
    """A worker that never answers at chapter 10 (stuck on a lock, say)."""
    if "纠正措施台账" in html:
        import time

        time.sleep(3600)
    return _REAL_WORK(html)


def _refusing_the_first_branch(html: str):
    """A worker that sends back every part but those naming 第一党支部 (module level: the pool pickles it by name)."""
    return None if "第一党支部" in html else _REAL_WORK(html)


def test_pack_processes_come_from_the_settings(settings):
    import os

    from audits.evidence.builder import pack_processes

    settings.QMS_PACK_PROCESSES, settings.QMS_PACK_PARALLEL_FROM_BYTES = 3, 1000
    assert (pack_processes(999), pack_processes(1000)) == (1, 3)
    settings.QMS_PACK_PROCESSES = 0
    assert pack_processes(10**9) == min(os.cpu_count() or 1, 4)


def test_when_a_worker_dies_the_builder_lays_out_the_rest(held, tmp_path, monkeypatch):
    """A worker killed mid-pack (out of memory, say) breaks the pool: the parts not yet back
    are laid out by the builder, the PDF is the one-process PDF, and no worker is left."""
    import multiprocessing

    _tools()
    from audits.evidence import builder, parts

    monkeypatch.setattr(builder, "PART_ROWS", 1)
    monkeypatch.setattr(parts, "_work", _dying_at_the_ticket_register)
    two = build_pack(held["c"], dt.date(TODAY.year - 1, 1, 1), TODAY, out_dir=tmp_path / "two", generated_by="测试", processes=2)
    assert multiprocessing.active_children() == []
    one = build_pack(held["c"], dt.date(TODAY.year - 1, 1, 1), TODAY, out_dir=tmp_path / "one", generated_by="测试", processes=1)
    assert two.layout.processes == 2 and 0 < two.layout.parts_here < two.layout.parts
    assert _run("pdftotext", "-layout", "-f", "2", str(two.pdf_path), "-") == _run("pdftotext", "-layout", "-f", "2", str(one.pdf_path), "-")
    assert verify_pack(two.zip_path) == []


def test_when_a_worker_never_answers_the_builder_lays_out_the_rest(held, tmp_path, monkeypatch, settings):
    """A worker stuck on a part (it never answers) costs the part timeout, never the pack: the builder
    lays out the parts not back, ends the workers, and the PDF is the one-process PDF."""
    import multiprocessing

    _tools()
    from audits.evidence import builder, parts

    settings.QMS_PACK_PART_TIMEOUT = 5
    monkeypatch.setattr(builder, "PART_ROWS", 1)
    monkeypatch.setattr(parts, "_work", _stuck_at_the_ticket_register)
    two = build_pack(held["c"], dt.date(TODAY.year - 1, 1, 1), TODAY, out_dir=tmp_path / "two", generated_by="测试", processes=2)
    assert multiprocessing.active_children() == []
    one = build_pack(held["c"], dt.date(TODAY.year - 1, 1, 1), TODAY, out_dir=tmp_path / "one", generated_by="测试", processes=1)
    assert two.layout.processes == 2 and 0 < two.layout.parts_here < two.layout.parts
    assert _run("pdftotext", "-layout", "-f", "2", str(two.pdf_path), "-") == _run("pdftotext", "-layout", "-f", "2", str(one.pdf_path), "-")


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has died; init has not reaped it yet


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_workers_die_with_a_daemon_builder(tmp_path):
    """The builder may be a daemon process (a Celery prefork child is one): it still starts its
    workers, and when it is killed (a time limit) they are killed too, not left waiting."""
    import multiprocessing
    import signal

    from audits.evidence import parts

    def builder():
        def lay_out(html):
            (tmp_path / f"{os.getpid()}.pid").touch()
            time.sleep(600)

        list(parts.lay_out_parts(["一", "二"], lay_out, {}, 2, parts.Layout()))

    proc = multiprocessing.get_context("fork").Process(target=builder, daemon=True)
    proc.start()
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("*.pid"))) < 2 and time.monotonic() < deadline and proc.is_alive():
        time.sleep(0.1)
    workers = [int(f.stem) for f in tmp_path.glob("*.pid")]
    assert len(workers) == 2 and proc.pid not in workers
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)


@pytest.fixture
def built(held, django_capture_on_commit_callbacks, settings):
    """A pack built through the real task (eager), its admin and an external auditor's link."""
    settings.QMS_PACK_PROCESSES = 1
    admin = factories.user("office")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=held["c"], valid_from=dt.date(2020, 1, 1))
    with django_capture_on_commit_callbacks(execute=True):
        pack = packs.pack_request(actor=admin, root=held["c"], start=dt.date(TODAY.year - 1, 1, 1), end=TODAY)
    pack.refresh_from_db()
    assert pack.state == PackState.DONE
    _link, token = packs.link_issue(pack, actor=admin, auditor_name="王审核", organisation="某认证中心",
                                    expires_on=TODAY + dt.timedelta(days=10))
    return {**held, "admin": admin, "pack": pack, "token": token}


def test_only_the_pack_pdf_and_zip_are_served_as_downloads_under_their_own_names(built, client):
    """A pack has two files; any other name in the URL (pack.exe, pack.html …) is a 404, for the
    admin and through an external link alike, and a refused name is no access to the pack (not
    ledgered). Both files come as attachments named after the unit and period, never sniffed."""
    pack, token = built["pack"], built["token"]
    name = f"C-{TODAY.year - 1}0101-{TODAY:%Y%m%d}"
    client.force_login(built["admin"])
    for kind, magic in (("pdf", b"%PDF"), ("zip", b"PK")):
        for url in (f"/audits/packs/{pack.pk}/pack.{kind}", f"/external/{token}/pack.{kind}"):
            r = client.get(url)
            assert r.status_code == 200, url
            assert r["Content-Disposition"] == f'attachment; filename="{name}.{kind}"', url
            assert r["X-Content-Type-Options"] == "nosniff" and r["Content-Type"] == f"application/{kind}"
            assert b"".join(r.streaming_content).startswith(magic)
    accesses = LedgerEntry.objects.filter(action__startswith="pack_link.").count()
    for other in ("exe", "html", "htm", "svg", "PDF", "Zip", "pdf.exe", "zip%00", "js", "txt", "pdf%2Fx"):
        for url in (f"/audits/packs/{pack.pk}/pack.{other}", f"/external/{token}/pack.{other}"):
            r = client.get(url)
            assert r.status_code == 404, url
            assert not r.has_header("Content-Disposition") and not r.content.startswith(b"PK"), url
    assert LedgerEntry.objects.filter(action__startswith="pack_link.").count() == accesses
