"""Corrective-action services (ISO 9001 §10.2): the only code that moves a nonconformity.

Who may do what: the responsible unit's managers acknowledge, analyse, plan and implement;
the person who raised it (an auditor or the level above) verifies and closes — never the
one who implemented it. A due date in the past is refused. Each call is one transaction with
its ledger entry; concurrent verify/reject: one wins.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django_fsm import ConcurrentTransition, TransitionNotAllowed, can_proceed

from audits.capa.models import OPEN_STATES, RECTIFIED_STATES, Grade, NCSource, Nonconformity
from qms import ledger, signatures
from qms.models import Member, SignatureMeaning, Unit
from qms.notify import holders, notify
from qms.permissions import act, is_user
from qms.rules import rule_value
from workflows.models import Occurrence, State

CONFLICT = "该整改单已被他人处理,请刷新页面后重试"
LEADERS = ("secretary", "deputy_secretary")


def _next_code(year: int) -> str:
    prefix = f"NC-{year}-"
    last = Nonconformity.objects.filter(code__startswith=prefix).aggregate(m=Max("code"))["m"]
    n = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{n:04d}"


def nc_duties(actor, nc: Nonconformity) -> set[str]:
    """``raiser`` and ``implementer``: who raised the ticket, who registered its implementation."""
    out = set()
    if is_user(actor, nc.raised_by_id):
        out.add("raiser")
    if is_user(actor, nc.implemented_by_id):
        out.add("implementer")
    return out


def audit_team_duty(actor, audit) -> set[str]:
    """The duties of the internal audit a finding is raised in (``Audit.duties_of``)."""
    return set() if audit is None else audit.duties_of(actor)


@act("nc.raise", unit=lambda unit, **_: unit, duties=lambda actor, audit=None, **_: audit_team_duty(actor, audit))
@transaction.atomic
def nc_raise(*, actor, unit: Unit, source: str, grade: str, clause: str, requirement: str, evidence: str,
             occurrence: Occurrence | None = None, follows: Nonconformity | None = None,
             requires_document=None, audit=None) -> Nonconformity:
    """提出不符合项 — a finding needs its clause and its evidence. Raised by the unit's leaders
    or a 体系管理员, or (``audit``) by the team of an internal audit, as one of its findings."""
    missing = [label for label, v in (("条款", clause), ("要求", requirement), ("客观证据", evidence)) if not (v or "").strip()]
    if missing:
        raise ValidationError(f"不符合项必须写明:{'、'.join(missing)}")
    if source not in NCSource.values:
        raise ValidationError({"source": "请选择来源"})
    if grade not in Grade.values:
        raise ValidationError({"grade": "请选择等级(严重不符合、一般不符合或观察项)"})
    today = timezone.localdate()
    nc = Nonconformity.objects.create(code=_next_code(today.year), unit=unit, source=source, grade=grade, clause=clause.strip(),
                                      requirement=requirement.strip(), evidence=evidence.strip(), occurrence=occurrence,
                                      follows=follows, raised_by=actor, raised_on=today, requires_document=requires_document, audit=audit,
                                      document_baseline=requires_document.effective_version() if requires_document else None)
    ledger.record("nc.raise", nc, actor=actor)
    for user in holders(unit, LEADERS):
        notify(user, key=f"nc:{nc.pk}:raised", title=f"不符合项 {nc.code}:{nc.get_grade_display()},请确认并整改", url=reverse("nc_detail", args=[nc.pk]), level="warning")
    return nc


@act("nc.raise_from_gap", unit=lambda occ, **_: occ.unit)
@transaction.atomic
def nc_raise_from_gap(occ: Occurrence, *, actor) -> Nonconformity:
    """从执行缺口立项 — a missed occurrence (or one whose record stays incomplete)."""
    if occ.state not in (State.MISSED, State.HELD):
        raise ValidationError("只有未开展或记录要素不全的事项可以立项整改")
    if occ.nonconformities.exists():
        raise ValidationError("该事项已立项整改")
    what = "未开展" if occ.state == State.MISSED else "记录要素不全,未通过检查"
    grade = Grade.MAJOR if rule_value(occ.unit, "gap_nonconformity_major") else Grade.MINOR
    return nc_raise(actor=actor, unit=occ.unit, source=NCSource.GAP, grade=grade,
                    clause=f"{occ.obligation.version.document.code}", requirement=f"{occ.obligation.title}:{occ.obligation.frequency_text()}(依据:{occ.obligation.source})",
                    evidence=f"{occ.unit.name} {occ.period_label()} {occ.obligation.title}{what}(截止 {occ.due_date:%Y-%m-%d})", occurrence=occ)


def _move(nc: Nonconformity, method: str, *, actor, reason: str = "", **changes) -> Nonconformity:
    n = Nonconformity.objects.select_for_update().get(pk=nc.pk)
    if n.state != nc.state:
        raise ValidationError(CONFLICT)
    before = ledger.snapshot(n)
    for k, v in changes.items():
        setattr(n, k, v)
    bound = getattr(n, method)
    if not can_proceed(bound):
        raise ValidationError(_refusal(n, method))
    try:
        bound()
        n.save()
    except (ConcurrentTransition, TransitionNotAllowed) as exc:
        raise ValidationError(CONFLICT) from exc
    ledger.record(f"nc.{method}", n, actor=actor, before=before, reason=reason)
    nc.refresh_from_db()
    return n


def _refusal(n: Nonconformity, method: str) -> str:
    if method.startswith("confirm_") and n.effectiveness_due is None:  # not closed yet: no date to wait for
        return f"当前状态“{n.get_state_display()}”不允许评价有效性,应在整改单关闭之后进行"
    return {
        "analyse": "请填写根本原因(可用五问法逐层追问)",
        "plan": "请填写纠正、纠正措施、责任人和整改期限",
        "implement": "请填写整改证据",
        "confirm_effective": f"有效性评价应在 {n.effectiveness_due} 之后进行",
        "confirm_ineffective": f"有效性评价应在 {n.effectiveness_due} 之后进行",
    }.get(method, f"当前状态“{n.get_state_display()}”不允许此操作")


@act("nc.acknowledge", unit=lambda nc, **_: nc.unit, duties=lambda nc, actor, **_: nc_duties(actor, nc))
@transaction.atomic
def nc_acknowledge(nc, *, actor) -> Nonconformity:
    return _move(nc, "acknowledge", actor=actor, acknowledged_by=actor)


@act("nc.analyse", unit=lambda nc, **_: nc.unit, duties=lambda nc, actor, **_: nc_duties(actor, nc))
@transaction.atomic
def nc_analyse(nc, *, actor, why: list[str], root_cause: str) -> Nonconformity:
    """原因分析 — the 5-why chain and the root cause it leads to."""
    chain = [w.strip() for w in why if (w or "").strip()][:5]
    return _move(nc, "analyse", actor=actor, why=chain, root_cause=(root_cause or "").strip())


@act("nc.plan", unit=lambda nc, **_: nc.unit, duties=lambda nc, actor, **_: nc_duties(actor, nc))
@transaction.atomic
def nc_plan(nc, *, actor, correction: str, corrective_action: str, owner: Member, due_date: dt.date) -> Nonconformity:
    if due_date < timezone.localdate():
        raise ValidationError({"due_date": "整改期限不能早于今天"})
    return _move(nc, "plan", actor=actor, correction=(correction or "").strip(), corrective_action=(corrective_action or "").strip(),
                 owner=owner, due_date=due_date)


@act("nc.implement", unit=lambda nc, **_: nc.unit, duties=lambda nc, actor, **_: nc_duties(actor, nc))
@transaction.atomic
def nc_implement(nc, *, actor, evidence: str, done_on: dt.date, uploads=()) -> Nonconformity:
    """实施 — the evidence in words, optionally with files (scanned records, photos); all or nothing:
    every file is checked before anything is stored."""
    from qms import uploads as upload_check

    uploads = [upload_check.check(u) for u in uploads]
    n = _move(nc, "implement", actor=actor, implementation_evidence=(evidence or "").strip(), implemented_by=actor, implemented_on=done_on)
    for upload in uploads:
        nc_attach(n, actor=actor, upload=upload)
    return n


@act("nc.attach", unit=lambda nc, **_: nc.unit, duties=lambda nc, actor, **_: nc_duties(actor, nc))
@transaction.atomic
def nc_attach(nc, *, actor, upload):
    """整改证据附件 — by the auditee while the action is planned or implemented (before verification)."""
    import mimetypes

    from django.core.files.base import ContentFile

    from audits.capa.models import NCAttachment
    from workflows.services import read_upload

    if nc.state not in ("planned", "implemented"):
        raise ValidationError("只有制定措施后、验证前可以上传整改证据")
    name, ext, data, digest = read_upload(upload)
    att = NCAttachment(nonconformity=nc, name=name, content_type=mimetypes.types_map.get(ext, "application/octet-stream"),
                       size=len(data), sha256=digest, uploaded_by=actor)
    att.file.save(f"{digest}{ext}", ContentFile(data), save=False)
    att.save()
    ledger.record("nc.attach", att, actor=actor)
    return att


@act("nc.verify", unit=lambda nc, **_: nc.unit, duties=lambda nc, actor, **_: nc_duties(actor, nc))
@transaction.atomic
def nc_verify(nc, *, actor, note: str, password: str | None = None) -> Nonconformity:
    """验证 — never by the person who registered the implementation; signed electronically
    (the verifier re-enters their password; meaning 验证, over ``signed_ticket``)."""
    if nc.requires_document_id and not _revised_since(nc):
        doc = nc.requires_document
        raise ValidationError(f"该改进要求修订《{doc.title}》({doc.code}):须在 {nc.raised_on:%Y-%m-%d} 之后发布新版本,才能验证")
    pending = signatures.prepare(actor, password, SignatureMeaning.VERIFY)
    n = _move(nc, "verify", actor=actor, verified_by=actor, verification_note=(note or "").strip())
    signatures.attach(pending, n)
    return n


def signed_ticket(nc: Nonconformity) -> dict:
    """What a 验证 or 确认关闭 signature on a ticket covers (电子签名的内容): the finding
    (code, unit, source, grade, clause, requirement, evidence), the cause (五问法, 根本原因), the
    actions (纠正, 纠正措施, owner, due date), the implementation and its evidence, the
    verification note, and each evidence file's name and SHA-256."""
    fields = ("code", "unit_id", "source", "grade", "clause", "requirement", "evidence", "raised_on", "why", "root_cause",
              "correction", "corrective_action", "owner_id", "due_date", "implemented_by_id", "implemented_on",
              "implementation_evidence", "verified_by_id", "verification_note")
    return {**{f: getattr(nc, f) for f in fields},
            "attachments": list(nc.attachments.order_by("pk").values_list("name", "sha256"))}


