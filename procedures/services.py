"""Document control services (ISO 9001 §7.5): the only code that changes documents, versions
and obligations. Each call is one transaction with its ledger entries; version moves go
through the FSM transitions on ``DocumentVersion`` with its optimistic lock, so two people
acting on the same version at once get one success and one clear refusal.

Separation of duties (ISO 9001 §7.5.2 c, review and approval): nobody reviews a version they
drafted, and nobody approves a version they drafted or reviewed. These checks run on the
*locked* row, so a caller holding an out-of-date copy cannot slip past them.

Each signing act (审核, 批准) is an electronic signature (``qms.signatures``): the signer
re-enters their password, and the signature keeps the digest of what the version says
(``signed_content``: its code, label, text and obligations). The version's own signer fields
(who, name, time) are copied from that signature in the same transaction, so both say the
same; sending a version back voids its 审核 signature.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition, TransitionNotAllowed, can_proceed

from procedures import flows
from procedures.library_loader import CONTENT_FIELDS, copy_version_content
from procedures.models import (
    Document,
    DocumentKind,
    DocumentVersion,
    Obligation,
    VersionStatus,
    add_months,
    frequency_problems,
)
from qms import ledger, signatures
from qms.models import SignatureMeaning, Unit, UnitKind
from qms.permissions import act, is_user

CONFLICT = "该版本已被他人处理(状态已改变),请刷新页面后重试"


def _locked(version: DocumentVersion) -> DocumentVersion:
    return DocumentVersion.objects.select_for_update().select_related("document").get(pk=version.pk)


def _move(version: DocumentVersion, method: str, *, actor, reason: str = "",
          check: Callable[[DocumentVersion], None] | None = None, **changes: Any) -> DocumentVersion:
    """Run one transition with its field changes and ledger entry, or refuse clearly.

    ``check`` runs on the locked, fresh row (separation of duties is decided there)."""
    v = _locked(version)
    if v.status != version.status:  # someone moved it since the caller loaded it
        raise ValidationError(CONFLICT)
    if check is not None:
        check(v)
    before = ledger.snapshot(v)
    bound = getattr(v, method)
    if not can_proceed(bound):
        raise ValidationError(_refusal(v, method))
    try:
        bound()  # guards see the row as it was; the move's own field changes come after
        for k, val in changes.items():
            setattr(v, k, val)
        v.save()
    except (ConcurrentTransition, TransitionNotAllowed) as exc:
        raise ValidationError(CONFLICT) from exc
    ledger.record(f"document_version.{method}", v, actor=actor, before=before, reason=reason)
    version.refresh_from_db()
    return v


def _refusal(v: DocumentVersion, method: str) -> str:
    if method == "submit" and v.status == VersionStatus.DRAFT:
        return "版本没有内容(What/正文),不能提交审核"
    if method == "approve" and v.status == VersionStatus.UNDER_REVIEW:
        return "该版本尚未审核,不能批准"
    if method == "review" and v.status == VersionStatus.UNDER_REVIEW:
        return "该版本已审核,等待批准"
    if method == "publish" and v.status == VersionStatus.APPROVED:
        return f"尚未到生效日期({v.effective_on:%Y-%m-%d}),不能发布" if v.effective_on else "未设定生效日期"
    return f"当前状态“{v.get_status_display()}”不允许此操作"


@act("version.create", unit=lambda document, **_: document.owner)
@transaction.atomic
def version_create(document: Document, *, actor, label: str, change_reason: str,
                   copy_from: DocumentVersion | None = None) -> DocumentVersion:
    """起草 — a new draft version, by default a copy of the effective one."""
    label = (label or "").strip()
    if not label:
        raise ValidationError({"label": "请填写版本号"})
    if document.versions.filter(label=label).exists():
        raise ValidationError({"label": f"版本号 {label} 已存在"})
    src = copy_from or document.effective_version()
    if src is not None and not (change_reason or "").strip():
        raise ValidationError({"change_reason": "新版本必须说明修订原因"})
    v = DocumentVersion.objects.create(
        document=document, label=label, change_reason=change_reason, drafted_by=actor, drafted_at=timezone.now(),
        **({k: getattr(src, k) for k in CONTENT_FIELDS} if src else {}),
    )
    ledger.record("document_version.create", v, actor=actor, reason=change_reason)
    if src is not None:
        copy_version_content(src, v, actor)
    return v


def _editable(version: DocumentVersion) -> DocumentVersion:
    v = _locked(version)
    if v.status not in (VersionStatus.DRAFT,):
        raise ValidationError(f"“{v.get_status_display()}”的版本不能修改,请新建版本")
    return v


@act("version.update", unit=lambda version, **_: version.document.owner)
@transaction.atomic
def version_update(version: DocumentVersion, *, actor, **changes: Any) -> DocumentVersion:
    """修改草稿 — only drafts can be edited."""
    v = _editable(version)
    allowed = set(CONTENT_FIELDS) | {"change_reason", "label"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"不能修改字段:{', '.join(sorted(unknown))}")
    before = ledger.snapshot(v)
    for k, val in changes.items():
        setattr(v, k, val)
    v.save()
    ledger.record("document_version.update", v, actor=actor, before=before)
    return v


@act("obligation.update", unit=lambda obligation, **_: obligation.version.document.owner)
@transaction.atomic
def obligation_update(obligation: Obligation, *, actor, reason: str, **changes: Any) -> Obligation:
    """修改规定 — on a draft version only (e.g. 支委会 every two months instead of monthly)."""
    _editable(obligation.version)
    if not (reason or "").strip():
        raise ValidationError({"reason": "修改规定必须说明原因(本组织制度依据)"})
    o = Obligation.objects.select_for_update().get(pk=obligation.pk)
    before = ledger.snapshot(o)
    allowed = {"title", "count", "per", "every_months", "before", "preferred_period", "grace_days", "responsible",
               "checker", "checker_level", "description", "source", "applies_to", "requires_committee", "min_full_members",
               "quorum", "attendees", "why", "what", "who", "when", "where", "how"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"不能修改字段:{', '.join(sorted(unknown))}")
    for k, val in changes.items():
        setattr(o, k, val)
    if o.every_months and (o.count or o.per):
        o.count, o.per = None, ""
    if not (o.source or "").strip():
        raise ValidationError({"source": "规定必须注明依据"})
    problems = frequency_problems({k: getattr(o, k) for k in ("count", "per", "every_months", "before",
                                                              "preferred_period", "event")})
    if problems:
        raise ValidationError([f"{k}:{r}" if k else r for k, r in problems])
    if not isinstance(o.applies_to, list) or not o.applies_to or any(k not in UnitKind.values for k in o.applies_to):
        raise ValidationError({"applies_to": "适用组织类别无效"})
    o.full_clean(exclude=["version", "form"], validate_unique=False)
    o.save()
    ledger.record("obligation.update", o, actor=actor, before=before, reason=reason)
    return o


@act("version.submit", unit=lambda version, **_: version.document.owner)
@transaction.atomic
def version_submit(version: DocumentVersion, *, actor) -> DocumentVersion:
    """提交审核 — and open the approval process's review task."""
    v = _move(version, "submit", actor=actor)
    flows.begin(v)
    return v


