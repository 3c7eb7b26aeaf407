"""认证周期 services — register a certificate (its external audits are scheduled from it as dated
obligations), record an external audit as done, enter its findings into the corrective-action
machine (one by one here, from the auditor's Excel in ``findings_import``), and remind the office
of audits coming due. Each call is one transaction with its ledger entries; refusals in Chinese.

The numbers — validity, surveillance interval, recertification lead, window, reminder — are the
organisation's rules (``rules.toml``, overridable per organisation), read at the certified unit.
"""
from __future__ import annotations

import calendar
import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from audits.capa.models import Grade, NCSource, Nonconformity
from audits.capa.services import nc_raise
from audits.certification.models import (
    AuditKind,
    AuditStatus,
    Certificate,
    CertificationAudit,
    ExternalFinding,
)
from qms import ledger
from qms.models import Role, RoleGrant, Unit
from qms.notify import holders, notify
from qms.permissions import act
from qms.rules import rule_value

LEADERS = ("secretary", "deputy_secretary")
#: the grades an external auditor writes (capa's grades; 改进项 is the management review's)
FINDING_GRADES = (Grade.MAJOR, Grade.MINOR, Grade.OBSERVATION)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months (the 31st becomes the month's last day)."""
    m = day.month - 1 + months
    year, month = day.year + m // 12, m % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def latest_expiry(unit: Unit, issued_on: dt.date) -> dt.date:
    """The last day a certificate issued on ``issued_on`` may run (the validity rule)."""
    return add_months(issued_on, 12 * rule_value(unit, "certificate_validity_years")) - dt.timedelta(days=1)


def schedule_of(unit: Unit, issued_on: dt.date, expires_on: dt.date) -> list[tuple[str, int, dt.date, dt.date]]:
    """The external audits a certificate brings: (kind, sequence, due date, window opens) —
    a surveillance audit every ``surveillance_interval_months`` from issue while it falls before
    the recertification, and the recertification ``recertification_lead_days`` before expiry."""
    interval = rule_value(unit, "surveillance_interval_months")
    window = dt.timedelta(days=rule_value(unit, "certification_audit_window_days"))
    recert = expires_on - dt.timedelta(days=rule_value(unit, "recertification_lead_days"))
    out: list[tuple[str, int, dt.date, dt.date]] = []
    previous = issued_on
    k = 1
    while interval > 0:
        due = add_months(issued_on, k * interval)
        if due >= recert:
            break
        out.append((AuditKind.SURVEILLANCE, k, due, max(previous, due - window)))
        previous, k = due, k + 1
    recert = max(recert, issued_on)
    out.append((AuditKind.RECERTIFICATION, 1, recert, max(previous, recert - window)))
    return out


@act("certificate.register", unit=lambda unit, **_: unit)
@transaction.atomic
def certificate_register(*, actor, unit: Unit, body: str, standard: str, scope: str, number: str,
                         issued_on: dt.date, expires_on: dt.date | None = None) -> Certificate:
    """登记认证证书 — the body, standard, scope, number and dates as printed on the certificate;
    without an expiry date the validity rule gives it. Its external audits are scheduled at once."""
    texts = {"认证机构": body, "认证标准": standard, "认证范围": scope, "证书编号": number}
    missing = [label for label, v in texts.items() if not (v or "").strip()]
    if missing:
        raise ValidationError(f"请填写{'、'.join(missing)}")
    if issued_on is None:
        raise ValidationError({"issued_on": "请填写发证日期"})
    if issued_on > timezone.localdate():
        raise ValidationError({"issued_on": "发证日期不能晚于今天"})
    last = latest_expiry(unit, issued_on)
    expires_on = expires_on or last
    if expires_on < issued_on:
        raise ValidationError({"expires_on": "有效期至不能早于发证日期"})
    if expires_on > last:
        years = rule_value(unit, "certificate_validity_years")
        raise ValidationError({"expires_on": f"证书有效期不能超过 {years} 年(发证日期 {issued_on:%Y-%m-%d},"
                                             f"最晚到 {last:%Y-%m-%d})"})
    number = number.strip()
    taken = Certificate.objects.filter(number=number).select_related("unit").first()
    if taken is not None:
        raise ValidationError({"number": f"证书编号“{number}”已被使用({taken.unit.name},{taken.issued_on:%Y-%m-%d} 发证)"})
    cert = Certificate.objects.create(unit=unit, body=body.strip(), standard=standard.strip(), scope=scope.strip(),
                                      number=number, issued_on=issued_on, expires_on=expires_on, registered_by=actor)
    ledger.record("certificate.register", cert, actor=actor)
    audits = [CertificationAudit.objects.create(certificate=cert, kind=kind, sequence=seq, due_on=due, window_opens=opens)
              for kind, seq, due, opens in schedule_of(unit, issued_on, expires_on)]
    ledger.record_many("certification_audit.schedule", audits, actor=actor)
    return cert


@act("certificate.audit_record", unit=lambda audit, **_: audit.certificate.unit)
@transaction.atomic
def audit_record_done(audit: CertificationAudit, *, actor, done_on: dt.date, reference: str) -> CertificationAudit:
    """登记外部审核完成 — the day the audit ended and its report's reference."""
    a = CertificationAudit.objects.select_for_update().select_related("certificate").get(pk=audit.pk)
    if a.done_on:
        raise ValidationError(f"{a.title}已于 {a.done_on:%Y-%m-%d} 登记完成")
    if done_on is None:
        raise ValidationError({"done_on": "请填写审核完成日期"})
    if done_on > timezone.localdate():
        raise ValidationError({"done_on": "完成日期不能晚于今天"})
    if done_on < a.certificate.issued_on:
        raise ValidationError({"done_on": f"完成日期不能早于发证日期({a.certificate.issued_on:%Y-%m-%d})"})
    if not (reference or "").strip():
        raise ValidationError({"reference": "请填写审核报告编号"})
    before = ledger.snapshot(a)
    a.done_on, a.reference, a.recorded_by = done_on, reference.strip(), actor
    a.save()
    ledger.record("certification_audit.done", a, actor=actor, before=before)
    audit.refresh_from_db()
    return a


def finding_checks(audit: CertificationAudit, unit: Unit | None, grade: str, clause: str, requirement: str,
                   evidence: str) -> list[tuple[str, str]]:
    """What is wrong with a finding of ``audit``, as (field, reason) pairs — the one check the
    form and the import share."""
    out: list[tuple[str, str]] = []
    cert = audit.certificate
    if unit is None:
        out.append(("unit", "请选择受审核的党组织"))
    elif not unit.path.startswith(cert.unit.path):
        out.append(("unit", f"“{unit.name}”不在证书覆盖的范围内(获证组织:{cert.unit.name})"))
    if grade not in FINDING_GRADES:
        out.append(("grade", "等级应为严重不符合、一般不符合或观察项"))
    for field, label, v in (("clause", "条款", clause), ("requirement", "要求", requirement), ("evidence", "客观证据", evidence)):
        if not (v or "").strip():
            out.append((field, f"请填写{label}"))
    return out


@act("certificate.finding", unit=lambda audit, **_: audit.certificate.unit)
@transaction.atomic
def finding_raise(audit: CertificationAudit, *, actor, unit: Unit | None, grade: str, clause: str, requirement: str,
                  evidence: str) -> Nonconformity:
    """登记外部审核发现 — a nonconformity of source 外部审核 for the audited unit, linked to the
    external audit it was found in; it then runs through the corrective-action machine."""
    problems = finding_checks(audit, unit, grade, clause, requirement, evidence)
    if problems:
        raise ValidationError({f: why for f, why in problems})
    nc = nc_raise(actor=actor, unit=unit, source=NCSource.EXTERNAL_AUDIT, grade=grade, clause=clause,
                  requirement=requirement, evidence=evidence)
    link = ExternalFinding.objects.create(nonconformity=nc, audit=audit)
    ledger.record("external_finding.link", link, actor=actor)
    return nc


# ------------------------------------------------------------------------------ reminders


def office_of(unit: Unit) -> list:
    """体系办公室: the 体系管理员 whose grant covers ``unit``, and its secretary and deputy."""
    today = timezone.localdate()
    ids = [int(p) for p in unit.path.strip("/").split("/") if p]
    grants = (RoleGrant.objects.filter(role=Role.ADMIN, unit_id__in=ids, valid_from__lte=today)
              .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=today)).select_related("user").order_by("pk"))
    users = {g.user.pk: g.user for g in grants if g.user.is_active}
    for u in holders(unit, LEADERS):
        users.setdefault(u.pk, u)
    return list(users.values())


def notify_due_audits(today: dt.date | None = None) -> int:
    """The office is told, once, when an external audit is ``certification_notice_days`` from its
    date, and once more when it is past its date and still not recorded as done."""
    today = today or timezone.localdate()
    sent = 0
    for a in (CertificationAudit.objects.filter(done_on__isnull=True, certificate__expires_on__gte=today - dt.timedelta(days=366))
              .select_related("certificate__unit")):
        unit = a.certificate.unit
        if a.due_on - dt.timedelta(days=rule_value(unit, "certification_notice_days")) > today:
            continue
        overdue = a.status(today) == AuditStatus.OVERDUE
        key = f"certaudit:{a.pk}:{'overdue' if overdue else 'due'}"
        title = (f"{unit.name}{a.title}已逾期(应于 {a.due_on:%Y-%m-%d} 前完成),请尽快联系认证机构" if overdue
                 else f"{unit.name}{a.title}应于 {a.due_on:%Y-%m-%d} 前完成,请准备迎审")
        for user in office_of(unit):
            sent += notify(user, key=key, title=title, url=reverse("certificate_detail", args=[a.certificate_id]),
                           level="danger" if overdue else "warning")
    return sent
