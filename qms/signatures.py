"""电子签名 — one electronic signature for every act that signs something.

A signature is given by re-entering one's login password at the moment of the act
(``sign``), inside the act's own transaction: a wrong or missing password refuses the whole
act and nothing of it is saved. The signature (``ElectronicSignature``) keeps who signed
(the user and their name as at signing), when (the database clock), what it means
(审核/批准/检查/验证/确认) and ``digest`` — the SHA-256 of the signed object's canonical
content, bound to its identity (model and id).

What is signed is declared per kind of object by the package that owns it: a function
returning the object's canonical content (``register(Model, content)``, from the app's
``ready()``), e.g. a document version's code, label, text and obligations; a record's
elements, attendance and the checksums of its attachments. ``verify`` recomputes every
digest: a signed object changed afterwards, even directly in the database, is named, and
a signature moved to another object no longer matches (its row is ledgered too, so the
ledger names the move as well).

When the product itself reopens what was signed (a version sent back for revision, a
checked record corrected with a reason), the signature is voided (``void``) with the
reason, ledgered; it stays on view as 已失效 and is no longer verified.

Used by: procedures (审核, 批准 a document version), workflows (检查 a record), audits
(验证 and 确认关闭 a corrective action, 确认 an internal audit report, 批准 a management
review). ``manage.py verify_signatures`` (and ``verify_ledger``) report any that no longer hold.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.utils import timezone

from qms import ledger
from qms.models import ElectronicSignature, SignatureMeaning
from qms.people import person

#: What a signing act says without a password (also the label of the field: qms/_sign_password.html).
MISSING_PASSWORD = "请再次输入登录密码以签名"
WRONG_PASSWORD = "登录密码不正确,未签名,本次操作未保存"

Content = Callable[[models.Model], Any]
_CONTENT: dict[str, Content] = {}


class WrongPassword(ValidationError):
    """A signature refused because the password re-entered is missing or not the signer's.

    A ``ValidationError`` so every page shows the plain message; the act's transaction
    rolls back. A page that catches it calls ``refused`` to count a failed login attempt."""

    def __init__(self, message: str = WRONG_PASSWORD):
        super().__init__(message, code="signature_password")


def register(model: type[models.Model], content: Content) -> None:
    """Declare what a signature on ``model`` covers: ``content(obj)`` returns its canonical
    content (JSON-able: dicts, lists, text, numbers, dates)."""
    _CONTENT[ledger.label_of(model)] = content


def registered() -> dict[str, Content]:
    return dict(_CONTENT)


def signer_name(user) -> str:
    """The name kept on a signature: the person's name (``qms.people.person``), never a login
    unless the account has no name at all."""
    return person(user)


def canonical_bytes(label: str, object_id: int, content: Any) -> bytes:
    """What is hashed: the object's identity and its content, as sorted-key compact UTF-8 JSON."""
    body = {"object": label, "id": int(object_id), "content": ledger._jsonable(content)}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def digest_of(obj: models.Model) -> str:
    """SHA-256 of ``obj``'s canonical content bound to its identity."""
    label = ledger.label_of(obj)
    content = _CONTENT.get(label)
    if content is None:
        raise LookupError(f"未声明签名内容的对象类型:{label}")
    return hashlib.sha256(canonical_bytes(label, obj.pk, content(obj))).hexdigest()


def _db_now() -> dt.datetime:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT clock_timestamp()")
            return cursor.fetchone()[0]
    return timezone.now()


_CONFIRMED_KEY = object()


class Confirmed:
    """A password already checked, in this process, for one user: a batch of signatures by
    the same person (the demo's year of records) checks it once. Made only by ``confirm``;
    a page always passes the password as typed."""

    __slots__ = ("user_id",)

    def __init__(self, user_id: int, key: object):
        if key is not _CONFIRMED_KEY:
            raise TypeError("Confirmed is made only by signatures.confirm")
        self.user_id = user_id


def confirm(user, password: str | None) -> Confirmed:
    """Check ``user``'s password once (``WrongPassword`` if wrong) for several signatures."""
    check_password(user, password)
    return Confirmed(user.pk, _CONFIRMED_KEY)


def check_password(user, password: str | Confirmed | None) -> None:
    """Refuse (``WrongPassword``) a missing password or one that is not ``user``'s."""
    if user is None or not getattr(user, "is_authenticated", False):
        raise WrongPassword("签名必须由具名人员操作")
    if isinstance(password, Confirmed):
        if password.user_id != user.pk or not user.is_active:
            raise WrongPassword()
        return
    if not password or not isinstance(password, str):
        raise WrongPassword(MISSING_PASSWORD)
    if not user.is_active or not user.check_password(password):
        raise WrongPassword()


@dataclass(frozen=True)
class Pending:
    """A signature whose password has been checked, not yet attached to its object: the act
    keeps its name and time on its own fields (one time for both) before ``attach``."""

    signer: Any
    signer_name: str
    signed_at: dt.datetime
    meaning: SignatureMeaning


def prepare(user, password: str | Confirmed | None, meaning: str) -> Pending:
    """Check the password and take the signature's time from the database clock."""
    meaning = SignatureMeaning(meaning)
    check_password(user, password)
    return Pending(user, signer_name(user), _db_now(), meaning)