@act("version.review", unit=lambda version, **_: version.document.owner,
     duties=lambda version, actor, **_: {"author"} if is_user(actor, version.drafted_by_id) else ())
@transaction.atomic
def version_review(version: DocumentVersion, *, actor, comment: str = "", password: str | None = None) -> DocumentVersion:
    """审核 — by a named person other than the drafter; signed electronically (password
    re-entered) with the meaning “审核”."""
    if actor is None:
        raise ValidationError("审核必须由具名人员操作")
    pending = signatures.prepare(actor, password, SignatureMeaning.REVIEW)

    def not_the_drafter(v: DocumentVersion) -> None:
        if v.drafted_by_id is not None and actor.pk == v.drafted_by_id:
            raise ValidationError("起草人不能审核自己起草的版本(职责分离)")

    v = _move(version, "review", actor=actor, reason=comment, check=not_the_drafter,
              **_sign(pending, "审核", role="review"))
    signatures.attach(pending, v)
    flows.complete(v, flows.DocumentApprovalFlow.review, actor)
    return v


@act("version.send_back", unit=lambda version, **_: version.document.owner)
@transaction.atomic
def version_send_back(version: DocumentVersion, *, actor, reason: str) -> DocumentVersion:
    """退回修改 — with the reason; the review is cleared."""
    if not (reason or "").strip():
        raise ValidationError({"reason": "退回必须说明原因"})
    v = _move(version, "send_back", actor=actor, reason=reason, reviewed_by=None, reviewed_at=None,
              reviewer_name="", review_meaning="")
    signatures.void(v, [SignatureMeaning.REVIEW], actor=actor, reason=f"退回修改:{reason.strip()}")
    flows.cancel(v)
    return v