def _revised_since(nc: Nonconformity) -> bool:
    """持续改进 — a version of the named procedure newer than the one in force when the ticket
    was raised has taken effect."""
    from procedures.models import DocumentVersion, VersionStatus

    newer = DocumentVersion.objects.filter(document_id=nc.requires_document_id, effective_on__gte=nc.raised_on,
                                           status__in=(VersionStatus.EFFECTIVE, VersionStatus.SUPERSEDED))
    if nc.document_baseline_id:
        newer = newer.filter(pk__gt=nc.document_baseline_id)
    return newer.exists()


@act("nc.reject", unit=lambda nc, **_: nc.unit, duties=lambda nc, actor, **_: nc_duties(actor, nc))
@transaction.atomic
def nc_reject(nc, *, actor, reason: str) -> Nonconformity:
    """验证未通过 — back to planning, with the reason."""
    if not (reason or "").strip():
        raise ValidationError("退回必须说明原因")
    return _move(nc, "reject", actor=actor, reason=reason, verification_note=reason.strip(), implementation_evidence="")


@act("nc.close", unit=lambda nc, **_: nc.unit, duties=lambda nc, actor, **_: nc_duties(actor, nc))
@transaction.atomic
def nc_close(nc, *, actor, effectiveness_after_days: int | None = None, password: str | None = None) -> Nonconformity:
    """关闭 — only after verification; schedules the effectiveness review after the organisation's
    ``effectiveness_review_days`` (audits/capa/rules.toml, overridable). Signed electronically
    (password re-entered; meaning 确认)."""
    today = timezone.localdate()
    if effectiveness_after_days is None:
        effectiveness_after_days = rule_value(nc.unit, "effectiveness_review_days")
    pending = signatures.prepare(actor, password, SignatureMeaning.CONFIRM)
    n = _move(nc, "close", actor=actor, closed_on=today, effectiveness_due=today + dt.timedelta(days=effectiveness_after_days))
    signatures.attach(pending, n)
    return n


