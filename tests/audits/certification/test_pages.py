"""The certification pages as their readers see them: no English words or identifiers (the crawl's
rule, ``tests.test_crawl.foreign_words``), the schedule with its statuses, the forms only for those
who may use them, refusals as Chinese messages."""
from __future__ import annotations

import datetime as dt

from django.urls import reverse

from audits.capa.models import Grade
from audits.certification import services
from audits.certification.models import AuditKind
from tests.imports_support import account
from tests.test_crawl import foreign_words


def _cert(tree, admin):
    cert = services.certificate_register(actor=admin, unit=tree["committee"], body="中国质量认证中心",
                                         standard="GB/T 19001-2016 / ISO 9001:2015", scope="党建工作", number="CQC-2025-DJ-0001",
                                         issued_on=dt.date.today() - dt.timedelta(days=400))
    first = cert.audits.get(kind=AuditKind.SURVEILLANCE, sequence=1)
    services.finding_raise(first, actor=admin, unit=tree["b1"], grade=Grade.MINOR, clause="7.5.3", requirement="记录",
                           evidence="缺签到表")
    return cert, first


def test_the_pages_speak_chinese_to_every_reader(tree, admin, client):
    cert, first = _cert(tree, admin)
    admin.first_name = "党委办公室"  # a login without a person is shown by its name, as the demo's are
    admin.save()
    member = account(tree["m1"][1], "dangyuan")
    for who in (admin, member):
        client.force_login(who)
        for url in (reverse("certificate_list"), reverse("certificate_detail", args=[cert.pk]), reverse("cert_readiness"),
                    reverse("cert_findings_import", args=[first.pk])):
            r = client.get(url)
            if who is member and url != reverse("certificate_list") and url != reverse("cert_readiness"):
                assert r.status_code == 404, url  # a 党员 of a branch does not see the committee's certificate
                continue
            assert r.status_code == 200, url
            assert foreign_words(r.content.decode()) == set(), url


def test_the_schedule_shows_the_overdue_audit_and_the_admin_records_it(tree, admin, client):
    cert, first = _cert(tree, admin)
    client.force_login(admin)
    page = client.get(reverse("certificate_detail", args=[cert.pk])).content.decode()
    assert "第1次监督审核" in page and "已逾期" in page and "登记完成" in page and "缺签到表" not in page
    r = client.post(reverse("cert_audit_action", args=[first.pk, "done"]), {"done_on": "", "reference": "R-1"}, follow=True)
    assert "请填写审核完成日期" in r.content.decode()
    r = client.post(reverse("cert_audit_action", args=[first.pk, "done"]),
                    {"done_on": dt.date.today().isoformat(), "reference": "CQC-审-01"}, follow=True)
    body = r.content.decode()
    assert "已登记第1次监督审核完成" in body and "报告编号 CQC-审-01" in body


def test_registering_on_the_page_refuses_in_chinese(tree, admin, client):
    client.force_login(admin)
    data = {"unit": tree["committee"].pk, "body": "认证中心", "standard": "ISO 9001:2015", "scope": "党建", "number": "N-1",
            "issued_on": "2025-01-10", "expires_on": "2024-12-31"}
    body = client.post(reverse("certificate_list"), data).content.decode()
    assert "有效期至不能早于发证日期" in body
    r = client.post(reverse("certificate_list"), {**data, "expires_on": ""})
    assert r.status_code == 302