def signer_name(user) -> str:
    """The name shown on a signature (the person's name, never a login)."""
    return signatures.signer_name(user)


def _sign(pending: signatures.Pending, meaning: str, *, role: str = "approve") -> dict[str, Any]:
    """The version's copy of its signature: who (user and name as at signing), when (the
    signature's own time), and what it means (审核 / 批准发布 …)."""
    fields = ("reviewed_by", "reviewed_at", "reviewer_name", "review_meaning") if role == "review" else (
        "approved_by", "approved_at", "approver_name", "approval_meaning")
    return dict(zip(fields, (pending.signer, pending.signed_at, pending.signer_name, meaning), strict=True))


#: an obligation's fields a signature covers, named (a column added later does not change old digests)
SIGNED_OBLIGATION_FIELDS = ("key", "title", "form_id", "applies_to", "requires_committee", "min_full_members", "count", "per",
                            "every_months", "before", "preferred_period", "event", "grace_days", "per_person", "responsible",
                            "checker", "checker_level", "quorum", "attendees", "description", "why", "what", "who", "when",
                            "where", "how", "source")


def signed_content(version: DocumentVersion) -> dict[str, Any]:
    """What a signature on a version covers (电子签名的内容): the document's code and title,
    the version's label and change reason, its text (目的 … 正文) and its obligations."""
    doc = version.document
    obligations = list(Obligation.objects.filter(version_id=version.pk).order_by("pk").values_list(*SIGNED_OBLIGATION_FIELDS))
    return {"document": doc.code, "title": doc.title, "label": version.label, "change_reason": version.change_reason,
            **{k: getattr(version, k) for k in CONTENT_FIELDS}, "obligations": obligations}


@act("version.approve", unit=lambda version, **_: version.document.owner,
     duties=lambda version, actor, **_: ({"author"} if is_user(actor, version.drafted_by_id) else set())
     | ({"reviewer"} if is_user(actor, version.reviewed_by_id) else set()))
@transaction.atomic
def version_approve(version: DocumentVersion, *, actor, effective_on: dt.date, meaning: str = "批准发布",
                    password: str | None = None) -> DocumentVersion:
    """批准 — by someone who neither drafted nor reviewed it; sets the effective date and is
    signed electronically (password re-entered) with the meaning “批准” (the version keeps the
    wording, default “批准发布”)."""
    if actor is None:
        raise ValidationError("批准必须由具名人员操作")
    if not (meaning or "").strip():
        raise ValidationError({"meaning": "请填写签署含义"})
    if effective_on < timezone.localdate():
        raise ValidationError({"effective_on": "生效日期不能早于今天"})
    pending = signatures.prepare(actor, password, SignatureMeaning.APPROVE)

    def neither_drafter_nor_reviewer(v: DocumentVersion) -> None:
        if actor.pk in (v.drafted_by_id, v.reviewed_by_id):
            raise ValidationError("起草人或审核人不能批准同一版本(职责分离)")

    v = _move(version, "approve", actor=actor, effective_on=effective_on, check=neither_drafter_nor_reviewer,
              **_sign(pending, meaning))
    signatures.attach(pending, v)
    flows.complete(v, flows.DocumentApprovalFlow.approve, actor)
    if effective_on <= timezone.localdate():
        v = _publish(v, actor=actor)
    return v