@act("nc.review_effectiveness", unit=lambda nc, **_: nc.unit, duties=lambda nc, actor, **_: nc_duties(actor, nc))
@transaction.atomic
def nc_review_effectiveness(nc, *, actor, effective: bool, note: str) -> Nonconformity:
    """有效性评价 — not effective raises a new nonconformity linked to this one."""
    if not (note or "").strip():
        raise ValidationError("请填写评价依据")
    n = _move(nc, "confirm_effective" if effective else "confirm_ineffective", actor=actor, effectiveness_note=note.strip())
    if not effective:
        nc_raise(actor=actor, unit=n.unit, source=NCSource.FOLLOW_UP, grade=n.grade, clause=n.clause, requirement=n.requirement,
                 evidence=f"{n.code} 整改后问题再次出现:{note.strip()}", follows=n)
    return n


def escalate_overdue(today: dt.date | None = None) -> int:
    """Overdue tickets are reported to the unit above (once per ticket)."""
    today = today or timezone.localdate()
    sent = 0
    for nc in Nonconformity.objects.filter(state__in=OPEN_STATES, due_date__lt=today).select_related("unit", "unit__parent"):
        if not nc.unit.parent_id:
            continue
        for user in holders(nc.unit.parent, LEADERS):
            sent += notify(user, key=f"nc:{nc.pk}:overdue", level="danger", url=reverse("nc_detail", args=[nc.pk]),
                           title=f"下级组织整改逾期:{nc.code}({nc.unit.name},期限 {nc.due_date:%Y-%m-%d})")
    return sent


