"""认证证书 and its external audits: the schedule generated from the certificate (rules as data,
overridable per organisation), due / overdue on a controllable clock, the office reminded by the
daily task, the audit recorded as done, and the refusals — each one with its ledger entries."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.exceptions import ValidationError

from audits.certification import services
from audits.certification.models import AuditKind, AuditStatus, Certificate, CertificationAudit
from audits.certification.tasks import notify_certification_audits_task
from qms import ledger
from qms.models import LedgerEntry, Notification, PolicyOverride

D = dt.date


@pytest.fixture
def clock(monkeypatch):
    """Today, as the services and the task see it; tests move it."""
    now = {"day": D(2025, 3, 1)}
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a, **k: now["day"])
    return now


def _register(actor, unit, **kw):
    data = {"body": "中国质量认证中心", "standard": "GB/T 19001-2016 / ISO 9001:2015", "scope": "党委及所属党组织的党建工作",
            "number": "00125Q30001R0M", "issued_on": D(2025, 1, 10), **kw}
    return services.certificate_register(actor=actor, unit=unit, **data)


def test_a_certificate_schedules_two_surveillance_audits_and_the_recertification(tree, admin, clock):
    cert = _register(admin, tree["committee"])
    assert cert.expires_on == D(2028, 1, 9)  # three years, the validity rule
    plan = [(a.kind, a.sequence, a.due_on, a.window_opens) for a in cert.audits.order_by("due_on")]
    assert plan == [
        (AuditKind.SURVEILLANCE, 1, D(2026, 1, 10), D(2025, 10, 12)),
        (AuditKind.SURVEILLANCE, 2, D(2027, 1, 10), D(2026, 10, 12)),
        (AuditKind.RECERTIFICATION, 1, D(2027, 10, 11), D(2027, 7, 13)),
    ]
    actions = list(LedgerEntry.objects.filter(obj_type__in=["audits.certificate", "audits.certificationaudit"])
                   .values_list("action", flat=True))
    assert actions == ["certificate.register"] + ["certification_audit.schedule"] * 3
    assert ledger.verify().ok


def test_the_surveillance_audit_becomes_due_then_overdue_and_the_office_is_told_once(tree, admin, secretary, clock):
    cert = _register(admin, tree["b1"])
    first = cert.audits.get(kind=AuditKind.SURVEILLANCE, sequence=1)
    assert first.status() == AuditStatus.UPCOMING
    assert notify_certification_audits_task.delay().get() == 0

    clock["day"] = D(2025, 12, 10)  # 31 days before: within the window, not yet within the notice
    assert first.status() == AuditStatus.DUE
    assert notify_certification_audits_task.delay().get() == 0

    clock["day"] = D(2025, 12, 11)  # 30 days before its date: the office (体系管理员 and 书记) is told
    assert notify_certification_audits_task.delay().get() == 2
    assert notify_certification_audits_task.delay().get() == 0  # once
    notes = Notification.objects.filter(key=f"certaudit:{first.pk}:due")
    assert {n.user.username for n in notes} == {"adm", "sec1"}
    assert "第1次监督审核应于 2026-01-10 前完成" in notes[0].title

    clock["day"] = D(2026, 1, 11)
    assert first.status() == AuditStatus.OVERDUE
    assert notify_certification_audits_task.delay().get() == 2
    assert Notification.objects.filter(key=f"certaudit:{first.pk}:overdue", level="danger").count() == 2

    services.audit_record_done(first, actor=admin, done_on=D(2026, 1, 11), reference="CQC-2026-018")
    first.refresh_from_db()
    assert first.status() == AuditStatus.DONE
    clock["day"] = D(2026, 1, 12)
    assert notify_certification_audits_task.delay().get() == 0
    assert LedgerEntry.objects.filter(action="certification_audit.done", obj_id=str(first.pk)).count() == 1


def test_the_rules_are_the_organisations_own(tree, admin, clock):
    """A committee whose certification body audits every 6 months, with a 60-day notice."""
    PolicyOverride.objects.create(unit=tree["committee"], key="surveillance_interval_months", value=6, source="认证合同约定")
    cert = _register(admin, tree["b1"], issued_on=D(2025, 1, 1))
    dues = [a.due_on for a in cert.audits.filter(kind=AuditKind.SURVEILLANCE).order_by("sequence")]
    assert dues == [D(2025, 7, 1), D(2026, 1, 1), D(2026, 7, 1), D(2027, 1, 1), D(2027, 7, 1)]


@pytest.mark.parametrize(("kw", "reason"), [
    ({"expires_on": D(2025, 1, 9)}, "有效期至不能早于发证日期"),
    ({"expires_on": D(2028, 6, 1)}, "证书有效期不能超过 3 年"),
    ({"issued_on": D(2025, 4, 1)}, "发证日期不能晚于今天"),
    ({"number": " "}, "请填写证书编号"),
    ({"body": ""}, "请填写认证机构"),
])
def test_refusals_in_chinese_and_nothing_saved(tree, admin, clock, kw, reason):
    head = ledger.head()
    with pytest.raises(ValidationError) as exc:
        _register(admin, tree["committee"], **kw)
    assert reason in ";".join(exc.value.messages)
    assert not Certificate.objects.exists() and not CertificationAudit.objects.exists()
    assert ledger.head() == head


def test_a_number_already_used_is_refused(tree, admin, clock):
    _register(admin, tree["committee"])
    with pytest.raises(ValidationError, match=re.escape("证书编号“00125Q30001R0M”已被使用(测试党委")):
        _register(admin, tree["b1"], issued_on=D(2025, 2, 1))
    assert Certificate.objects.count() == 1


def test_recording_an_audit_refuses_what_cannot_be(tree, admin, clock):
    cert = _register(admin, tree["committee"])
    first = cert.audits.get(kind=AuditKind.SURVEILLANCE, sequence=1)
    for done_on, reference, reason in ((D(2025, 3, 2), "R-1", "完成日期不能晚于今天"),
                                       (D(2025, 1, 9), "R-1", "完成日期不能早于发证日期"),
                                       (D(2025, 2, 20), " ", "请填写审核报告编号")):
        with pytest.raises(ValidationError) as exc:
            services.audit_record_done(first, actor=admin, done_on=done_on, reference=reference)
        assert reason in ";".join(exc.value.messages)
    services.audit_record_done(first, actor=admin, done_on=D(2025, 2, 20), reference="R-1")
    with pytest.raises(ValidationError, match="已于 2025-02-20 登记完成"):
        services.audit_record_done(first, actor=admin, done_on=D(2025, 2, 21), reference="R-2")


def test_a_branch_secretary_cannot_register_the_committees_certificate(tree, secretary, clock):
    from qms.permissions import NotPermitted

    with pytest.raises(NotPermitted):
        _register(secretary, tree["committee"])
    assert _register(secretary, tree["b1"]).unit == tree["b1"]