def _publish(version: DocumentVersion, *, actor) -> DocumentVersion:
    current = DocumentVersion.objects.select_for_update().filter(document=version.document, status=VersionStatus.EFFECTIVE).first()
    if current is not None and current.pk != version.pk:
        _move(current, "supersede", actor=actor, reason=f"被 {version.label} 替代")
    start = version.effective_on or timezone.localdate()
    next_review = add_months(start, version.document.review_months)
    return _move(version, "publish", actor=actor, reason="到生效日期发布", next_review_on=next_review)


@act("version.publish", unit=lambda version, **_: version.document.owner)
@transaction.atomic
def version_publish(version: DocumentVersion, *, actor=None) -> DocumentVersion:
    """发布 — an approved version whose effective date has come; supersedes the current one."""
    return _publish(version, actor=actor)


def publish_due() -> int:
    """Daily: publish every approved version whose effective date has come."""
    n = 0
    for v in DocumentVersion.objects.filter(status=VersionStatus.APPROVED, effective_on__lte=timezone.localdate()):
        with transaction.atomic():
            _publish(v, actor=None)
        n += 1
    return n


@act("version.withdraw", unit=lambda version, **_: version.document.owner)
@transaction.atomic
def version_withdraw(version: DocumentVersion, *, actor, reason: str) -> DocumentVersion:
    """作废."""
    if not (reason or "").strip():
        raise ValidationError({"reason": "作废必须说明原因"})
    v = _move(version, "withdraw", actor=actor, reason=reason)
    flows.cancel(v)
    return v


@act("document.adopt", unit=lambda unit, **_: unit)
@transaction.atomic
def document_adopt(library_doc: Document, *, unit: Unit, actor, label: str, change_reason: str) -> DocumentVersion:
    """采用并修订 — a committee issues its own version of a library document (a draft copy of
    the library's effective version), to change what its own 制度 says."""
    if library_doc.owner_id is not None:
        raise ValidationError("只能采用标准文件库中的文件")
    if unit.kind == UnitKind.GROUP:
        raise ValidationError("党小组不能发布体系文件")
    own = Document.objects.filter(owner=unit, based_on=library_doc).first()
    if own is None:
        own = Document.objects.create(code=library_doc.code, title=library_doc.title, kind=library_doc.kind, owner=unit,
                                      based_on=library_doc, library_key=library_doc.library_key,
                                      review_months=library_doc.review_months)
        ledger.record("document.adopt", own, actor=actor, reason=change_reason)
    src = own.effective_version() or library_doc.effective_version()
    return version_create(own, actor=actor, label=label, change_reason=change_reason, copy_from=src)


@act("work_instruction.create", unit=lambda unit, **_: unit)
@transaction.atomic
def work_instruction_create(procedure: Document, *, unit: Unit, actor, code: str, title: str, label: str) -> DocumentVersion:
    """编制作业文件 (seed 004 篇8, the fourth document layer) — a work instruction of ``unit``
    under ``procedure``, its first version a draft; from there it is edited, submitted,
    reviewed, approved and published like every controlled document."""
    code, title = (code or "").strip(), (title or "").strip()
    missing = [name for name, v in (("文件编号", code), ("文件名称", title)) if not v]
    if missing:
        raise ValidationError(f"请填写{'、'.join(missing)}")
    doc = Document(code=code, title=title, kind=DocumentKind.WORK_INSTRUCTION, owner=unit, parent=procedure,
                   review_months=procedure.review_months)
    why = doc.parent_problem()
    if why:
        raise ValidationError({"parent": why})
    if Document.objects.filter(owner=unit, code=code).exists():
        raise ValidationError({"code": f"文件编号 {code} 在{unit.name}已被使用"})
    doc.save()
    ledger.record("document.create", doc, actor=actor)
    return version_create(doc, actor=actor, label=label, change_reason="")
