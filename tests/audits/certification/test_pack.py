"""The evidence pack cites the certificate, its external audits and the external findings still open
(read back from the PDF with pdftotext); a closed-out finding is no longer listed."""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import pytest

from audits.certification import services
from audits.certification.models import AuditKind
from audits.evidence.builder import build_pack
from tests.conftest import IN_CI


def _text(pdf) -> str:
    if not shutil.which("pdftotext"):
        if IN_CI:
            pytest.fail("CI 必须安装 poppler-utils")
        pytest.skip("需要 poppler-utils")
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return "".join(out.split())


def test_the_pack_mentions_the_certificate_and_the_open_external_findings(tree, admin, tmp_path):
    today = dt.date.today()
    cert = services.certificate_register(actor=admin, unit=tree["committee"], body="中国质量认证中心", standard="ISO 9001:2015",
                                         scope="党委及所属党组织的党建工作", number="00125Q30001R0M",
                                         issued_on=today - dt.timedelta(days=380))
    first = cert.audits.get(kind=AuditKind.SURVEILLANCE, sequence=1)
    services.audit_record_done(first, actor=admin, done_on=today, reference="CQC-2026-018")
    nc = services.finding_raise(first, actor=admin, unit=tree["b1"], grade="minor", clause="7.5.3",
                                requirement="记录应妥善保存", evidence="支委会记录缺签到表")
    r = build_pack(tree["committee"], today - dt.timedelta(days=30), today, out_dir=tmp_path / "out", generated_by="测试")
    assert any(title.startswith("认证证书") for title, _page in r.chapters)
    text = _text(r.pdf_path)
    for s in ("认证证书00125Q30001R0M", "中国质量认证中心", "党委及所属党组织的党建工作", "第1次监督审核", "CQC-2026-018",
              "未关闭的外部审核发现", nc.code, "支委会记录缺签到表"):
        assert s in text, s


def test_a_pack_without_a_certificate_has_no_such_chapter(tree, tmp_path):
    today = dt.date.today()
    r = build_pack(tree["committee"], today - dt.timedelta(days=30), today, out_dir=tmp_path / "out", generated_by="测试")
    assert not any(title.startswith("认证证书") for title, _page in r.chapters)
