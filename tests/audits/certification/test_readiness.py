"""迎审准备: what is missing for the next external audit, each a Chinese sentence with a link —
clauses without evidence since the last external audit, open major findings, overdue tickets,
documents past their periodic review date."""
from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from audits.capa import services as capa
from audits.certification import services
from audits.certification.readiness import readiness
from audits.internal import services as internal
from audits.performance import scoring
from procedures.library_loader import load_library
from procedures.models import DocumentVersion, VersionStatus

D = dt.date


@pytest.fixture
def clock(monkeypatch):
    now = {"day": D(2025, 6, 1)}
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a, **k: now["day"])
    return now


@pytest.fixture
def cert(tree, admin, clock):
    return services.certificate_register(actor=admin, unit=tree["committee"], body="中国质量认证中心", standard="ISO 9001:2015",
                                         scope="党建工作", number="CQC-001", issued_on=D(2025, 1, 10))


def test_the_missing_items_each_as_a_sentence_with_a_link(tree, admin, cert, clock):
    major = capa.nc_raise(actor=admin, unit=tree["b1"], source="external_audit", grade="major", clause="9.2",
                          requirement="内部审核", evidence="未审核")
    late = capa.nc_raise(actor=admin, unit=tree["b2"], source="spot_check", grade="minor", clause="DJ-CX-02",
                         requirement="每月召开支委会", evidence="4月未开")
    capa.nc_acknowledge(late, actor=admin)
    capa.nc_analyse(late, actor=admin, why=["为何"], root_cause="无提醒")
    capa.nc_plan(late, actor=admin, correction="补开", corrective_action="提醒制度", owner=tree["m2"][0], due_date=D(2025, 6, 10))
    assert "ISO 9001 第 7.5 成文信息 条缺少证据:没有现行有效的体系文件。" in [i.text for i in readiness(cert).of("clause")]
    load_library()
    v = DocumentVersion.objects.filter(status=VersionStatus.EFFECTIVE, document__owner__isnull=True).order_by("pk").first()
    DocumentVersion.objects.filter(pk=v.pk).update(next_review_on=D(2025, 6, 20))  # the library version's review comes round
    clock["day"] = D(2025, 7, 1)

    r = readiness(cert)
    clauses = [i.text for i in r.of("clause")]
    assert "ISO 9001 第 5 领导作用与 6 策划 条缺少证据:2025年尚未制定党建目标。" in clauses
    assert "ISO 9001 第 9.2 内部审核 条缺少证据:自 2025-01-10 以来没有开展内部审核。" in clauses
    assert "ISO 9001 第 9.3 管理评审 条缺少证据:自 2025-01-10 以来没有召开管理评审。" in clauses
    assert not any("7.5 成文信息" in t for t in clauses)  # the library is in force
    assert [(i.text, i.url) for i in r.of("major")] == [
        (f"严重不符合项 {major.code}(第一党支部,条款 9.2)尚未整改关闭,当前状态:已提出。", reverse("nc_detail", args=[major.pk]))]
    assert [(i.text, i.url) for i in r.of("overdue")] == [
        (f"整改单 {late.code}(第二党支部)已超过整改期限 2025-06-10,逾期 21 天。", reverse("nc_detail", args=[late.pk]))]
    docs = r.of("document")
    assert len(docs) == 1, docs
    assert f"体系文件 {v.document.code}《{v.document.title}》已过定期评审日期 2025-06-20" in docs[0].text
    assert docs[0].url == reverse("procedure_detail", args=[v.document_id])

    # the evidence comes: objectives set, an internal audit held — those clauses are no longer missing
    scoring.objectives_seed(tree["committee"], 2025, actor=admin)
    internal.audit_plan(actor=admin, year=2025, title="年度内审", root=tree["committee"], units=[tree["b1"]], lead=admin,
                        start=D(2025, 7, 1), end=D(2025, 7, 3))
    clauses = [i.text for i in readiness(cert).of("clause")]
    assert not any("5 领导作用" in t or "9.2 内部审核" in t for t in clauses)
    assert any("9.3 管理评审" in t for t in clauses)


def test_the_page_shows_the_sentences_and_their_links(tree, admin, cert, clock, client):
    major = capa.nc_raise(actor=admin, unit=tree["b1"], source="external_audit", grade="major", clause="9.2",
                          requirement="内部审核", evidence="未审核")
    client.force_login(admin)
    body = client.get(reverse("cert_readiness")).content.decode()
    assert "第1次监督审核,应于 2026-01-10 前完成" in body
    assert f'<a href="{reverse("nc_detail", args=[major.pk])}">严重不符合项 {major.code}' in body
    assert "9.2 内部审核" in body
