"""账号 — logins for the people of the organisation, and what happens to them.

The 体系管理员 and the 书记/委员 create a login for a member they manage (the username is theirs
to choose, the first password is generated and shown once, or typed in), reset a password, and
disable or enable a login. A password chosen by someone else must be changed at the next login
(``Account.must_change_password``; ``qms.security.PasswordChangeMiddleware`` sends the person to
我的账号 until they do). A login is disabled in the same transaction as its member's transfer out,
death or removal (``disable_for_member``, called by ``qms.services``).

Every change writes a ledger entry for the login (obj ``auth.user``) with its state
(``snapshot``: username, whether it may sign in, whether the password must be changed) — never
the password or its hash: the ledger records that a password was set or reset, not what it is.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import CommonPasswordValidator as _Common
from django.contrib.auth.password_validation import MinimumLengthValidator as _MinimumLength
from django.contrib.auth.password_validation import NumericPasswordValidator as _Numeric
from django.contrib.auth.password_validation import UserAttributeSimilarityValidator as _Similar
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from qms import ledger
from qms.models import Account, Member, MemberStatus, Unit
from qms.permissions import NotPermitted, act, is_user, member_unit
from qms.scoping import scopes_for

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+\-]{2,29}$")
#: no 0/O, 1/l/I: the password is read off a screen and typed in
_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PASSWORD_LENGTH = 12


class MinimumLengthValidator(_MinimumLength):
    """Django's minimum length, saying so in Chinese: Django 5.2 changed the English sentence and
    its 简体中文 catalogue still has the old one, so the page would fall back to English."""

    def get_error_message(self) -> str:
        return f"密码太短,至少需要{self.min_length}个字符"

    def get_help_text(self) -> str:
        return f"密码至少需要{self.min_length}个字符"


# 口令复杂度 (GB/T 22239-2019 8.1.4.1 a): Django's other validators, each saying it in plain Chinese
# whatever Django's catalogue says (the password rules are settings.AUTH_PASSWORD_VALIDATORS).


class CommonPasswordValidator(_Common):
    def get_error_message(self) -> str:
        return "这个密码太常见,容易被猜中,请换一个"

    def get_help_text(self) -> str:
        return "不能是常见密码"


class NumericPasswordValidator(_Numeric):
    def get_error_message(self) -> str:
        return "密码不能全是数字"

    def get_help_text(self) -> str:
        return "不能全是数字"


class UserAttributeSimilarityValidator(_Similar):
    def get_error_message(self) -> str:
        return "密码与用户名或姓名太相似,请换一个"

    def get_help_text(self) -> str:
        return "不能与用户名或姓名相似"


def password_rules() -> str:
    """The password rules in force, as one sentence for the password forms."""
    from django.contrib.auth.password_validation import password_validators_help_texts

    return ";".join(password_validators_help_texts()) + "。"


@dataclass(frozen=True)
class Issued:
    """A login and the one-time password to hand to its person (shown once, never stored)."""

    user: Any
    password: str


def generate_password() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(PASSWORD_LENGTH))


def snapshot(user) -> dict[str, Any]:
    """A login's ledgered state. Never the password (nor its hash), nor the last login time."""
    acc = Account.objects.filter(user_id=user.pk).first()
    return {"username": user.get_username(), "is_active": bool(user.is_active),
            "must_change_password": bool(acc and acc.must_change_password)}


def _previous(user) -> dict[str, Any] | None:
    """What the ledger must be told the login was before a change: its snapshot if the ledger
    already knows it (logins made by the demo command or the Django admin were never ledgered)."""
    from qms.models import LedgerEntry

    known = LedgerEntry.objects.filter(obj_type="auth.user", obj_id=str(user.pk)).exists()
    return snapshot(user) if known else None


def _record(action: str, user, *, actor, before, reason: str = "") -> None:
    ledger.record(action, obj_type="auth.user", obj_id=user.pk, before=before, after=snapshot(user),
                  actor=actor, reason=reason)


def _set_must_change(user, value: bool) -> None:
    Account.objects.update_or_create(user=user, defaults={"must_change_password": value})


def _locked(user):
    return get_user_model().objects.select_for_update().get(pk=user.pk)


def login_unit(user=None, **_: Any) -> Unit | None:
    """The unit whose managers manage a login: its member's current unit (None — administrators
    only — for a login of no member, or of a member no longer on any roster)."""
    member = Member.objects.filter(user_id=getattr(user, "pk", None)).first()
    return member_unit(member=member)


def may_touch(manager, user) -> bool:
    """Whether ``manager`` holds at least the powers of ``user``'s login (see below): the pages
    offer 重置密码, 停用 and 启用 only then. A question, not an act: the acts check it again."""
    try:
        _check_not_above(manager, user)
    except NotPermitted:
        return False
    return True


