"""Hostile uploads (TRUST 4): the one check of every uploaded file (qms/uploads.py) against files an
attacker would try — type by content not by name, polyglots, SVG with script, zip bombs and macros,
``../`` / absolute / NUL / very long names, double extensions, too large, too many — then every
page that accepts a file posted such files: a 4xx with the reason in Chinese and nothing stored
(no file on disk, no row, no ledger entry). Stored files go back only as attachments with
``nosniff`` and a sandboxing CSP. No view reads ``request.FILES`` except through qms/uploads.py."""
from __future__ import annotations

import datetime as dt
import io
import os
import re
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from qms import uploads
from tests.test_limits import MB, docx

TODAY = timezone.localdate()
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + bytes(17) + b"\x00\x00\x00\x00IEND\xaeB`\x82"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(64) + b"\xff\xd9"
SCRIPT = b"<script>alert(document.cookie)</script>"


def _zip(parts: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in parts.items():
            z.writestr(name, body)
    return buf.getvalue()


#: (what, file name, content, words of the refusal)
HOSTILE = [
    ("SVG with script", "logo.svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">' + SCRIPT + b"</svg>", "SVG"),
    ("SVG called .png", "logo.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "SVG"),
    ("web page called .pdf", "通知.pdf", b"<!doctype html><html><body>" + SCRIPT + b"</body></html>", "内容与扩展名不符"),
    ("program called .pdf", "会议记录.pdf", b"MZ\x90\x00\x03" + bytes(60), "内容与扩展名不符"),
    ("PDF header, then HTML", "记录.pdf", PDF + b"<html><body>" + SCRIPT + b"</body></html>", "网页或脚本"),
    ("JPEG with a script in a comment", "照片.jpg", JPEG[:-2] + b"\xff\xfe\x00\x30" + SCRIPT + b"\xff\xd9", "网页或脚本"),
    ("PNG with a ZIP appended", "照片.png", PNG + _zip({"evil.php": b"<?php system($_GET['c']); ?>"}), "压缩包"),
    ("PNG with data after its end", "照片.png", PNG + b"<?php system($_GET['c']); ?>", "图片结束后"),
    ("PDF with JavaScript", "报告.pdf", b"%PDF-1.4\n1 0 obj<</OpenAction<</S/JavaScript/JS(app.alert(1))>>>>endobj\n%%EOF", "脚本"),
    ("a ZIP that is no .docx", "记录.docx", _zip({"readme.txt": b"hello"}), "内容与扩展名不符"),
    ("a .docx with macros", "记录.docx", docx({"word/vbaProject.bin": b"\x00" * 100}), "宏"),
    ("zip bomb (ratio)", "记录.docx", docx({"word/media/zeros.bin": 2 * MB}), "压缩炸弹"),
    ("zip bomb (damaged)", "记录.xlsx", b"PK\x03\x04" + b"\x00" * 200, "文件已损坏"),
    ("double extension .php.jpg", "shell.php.jpg", JPEG, "两个扩展名"),
    ("double extension .pdf.html", "记录.pdf.html", PDF, "两个扩展名"),
    ("extension not allowed", "run.exe", b"MZ\x90\x00", "不允许的文件类型"),
    ("empty", "空.pdf", b"", "文件是空的"),
]


@pytest.mark.parametrize("what, name, data, words", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_the_check_refuses_hostile_files_with_a_chinese_reason(what, name, data, words):
    with pytest.raises(uploads.UploadRefused) as err:
        uploads.check(SimpleUploadedFile(name, data, content_type="application/pdf"))
    message = ";".join(err.value.messages)
    assert words in message and re.search(r"[\u4e00-\u9fff]", message)


def test_too_large_is_refused_before_it_is_read_whole(settings):
    settings.QMS_MAX_UPLOAD_BYTES = 2000
    with pytest.raises(uploads.UploadRefused, match="文件过大"):
        uploads.check(SimpleUploadedFile("大.pdf", PDF + bytes(3000)))


@pytest.mark.parametrize("raw, safe", [
    ("../../etc/cron.d/记录.pdf", "记录.pdf"),
    ("/etc/passwd/记录.pdf", "记录.pdf"),
    ("C:\\Users\\张三\\桌面\\记录.pdf", "记录.pdf"),
    ("..\\..\\记录.pdf", "记录.pdf"),
    ("记\x00录.pdf", "记录.pdf"),
    ("\u202efdp.exe.pdf", None),  # a direction override hiding .exe: refused as a double extension
    ("..pdf", "pdf"),
    ("2026.03.支部大会记录.pdf", "2026.03.支部大会记录.pdf"),
    ("记" * 500 + ".pdf", "记" * 116 + ".pdf"),
])
def test_names_are_made_safe_and_the_stored_name_is_the_digest(raw, safe):
    if safe is None:
        with pytest.raises(uploads.UploadRefused, match="两个扩展名"):
            uploads.check(_named(raw, PDF))
        return
    c = uploads.check(_named(raw, PDF), by_name=safe.endswith(".pdf"))
    assert c.name == safe and len(c.name) <= uploads.NAME_COLUMN
    assert c.stored_name() == f"{c.sha256}.pdf" and "/" not in c.stored_name() and "\x00" not in c.name


def _named(name: str, data: bytes):
    f = SimpleUploadedFile("x.pdf", data)
    f._name = name  # UploadedFile's setter would already cut the path; a raw multipart name is not
    return f


@pytest.mark.parametrize("name, data, kind", [("记录.pdf", PDF, "pdf"), ("照片.PNG", PNG, "png"), ("照片.jpeg", JPEG, "jpeg"),
                                              ("记录.docx", docx(), "docx")])
def test_ordinary_files_pass(name, data, kind):
    c = uploads.check(SimpleUploadedFile(name, data))
    assert c.kind == kind and c.data == data


def test_imports_are_judged_by_content_and_a_page_in_a_table_is_refused():
    assert uploads.check(SimpleUploadedFile("名册.xlsx", "姓名,性别\n张三,男\n".encode()), kinds="imports", by_name=False).kind == "csv"
    for data in (b"<html><body>" + SCRIPT, b"<svg onload='alert(1)'/>", PDF):
        with pytest.raises(uploads.UploadRefused):
            uploads.check(SimpleUploadedFile("名册.csv", data), kinds="imports", by_name=False)


def test_no_view_reads_request_files_but_through_the_one_check():
    root = Path(settings.BASE_DIR)
    offenders = [f"{p.relative_to(root)}:{n}" for package in ("qms", "procedures", "workflows", "audits")
                 for p in (root / package).rglob("*.py") if p != root / "qms" / "uploads.py"
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1) if "request.FILES" in line]
    assert offenders == [], "take uploaded files with qms.uploads.take / take_all / files"


# ------------------------------------------------------------------------------ through the pages


@pytest.fixture
def org(db, settings, tmp_path):
    from audits.campaign import services as camp
    from tests.test_limits import branch_with_secretary
    from workflows import services as wf

    settings.QMS_ROSTER_PENDING_DIR = tmp_path / "pending"
    base = branch_with_secretary(settings, tmp_path / "media")
    c, b1, m1, sec, adm, occ = (base[k] for k in ("c", "b1", "m1", "sec", "adm", "occ"))
    wf.occurrence_plan(occ, actor=sec, planned_date=max(occ.period_start, TODAY - dt.timedelta(days=1)), place="活动室", topic="学习")
    from audits.capa import services as capa
    nc = capa.nc_raise(actor=adm, unit=b1, source="spot_check", grade="minor", clause="DJ-CX-02", requirement="每月", evidence="缺记录")
    capa.nc_acknowledge(nc, actor=sec)
    capa.nc_analyse(nc, actor=sec, why=["为什么"], root_cause="制度缺失")
    capa.nc_plan(nc, actor=sec, correction="补开", corrective_action="建立制度", owner=m1[1], due_date=TODAY + dt.timedelta(days=9))
    campaign = camp.campaign_announce(actor=adm, root=c, title="专项检查", kinds=["branch"], today=TODAY,
                                      deadline=TODAY + dt.timedelta(days=5))
    entry = campaign.units.get(unit=b1)
    return {"c": c, "b1": b1, "m1": m1, "sec": sec, "adm": adm, "occ": occ, "nc": nc, "campaign": campaign, "entry": entry,
            "tmp": tmp_path}


def _paths(org) -> dict:
    """Every page that accepts a file: (who posts, URL, form fields, the file field, evidence or a table)."""
    occ, nc, c, e = org["occ"], org["nc"], org["campaign"], org["entry"]
    scores = {f"s_{i.pk}": str(i.max_score) for i in c.items.all()}
    return {
        "附件": ("sec", reverse("occurrence_action", args=[occ.pk, "attach"]), {}, "file", True),
        "签到表": ("sec", reverse("occurrence_action", args=[occ.pk, "signin"]), {}, "file", True),
        "整改证据": ("sec", reverse("nc_action", args=[nc.pk, "implement"]), {"evidence": "已补开", "done_on": TODAY.isoformat()},
                 "evidence_file", True),
        "自查证据": ("sec", reverse("campaign_entry_action", args=[c.pk, e.pk, "submit"]), {"report": "自查情况", **scores}, "files", True),
        "培训证书": ("adm", reverse("system_competence"), {"member": org["m1"][0].pk, "course": "任前培训", "hours": "8",
                                                      "taken_on": TODAY.isoformat()}, "certificate", True),
        "上级批复": ("adm", reverse("decision_add", args=["B1"]), {"kind": "x", "doc_number": "1号", "date": TODAY.isoformat(),
                                                             "outcome": "approved"}, "upload", True),
        "花名册导入": ("adm", reverse("roster_import"), {}, "file", False),
        "组织架构导入": ("adm", reverse("units_import"), {}, "file", False),
        "任职记录导入": ("adm", reverse("positions_import"), {}, "file", False),
    }


def _stored(org) -> tuple:
    from audits.campaign.models import SelfEvidence
    from audits.capa.models import NCAttachment
    from audits.system.models import TrainingRecord
    from qms.models import HigherDecision, LedgerEntry
    from workflows.models import Attachment

    disk = sorted(str(Path(d) / f) for d, _s, fs in os.walk(org["tmp"]) for f in fs)
    return (disk, LedgerEntry.objects.count(), Attachment.objects.count(), NCAttachment.objects.count(),
            SelfEvidence.objects.count(), TrainingRecord.objects.count(), HigherDecision.objects.count())


#: the hostile files each page is sent (all refused by the check above)
PAGE_FILES = [h for h in HOSTILE if h[0] in ("SVG with script", "PDF header, then HTML", "double extension .php.jpg",
                                             "a .docx with macros", "PNG with a ZIP appended")]


def test_every_upload_page_refuses_hostile_files_and_too_many_files_and_stores_nothing(client, org):
    from django.contrib.messages import get_messages

    tried = held = 0
    for label, (who, url, fields, field, evidence) in _paths(org).items():
        client.force_login(org[who])
        for what, name, data, _words in PAGE_FILES:
            before = _stored(org)
            resp = client.post(url, {**fields, field: SimpleUploadedFile(name, data)})
            tried += 1
            body = resp.content.decode()
            said = body + " ".join(str(m) for m in get_messages(resp.wsgi_request))
            refused = (resp.status_code == 400 and "未保存任何文件" in body) if evidence else \
                      (resp.status_code in (200, 302) and re.search(r"未保存任何数据|已拒绝|不支持|SVG|不符|扩展名", said))
            assert refused, (label, what, resp.status_code, said[-400:])
            assert _stored(org) == before, (label, what)
            held += 1
        # too many files in one post: 400 before anything is read
        before = _stored(org)
        many = [SimpleUploadedFile(f"记录{i}.pdf", PDF) for i in range(int(uploads.rules()["max_files"]) + 1)]
        resp = client.post(url, {**fields, field: many})
        tried += 1
        assert resp.status_code == 400 and "一次最多上传" in resp.content.decode(), (label, resp.status_code)
        assert _stored(org) == before
        held += 1
    assert tried == held == len(_paths(org)) * (len(PAGE_FILES) + 1)
    _a_good_file_is_stored_under_its_digest_and_served_as_a_sandboxed_attachment(client, org)


def _a_good_file_is_stored_under_its_digest_and_served_as_a_sandboxed_attachment(client, org):
    from workflows.models import Attachment

    client.force_login(org["sec"])
    resp = client.post(reverse("occurrence_action", args=[org["occ"].pk, "attach"]),
                       {"file": SimpleUploadedFile("../../会议记录.pdf", PDF, content_type="text/html")})
    assert resp.status_code == 302
    att = Attachment.objects.get()
    assert att.name == "会议记录.pdf" and att.file.name.endswith(f"{att.sha256}.pdf")
    resp = client.get(reverse("attachment_download", args=[att.pk]))
    assert resp.status_code == 200 and resp["Content-Type"] == "application/pdf"
    assert resp["Content-Disposition"].startswith("attachment")
    assert resp["X-Content-Type-Options"] == "nosniff" and resp["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert b"".join(resp.streaming_content) == PDF


def test_every_view_that_returns_a_stored_file_sends_it_as_a_sandboxed_attachment(client, org):
    """上级批复, 附件, 整改证据, 培训证书 and the evidence pack's PDF and ZIP: all through
    ``uploads.serve``; no other module builds a FileResponse."""
    from audits.capa import services as capa
    from audits.evidence.models import EvidencePack
    from audits.system import services as system
    from qms import services as core
    from qms.decision_kinds import decision_kinds
    from workflows import services as wf

    sec, adm = org["sec"], org["adm"]
    att = wf.attachment_add(org["occ"], actor=sec, upload=SimpleUploadedFile("..\\签到表.pdf", PDF, content_type="text/html"))
    nca = capa.nc_attach(org["nc"], actor=sec, upload=SimpleUploadedFile("整改.png", PNG))
    t = system.training_record(actor=adm, unit=org["c"], member=org["m1"][0], course="任前培训", hours="8", taken_on=TODAY,
                               upload=SimpleUploadedFile("证书.jpg", JPEG))
    d = core.decision_record(actor=adm, unit=org["b1"], decided_by_unit=org["c"], kind=next(iter(decision_kinds())),
                             doc_number="1号", date=TODAY, outcome="approved", upload=SimpleUploadedFile("批复.docx", docx()))
    pack = EvidencePack.objects.create(root=org["c"], start=TODAY, end=TODAY, requested_by=adm)
    media = Path(settings.MEDIA_ROOT) / "packs"
    media.mkdir(parents=True, exist_ok=True)
    (media / "p.pdf").write_bytes(PDF)
    (media / "p.zip").write_bytes(_zip({"a.txt": b"x"}))
    EvidencePack.objects.filter(pk=pack.pk).update(state="done", pdf="packs/p.pdf", zip="packs/p.zip")
    cases = [
        ("adm", reverse("decision_file", args=[d.pk]), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("sec", reverse("attachment_download", args=[att.pk]), "application/pdf"),
        ("sec", reverse("nc_attachment", args=[org["nc"].pk, nca.pk]), "image/png"),
        ("adm", reverse("system_certificate", args=[t.pk]), "image/jpeg"),
        ("adm", reverse("pack_download", args=[pack.pk, "pdf"]), "application/pdf"),
        ("adm", reverse("pack_download", args=[pack.pk, "zip"]), "application/zip"),
    ]
    for who, url, mime in cases:
        client.force_login(org[who])
        resp = client.get(url)
        assert resp.status_code == 200, (url, resp.status_code)
        assert resp["Content-Type"] == mime, url
        assert resp["Content-Disposition"].startswith("attachment;"), url
        assert resp["X-Content-Type-Options"] == "nosniff", url
        assert resp["Content-Security-Policy"] == "sandbox; default-src 'none'", url
        b"".join(resp.streaming_content)  # read to the end: the test client closes it (an explicit close()
        # would send request_finished outside the request and close the test's PostgreSQL connection)
    # a file gone from the disk is a 404 page, not a server error
    Path(att.file.path).unlink()
    client.force_login(sec)
    assert client.get(reverse("attachment_download", args=[att.pk])).status_code == 404
    root = Path(settings.BASE_DIR)
    builders = [f"{p.relative_to(root)}:{n}" for package in ("qms", "procedures", "workflows", "audits")
                for p in (root / package).rglob("*.py") if p != root / "qms" / "uploads.py"
                for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1) if "FileResponse(" in line]
    assert builders == [], "send stored files with qms.uploads.serve"
