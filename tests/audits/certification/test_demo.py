"""The demo step: a certificate whose second surveillance audit is due and an external finding open."""
from __future__ import annotations

from audits.capa.models import OPEN_STATES
from audits.certification.demo import certificate_step
from audits.certification.models import AuditKind, AuditStatus, Certificate, ExternalFinding
from audits.demo import certification_step
from qms import demo, ledger


def test_the_demo_has_a_surveillance_audit_due_and_an_external_finding_open(tree, admin):
    summary = certificate_step(tree["committee"], admin)
    cert = Certificate.objects.get()
    assert cert.audits.get(kind=AuditKind.SURVEILLANCE, sequence=1).status() == AuditStatus.DONE
    assert cert.audits.get(kind=AuditKind.SURVEILLANCE, sequence=2).status() == AuditStatus.DUE
    assert ExternalFinding.objects.filter(nonconformity__state__in=OPEN_STATES).exists()
    assert "第2次监督审核" in summary and "应接受审核" in summary
    assert ledger.verify().ok


def test_the_step_is_registered_with_the_demo():
    assert ("认证周期", certification_step) in demo.STEPS