# ------------------------------------------------------------------------------ 整改率


@dataclass
class RectificationStats:
    total: int
    rectified: int
    on_time: int
    mean_days: float | None

    @property
    def rate(self) -> float | None:
        return None if not self.total else round(self.rectified / self.total, 4)

    @property
    def on_time_rate(self) -> float | None:
        return None if not self.total else round(self.on_time / self.total, 4)

    @property
    def mean_days_text(self) -> str:
        return close_days_text(self.mean_days)


def _aggregates(only=None) -> dict:
    """整改率 counted by the database: all, rectified, rectified on time, total days to close —
    over the rows of ``only`` (a ``Q``) when given, else over every row."""
    from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum

    done = Q(state__in=RECTIFIED_STATES, closed_on__isnull=False) & (only or Q())
    return {"total": Count("id", filter=only), "rectified": Count("id", filter=done),
            "on_time": Count("id", filter=done & (Q(due_date__isnull=True) | Q(closed_on__lte=F("due_date")))),
            "days": Sum(ExpressionWrapper(F("closed_on") - F("raised_on"), output_field=DurationField()), filter=done)}


def _stats(row: dict) -> RectificationStats:
    days = row["days"]
    mean = round(days.total_seconds() / 86400 / row["rectified"], 1) if row["rectified"] and days is not None else None
    return RectificationStats(row["total"], row["rectified"], row["on_time"], mean)


def close_days_text(mean: float | None) -> str:
    """平均关闭天数 as every page writes it: "0.0 天" when the tickets closed the day they were
    raised (a real figure, not a missing one), "—(无已关闭)" when none has closed yet."""
    return "—(无已关闭)" if mean is None else f"{mean:.1f} 天"


def rectification_of(root: Unit, year: int) -> RectificationStats:
    """整改率 of ``root``'s subtree over the tickets raised in ``year`` — the one figure the home
    page's panel and the management review's inputs both show."""
    return rectification(Nonconformity.objects.filter(unit__path__startswith=root.path, raised_on__year=year))


def rectification(qs) -> RectificationStats:
    """整改率 — rectified share (closed and after), on time (closed by the due date), and mean
    days from raising to closing. Observations (观察项) are not nonconformities and not counted.
    One aggregate query."""
    return _stats(qs.exclude(grade=Grade.OBSERVATION).order_by().aggregate(**_aggregates()))


@dataclass
class RegisterOverview:
    """The problem register's figures from one query: 整改率 over everything listed, the ``n``
    units with the lowest 整改率, how many units have nonconformities, and how many tickets
    are listed (observations included, for the pager)."""

    stats: RectificationStats
    lowest: list[tuple[str, RectificationStats]]
    units_total: int
    listed: int


def register_overview(qs, n: int) -> RegisterOverview:
    """One grouped scan (per responsible unit; observations counted only in ``listed``), with
    window sums over the groups for the totals, sorted and cut by the database — a committee
    with thousands of branches reads thirty rows, not one per unit, and the register page
    needs no separate aggregates for its cards, unit count and pager."""
    from django.db import connection
    from django.db.models import Count, F, Q

    grouped = (qs.order_by().values(u_code=F("unit__code"), u_name=F("unit__name"))
               .annotate(**_aggregates(~Q(grade=Grade.OBSERVATION)), listed=Count("id")))
    empty = RegisterOverview(RectificationStats(0, 0, 0, None), [], 0, 0)
    try:
        sql, params = grouped.query.sql_with_params()
    except EmptyResultSet:  # qs.none(): someone with no unit in scope
        return empty
    with connection.cursor() as c:
        c.execute(
            "SELECT u_code, u_name, total, rectified, on_time, days,"
            " SUM(total) OVER (), SUM(rectified) OVER (), SUM(on_time) OVER (), SUM(days) OVER (),"
            " SUM(CASE WHEN total > 0 THEN 1 ELSE 0 END) OVER (), SUM(listed) OVER ()"
            f" FROM ({sql}) g ORDER BY CASE WHEN total > 0 THEN 0 ELSE 1 END,"
            " CAST(rectified AS REAL) / CASE WHEN total > 0 THEN total ELSE 1 END, u_code LIMIT %s",
            [*params, n],
        )
        rows = c.fetchall()
    if not rows:
        return empty

    def stats(total, rectified, on_time, days) -> RectificationStats:
        if isinstance(days, int | float):  # SQLite sums durations as microseconds
            days = dt.timedelta(microseconds=days)
        return _stats({"total": int(total), "rectified": int(rectified), "on_time": int(on_time), "days": days})

    first = rows[0]
    return RegisterOverview(
        stats=stats(*first[6:10]),
        lowest=[(r[1], stats(*r[2:6])) for r in rows if r[2]],
        units_total=int(first[10]), listed=int(first[11]),
    )
