"""External-audit findings: one by one, and from the auditor's Excel (upload → preview → confirm,
all or nothing, row errors in Chinese), each a nonconformity of source 外部审核 linked to the
surveillance audit it came from, then in the ordinary corrective-action machine."""
from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audits.capa import services as capa
from audits.capa.models import Grade, NCSource, Nonconformity
from audits.certification import findings_import, services
from audits.certification.models import AuditKind, CertificationAudit, ExternalFinding
from qms import ledger
from tests.imports_support import office_sheet, staged

D = dt.date
HEAD = ["序号", "受审核部门", "不符合等级", "条款", "审核准则", "不符合事实"]


@pytest.fixture
def audit(tree, admin):
    cert = services.certificate_register(actor=admin, unit=tree["committee"], body="中国质量认证中心", standard="ISO 9001:2015",
                                         scope="党建工作", number="CQC-001", issued_on=dt.date.today() - dt.timedelta(days=380))
    return cert.audits.get(kind=AuditKind.SURVEILLANCE, sequence=1)


def test_a_finding_entered_by_hand_is_an_external_nonconformity_of_that_audit(tree, admin, audit):
    nc = services.finding_raise(audit, actor=admin, unit=tree["b1"], grade=Grade.MAJOR, clause="9.2",
                                requirement="按策划的时间间隔进行内部审核", evidence="第一党支部上年度未接受内部审核")
    assert (nc.source, nc.grade, nc.unit, nc.clause) == (NCSource.EXTERNAL_AUDIT, Grade.MAJOR, tree["b1"], "9.2")
    assert ExternalFinding.objects.get(nonconformity=nc).audit == audit
    assert ledger.history(nc).first().action == "nc.raise"
    # the ordinary corrective-action machine takes it from here
    capa.nc_acknowledge(nc, actor=admin)
    assert Nonconformity.objects.get(pk=nc.pk).state == "acknowledged"


@pytest.mark.parametrize(("kw", "reason"), [
    ({"unit": None}, "请选择受审核的党组织"),
    ({"grade": Grade.IMPROVEMENT}, "等级应为严重不符合、一般不符合或观察项"),
    ({"evidence": " "}, "请填写客观证据"),
])
def test_a_finding_by_hand_refused_saves_nothing(tree, admin, audit, kw, reason):
    data = {"unit": tree["b1"], "grade": Grade.MINOR, "clause": "7.5", "requirement": "记录", "evidence": "缺签到表", **kw}
    with pytest.raises(ValidationError) as exc:
        services.finding_raise(audit, actor=admin, **data)
    assert reason in ";".join(exc.value.messages)
    assert not Nonconformity.objects.exists() and not ExternalFinding.objects.exists()


def test_a_finding_outside_the_certified_organisation_is_refused(tree, admin):
    cert = services.certificate_register(actor=admin, unit=tree["b2"], body="认证中心", standard="ISO 9001:2015", scope="支部",
                                         number="CQC-B2", issued_on=dt.date.today())
    with pytest.raises(ValidationError, match="不在证书覆盖的范围内"):
        services.finding_raise(cert.audits.first(), actor=admin, unit=tree["b1"], grade="minor", clause="7.5",
                               requirement="记录", evidence="缺签到表")


def _sheet(rows):
    return office_sheet(rows, HEAD, title="第1次监督审核 不符合项清单", note="审核组长:李审核")


def test_the_auditors_list_imports_all_its_rows(tree, admin, audit):
    data = _sheet([["第一党支部", "严重", "9.2", "按计划实施内部审核", "上年度未接受内部审核"],
                   ["B2", "一般不符合项", "7.5.3", "", "3月支委会记录缺签到表"],
                   ["第一党总支", "观察", "10.3", "持续改进", "整改台账未按月更新"]])
    token, result = staged(findings_import_steps(), data, admin)
    assert result.ok and len(result.to_create) == 3 and not Nonconformity.objects.exists()  # the preview saves nothing
    done = findings_import.confirm_findings(audit, token, actor=admin, seen=result.fingerprint)
    assert done.created == 3
    got = sorted(Nonconformity.objects.values_list("unit__code", "grade", "clause", "source"))
    assert got == [("B1", "major", "9.2", "external_audit"), ("B2", "minor", "7.5.3", "external_audit"),
                   ("G", "observation", "10.3", "external_audit")]
    assert Nonconformity.objects.get(clause="7.5.3").requirement == "标准条款 7.5.3"
    assert audit.findings.count() == 3
    # the same file again: every row already recorded, nothing to import
    token, again = staged(findings_import_steps(), data, admin)
    assert (len(again.to_create), len(again.same)) == (0, 3)


def findings_import_steps():
    """The import's steps for the fixture's audit, as ``tests.imports_support.staged`` calls them."""
    a = CertificationAudit.objects.get(kind=AuditKind.SURVEILLANCE, sequence=1)
    return SimpleNamespace(stage=lambda f, **kw: findings_import.stage_findings(a, f, **kw),
                           preview=lambda t, **kw: findings_import.preview_findings(a, t, **kw))


def test_bad_rows_are_named_in_chinese_and_nothing_is_saved(tree, admin, audit):
    data = _sheet([["第一党支部", "严重", "9.2", "审核", "未审核"],
                   ["第九党支部", "一般", "7.5", "记录", "缺签到表"],
                   ["第二党支部", "很严重", "8.1", "策划", "无计划"],
                   ["第二党支部", "一般", "", "记录", "缺记录"],
                   ["第一党支部", "严重", "9.2", "审核", "未审核"]])
    token, result = staged(findings_import_steps(), data, admin)
    reasons = {(e.row, e.column): e.reason for e in result.errors}
    assert reasons == {
        (4, "受审核部门"): "在“测试党委”范围内找不到党组织“第九党支部”",
        (5, "不符合等级"): "等级“很严重”无法识别,应为严重不符合、一般不符合或观察项",
        (6, "条款"): "请填写条款",
        (7, "不符合事实"): "与第 3 行是同一条审核发现",
    }
    done = findings_import.confirm_findings(audit, token, actor=admin, seen=result.fingerprint)
    assert done.created == 0 and not Nonconformity.objects.exists() and not ExternalFinding.objects.exists()


def test_the_import_pages_upload_preview_confirm(tree, admin, audit, client):
    client.force_login(admin)
    data = _sheet([["第一党支部", "一般", "7.5.3", "记录", "缺签到表"]])
    r = client.post(reverse("cert_findings_import", args=[audit.pk]), {"file": SimpleUploadedFile("清单.xlsx", data)})
    assert r.status_code == 302
    body = client.get(r["Location"]).content.decode()
    assert "登记 <strong>1</strong> 条" in body and not Nonconformity.objects.exists()
    token = re.search(r'name="token" value="([^"]+)"', body)[1]
    seen = re.search(r'name="seen" value="([0-9a-f]+)"', body)[1]
    r = client.post(reverse("cert_findings_confirm", args=[audit.pk]), {"token": token, "seen": seen})
    assert r.status_code == 302 and Nonconformity.objects.get().source == NCSource.EXTERNAL_AUDIT
    page = client.get(r["Location"]).content.decode()
    assert Nonconformity.objects.get().code in page
