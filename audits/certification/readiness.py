"""迎审准备 — what is missing for the next external audit of a certificate, each item a plain
Chinese sentence with a link: ISO 9001 clauses the evidence pack would show without evidence
(the pack's chapters, ``audits/evidence/builder.py``, which sits above this room, over the period since the last external
audit), open major findings, overdue tickets, documents past their periodic review date.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from audits.capa.models import OPEN_STATES, RECTIFIED_STATES, Grade, Nonconformity
from audits.certification.models import Certificate, CertificationAudit
from audits.internal.models import Audit
from audits.performance.models import Objective
from audits.review.models import ManagementReview
from procedures.models import DocumentVersion, VersionStatus
from workflows.models import Occurrence, State

HELD = (State.HELD, State.CHECKED, State.CLOSED)
SECTIONS = (("clause", "标准条款缺少证据"), ("major", "未关闭的严重不符合项"), ("overdue", "逾期未整改"),
            ("document", "过期未评审的体系文件"))


@dataclass(frozen=True)
class Item:
    """One thing missing: its kind (``clause``, ``major``, ``overdue``, ``document``), the sentence, a link."""

    kind: str
    text: str
    url: str


@dataclass
class Readiness:
    certificate: Certificate
    next_audit: CertificationAudit | None
    since: dt.date
    items: list[Item]

    def of(self, kind: str) -> list[Item]:
        return [i for i in self.items if i.kind == kind]

    @property
    def sections(self) -> list[tuple[str, str, list[Item]]]:
        """(kind, heading, items) in the page's order."""
        return [(k, h, self.of(k)) for k, h in SECTIONS]


def _owners(root) -> Q:
    """The documents that apply to ``root``: the library's, its subtree's and the levels above's
    (as the pack's document chapter reads them)."""
    owners = Q(document__owner__isnull=True) | Q(document__owner__path__startswith=root.path)
    for i in range(9, len(root.path), 9):
        owners |= Q(document__owner__path=root.path[:i])
    return owners


def _clauses(root, since: dt.date, today: dt.date) -> list[Item]:
    """The pack's clause chapters with nothing to show since ``since`` (the same data the pack reads)."""
    sub = Q(unit__path__startswith=root.path)
    ancestors = [int(p) for p in root.path.strip("/").split("/")[:-1] if p]
    effective = DocumentVersion.objects.filter(_owners(root), status=VersionStatus.EFFECTIVE).exists()
    checks = [
        ("5 领导作用与 6 策划", f"{today.year}年尚未制定党建目标",
         Objective.objects.filter(root=root, year=today.year).exists(), reverse("objectives")),
        ("7.5 成文信息", "没有现行有效的体系文件", effective, reverse("procedure_register")),
        ("8 运行", f"自 {since:%Y-%m-%d} 以来没有已开展并登记的程序执行记录",
         Occurrence.objects.filter(sub, state__in=HELD, held_on__gte=since, held_on__lte=today).exists(),
         reverse("occurrence_list")),
        ("9.2 内部审核", f"自 {since:%Y-%m-%d} 以来没有开展内部审核",
         Audit.objects.filter(units__path__startswith=root.path, start__gte=since, start__lte=today).exists(),
         reverse("audit_list")),
        ("9.3 管理评审", f"自 {since:%Y-%m-%d} 以来没有召开管理评审",
         ManagementReview.objects.filter(Q(root__path__startswith=root.path) | Q(root__in=ancestors),
                                         held_on__gte=since, held_on__lte=today).exists(), reverse("review_list")),
    ]
    raised = Nonconformity.objects.filter(sub, raised_on__gte=since).exclude(grade=Grade.OBSERVATION)
    if raised.exists():
        checks.append(("10.2 不符合和纠正措施", f"自 {since:%Y-%m-%d} 以来提出的不符合项没有一项整改关闭",
                       raised.filter(state__in=RECTIFIED_STATES).exists(), reverse("nc_register")))
    return [Item("clause", f"ISO 9001 第 {clause} 条缺少证据:{why}。", url) for clause, why, ok, url in checks if not ok]


def readiness(cert: Certificate, *, today: dt.date | None = None) -> Readiness:
    today = today or timezone.localdate()
    root = cert.unit
    audits = list(cert.audits.all())
    next_audit = next((a for a in audits if not a.done_on), None)
    done = [a.done_on for a in audits if a.done_on]
    since = max([cert.issued_on, *done])
    items = _clauses(root, since, today)
    open_ncs = Nonconformity.objects.filter(unit__path__startswith=root.path, state__in=OPEN_STATES).select_related("unit")
    for nc in open_ncs.filter(grade=Grade.MAJOR).order_by("raised_on", "code"):
        items.append(Item("major", f"严重不符合项 {nc.code}({nc.unit.name},条款 {nc.clause})尚未整改关闭,"
                                   f"当前状态:{nc.state_label}。", reverse("nc_detail", args=[nc.pk])))
    for nc in open_ncs.filter(due_date__lt=today).order_by("due_date", "code"):
        items.append(Item("overdue", f"整改单 {nc.code}({nc.unit.name})已超过整改期限 {nc.due_date:%Y-%m-%d},"
                                     f"逾期 {(today - nc.due_date).days} 天。", reverse("nc_detail", args=[nc.pk])))
    for v in (DocumentVersion.objects.filter(_owners(root), status=VersionStatus.EFFECTIVE, next_review_on__lt=today)
              .select_related("document").order_by("next_review_on", "document__code")):
        items.append(Item("document", f"体系文件 {v.document.code}《{v.document.title}》已过定期评审日期 "
                                      f"{v.next_review_on:%Y-%m-%d},请评审并确认是否需要修订。",
                          reverse("procedure_detail", args=[v.document_id])))
    return Readiness(cert, next_audit, since, items)
