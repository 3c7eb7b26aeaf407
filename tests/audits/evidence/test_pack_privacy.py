"""The evidence pack goes to the external auditor: no member's 身份证号 or 手机号 in its PDF or
ZIP (个人信息保护法; qms/privacy.py). Units and leaders are named; personal data is not."""
from __future__ import annotations

import zipfile

import pytest

from qms import services as core
from tests.audits.evidence.test_evidence_pack import _build, _run, _tools, held  # noqa: F401  (fixture and helpers)
from tests.test_workflows_records import org  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def test_evidence_pack_carries_no_id_number_or_phone(held, tmp_path):  # noqa: F811
    _tools()
    for i, m in enumerate(held["m"]):
        core.member_update(m, actor=None, reason="补录手机号", phone=f"1391234{i:04d}")
    members = list(held["m"])
    for m in members:
        m.refresh_from_db()
    r = _build(held, tmp_path / "out")
    text = "".join(_run("pdftotext", str(r.pdf_path), "-").split())
    assert "第一党支部" in text and "上级组织委员" in text  # units and leaders are named
    for m in members:
        assert m.id_number not in text and m.id_number[:14] not in text
        assert m.phone not in text
    with zipfile.ZipFile(r.zip_path) as z:
        for name in z.namelist():
            data = z.read(name)
            for m in members:
                assert m.id_number.encode() not in data and m.phone.encode() not in data, name