def attach(pending: Pending, obj: models.Model) -> ElectronicSignature:
    """Write the signature on ``obj`` with the digest of what it holds now, and ledger it.
    Must run inside the act's transaction, after the act's own changes are saved."""
    if not connection.in_atomic_block:
        raise ledger.LedgerError("电子签名必须在操作的事务内进行")
    sig = ElectronicSignature.objects.create(
        signer=pending.signer, signer_name=pending.signer_name, signed_at=pending.signed_at, meaning=pending.meaning,
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=True), object_id=obj.pk,
        digest=digest_of(obj),
    )
    ledger.record("signature.sign", sig, actor=pending.signer, reason=f"{pending.meaning.label}:{_name(obj)}")
    return sig


def sign(obj: models.Model, user, password: str | Confirmed | None, meaning: str) -> ElectronicSignature:
    """Sign ``obj`` as ``user`` with ``meaning`` (a ``SignatureMeaning``): the password is
    checked (``WrongPassword`` refuses the whole act), then the signature with the digest of
    what ``obj`` holds now is written and ledgered, in the act's transaction."""
    if not connection.in_atomic_block:
        raise ledger.LedgerError("电子签名必须在操作的事务内进行")
    return attach(prepare(user, password, meaning), obj)


def void(obj: models.Model, meanings: Iterable[str], *, actor, reason: str) -> int:
    """The signatures of ``meanings`` on ``obj`` stop applying (the product reopened what was
    signed); each change is ledgered. Returns how many were voided."""
    n = 0
    for sig in ElectronicSignature.objects.select_for_update().filter(
            content_type=ContentType.objects.get_for_model(obj, for_concrete_model=True), object_id=obj.pk,
            meaning__in=list(meanings), voided_at__isnull=True):
        before = ledger.snapshot(sig)
        sig.voided_at, sig.void_reason = _db_now(), reason[:200]
        sig.save(update_fields=["voided_at", "void_reason"])
        ledger.record("signature.void", sig, actor=actor, before=before, reason=reason)
        n += 1
    return n


def of(obj: models.Model, *, include_void: bool = True) -> list[ElectronicSignature]:
    """The signatures on ``obj``, oldest first."""
    if obj is None or obj.pk is None:
        return []
    qs = ElectronicSignature.objects.filter(
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=True), object_id=obj.pk)
    if not include_void:
        qs = qs.filter(voided_at__isnull=True)
    return list(qs.order_by("signed_at", "id"))


def latest(obj: models.Model, meaning: str) -> ElectronicSignature | None:
    """The signature in force of ``meaning`` on ``obj`` (the last one not voided)."""
    found = [s for s in of(obj, include_void=False) if s.meaning == meaning]
    return found[-1] if found else None


def text(sig: ElectronicSignature) -> str:
    """How a signature reads on screen and on paper: 张三 · 2026-07-01 10:32 · 批准."""
    return f"{sig.signer_name} · {timezone.localtime(sig.signed_at):%Y-%m-%d %H:%M} · {sig.get_meaning_display()}"


def refused(request, exc: Exception) -> None:
    """After a refused signature (outside the rolled-back transaction): a wrong password
    counts as a failed login attempt wherever login failures are counted (the
    ``user_login_failed`` signal, which lockout protection listens to)."""
    if isinstance(exc, WrongPassword) and request is not None and request.user.is_authenticated:
        user_login_failed.send(sender=__name__, credentials={"username": request.user.get_username()}, request=request)


def _name(obj: models.Model) -> str:
    return f"{obj._meta.verbose_name}“{obj}”"


@dataclass(frozen=True)
class SignatureProblem:
    """A signature whose digest no longer matches what it signed (or whose object is gone)."""

    signature_id: int
    obj_type: str
    object_id: int
    message: str


def verify(signatures: Iterable[ElectronicSignature] | None = None) -> tuple[int, list[SignatureProblem]]:
    """Recompute the digest of every signature in force; (how many checked, the problems)."""
    if signatures is None:
        signatures = ElectronicSignature.objects.filter(voided_at__isnull=True).select_related("content_type").order_by("id")
    checked, problems = 0, []
    for sig in signatures:
        checked += 1
        model = sig.content_type.model_class()
        label = f"{sig.content_type.app_label}.{sig.content_type.model}"
        who = text(sig)
        if model is None or label not in _CONTENT:
            problems.append(SignatureProblem(sig.pk, label, sig.object_id, f"签名 #{sig.pk}({who})的对象类型无法核对:{label}"))
            continue
        obj = model._default_manager.filter(pk=sig.object_id).first()
        if obj is None:
            problems.append(SignatureProblem(sig.pk, label, sig.object_id,
                                             f"签名 #{sig.pk}({who})所签的{model._meta.verbose_name}(ID {sig.object_id})已不存在"))
            continue
        if digest_of(obj) != sig.digest:
            problems.append(SignatureProblem(
                sig.pk, label, sig.object_id,
                f"签名 #{sig.pk}({who})与所签内容不符:{_name(obj)}(ID {sig.object_id})在签名后被修改,或签名被移到了其他对象"))
    return checked, problems