def _check_not_above(actor, user) -> None:
    """Whoever resets, disables or enables a login must hold at least its powers: otherwise a
    branch secretary could reset the password of the committee secretary who is a member of
    their branch (or of the 体系管理员) and sign in as them. Each of the login's scopes beyond
    plain membership must lie within one the actor manages (a 体系管理员 scope within the
    actor's 体系管理员 scope); a superuser's login is a superuser's to touch."""
    if actor is None:
        return
    refusal = NotPermitted("该账号的权限超出您的管理范围,请由上级组织负责人或体系管理员办理")
    if user.is_superuser and not actor.is_superuser:
        raise refusal
    mine = [s for s in scopes_for(actor) if s.can_manage]
    for s in scopes_for(user):
        if s.level == "member":
            continue
        if not any(s.path.startswith(m.path) and (s.level != "admin" or m.level == "admin") for m in mine):
            raise refusal


def _check_password(password: str, user=None) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": list(exc.messages)}) from exc


@act("account.create", unit=member_unit)
@transaction.atomic
def login_create(member: Member, *, actor, username: str, password: str = "") -> Issued:
    """开通账号 — a login for a member, linked to them; the first password must be changed."""
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status != MemberStatus.ACTIVE:
        raise ValidationError(f"{member.name} 不在册,不能开通账号")
    if member.user_id is not None:
        raise ValidationError(f"{member.name} 已有账号")
    username = (username or "").strip()
    if not USERNAME_RE.match(username):
        raise ValidationError({"username": "用户名应为3至30位字母、数字或 _ . @ + -,以字母或数字开头"})
    user_model = get_user_model()
    if user_model.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": f"用户名 {username} 已被使用"})
    password = password or generate_password()
    user = user_model(username=username, first_name=member.name[:150])
    _check_password(password, user)
    user.set_password(password)
    user.save()
    _set_must_change(user, True)
    _record("account.create", user, actor=actor, before=None, reason=member.name)
    before = ledger.snapshot(member)
    member.user = user
    member.save(update_fields=["user"])
    ledger.record("member.update", member, actor=actor, before=before, reason="开通账号")
    return Issued(user, password)


@act("account.reset_password", unit=login_unit)
@transaction.atomic
def password_reset(*, actor, user) -> Issued:
    """重置密码 — a new one-time password, to be changed at the next login. The person's open
    sessions end (Django checks the password hash on every request)."""
    user = _locked(user)
    _check_not_above(actor, user)
    before = _previous(user)
    password = generate_password()
    user.set_password(password)
    user.save(update_fields=["password"])
    _set_must_change(user, True)
    _record("account.reset_password", user, actor=actor, before=before)
    return Issued(user, password)


def _set_active(user, active: bool, *, actor, reason: str, check: bool = True) -> bool:
    user = _locked(user)
    if check:
        _check_not_above(actor, user)
    if user.is_active == active:
        return False
    before = _previous(user)
    user.is_active = active
    user.save(update_fields=["is_active"])
    _record("account.enable" if active else "account.disable", user, actor=actor, before=before, reason=reason)
    return True


@act("account.disable", unit=login_unit)
@transaction.atomic
def login_disable(*, actor, user, reason: str) -> None:
    """停用账号 — the login can no longer sign in; its history and grants stay."""
    if not (reason or "").strip():
        raise ValidationError({"reason": "停用账号必须填写原因"})
    if is_user(actor, user.pk):
        raise ValidationError("不能停用自己的账号")
    if not _set_active(user, False, actor=actor, reason=reason):
        raise ValidationError("该账号已停用")


@act("account.enable", unit=login_unit)
@transaction.atomic
def login_enable(*, actor, user, reason: str) -> None:
    """启用账号 — only for a person still on the roster (or a login of no member)."""
    member = Member.objects.filter(user_id=user.pk).first()
    if member is not None and member.status != MemberStatus.ACTIVE:
        raise ValidationError(f"{member.name} {member.get_status_display()},不能启用其账号")
    if not _set_active(user, True, actor=actor, reason=reason or "启用"):
        raise ValidationError("该账号已是启用状态")


def disable_for_member(member: Member, *, actor, reason: str) -> bool:
    """A member left the roster (转出, 去世, 除名): their login, if any, is disabled in the
    caller's transaction. A step of the caller's act (checked there), not an act of its own."""
    if member.user_id is None:
        return False
    return _set_active(member.user, False, actor=actor, reason=reason, check=False)


def _self(actor=None, **_: Any) -> set[str]:
    return {"self"} if actor is not None else set()


@act("account.change_password", duties=_self)
@transaction.atomic
def password_change(*, actor, new_password: str) -> None:
    """修改本人密码 — the person sets their own password (the old one was checked by the form);
    the flag to change it at the next login is cleared."""
    user = _locked(actor)
    _check_password(new_password, user)
    before = _previous(user)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    _set_must_change(user, False)
    _record("account.change_password", user, actor=actor, before=before)


def must_change_password(user) -> bool:
    return Account.objects.filter(user_id=user.pk, must_change_password=True).exists()
