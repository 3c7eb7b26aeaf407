"""数据接口令牌的办理 — make, revoke and recognise API tokens.

The only code that changes ``ApiToken``: each act is one transaction with its ledger entry
(``qms.ledger``), declared in the permission matrix (``qms/rules/permissions.toml``, group 数据接口).
The token itself is returned once by ``token_create_*`` and never stored: only its SHA-256.

What a token may see is what its owner may see (``qms.scoping.scopes_for``), narrowed for an
对接令牌 to the subtrees of its units (``narrowed_scopes``); the web pages' scope and the
permission matrix then decide everything else, unchanged.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from api.models import ApiToken, TokenKind
from qms import ledger
from qms.models import Unit
from qms.permissions import act, is_user, require
from qms.rules import rule_value
from qms.scoping import Scope, scopes_for

#: what every token starts with, so a leaked one is recognised by secret scanners and people
PREFIX = "qms_"


@dataclass(frozen=True)
class Issued:
    """A token just made: the row, and the secret shown once."""

    token: ApiToken
    secret: str


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def _home_unit(user) -> Unit | None:
    from qms.models import Member

    m = Member.objects.filter(user_id=getattr(user, "pk", None)).first()
    ms = m.current_membership() if m else None
    return ms.unit if ms else None


def _expiry(unit: Unit | None, expires_on: dt.date | None) -> dt.date:
    """The expiry asked for, within the organisation's rule (api/rules.toml, overridable)."""
    today = timezone.localdate()
    if unit is not None:
        most, default = rule_value(unit, "api_token_max_days"), rule_value(unit, "api_token_default_days")
    else:
        from qms.rules import defaults

        rules = defaults()
        most, default = rules["api_token_max_days"].value, rules["api_token_default_days"].value
    if expires_on is None:
        return today + dt.timedelta(days=default)
    if expires_on <= today:
        raise ValidationError({"expires_on": "有效期应晚于今天"})
    if expires_on > today + dt.timedelta(days=most):
        raise ValidationError({"expires_on": f"有效期最长{most}天(至{today + dt.timedelta(days=most):%Y-%m-%d})"})
    return expires_on


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "请填写令牌名称(例如用在哪个系统)"})
    return name


def _issue(*, actor, owner, kind: str, name: str, units: list[Unit], write: bool, expires_on: dt.date) -> Issued:
    secret = _new_secret()
    token = ApiToken.objects.create(kind=kind, name=name, owner=owner, prefix=secret[len(PREFIX):len(PREFIX) + 8],
                                    digest=digest_of(secret), write=write, created_by=actor, expires_on=expires_on)
    if units:
        token.units.set(units)
    ledger.record("api_token.create", token, actor=actor)
    return Issued(token, secret)


@act("api_token.create_personal", duties=lambda actor, **_: {"self"})
@transaction.atomic
def token_create_personal(*, actor, name: str, write: bool = False, expires_on: dt.date | None = None) -> Issued:
    """个人令牌 — a user's own token; it acts as the user, within the user's scope."""
    return _issue(actor=actor, owner=actor, kind=TokenKind.PERSONAL, name=_clean_name(name), units=[], write=write,
                  expires_on=_expiry(_home_unit(actor), expires_on))


@act("api_token.create_integration", unit=lambda units, **_: units[0] if units else None)
@transaction.atomic
def token_create_integration(*, actor, name: str, units: list[Unit], write: bool = False,
                             expires_on: dt.date | None = None) -> Issued:
    """对接令牌 — for another system, limited to ``units`` (and their subtrees); made by a
    体系管理员 over every one of them, who answers for it (it acts in their name)."""
    if not units:
        raise ValidationError({"units": "请选择对接令牌可以访问的党组织"})
    for u in units[1:]:
        require(actor, "api_token.create_integration", u)
    return _issue(actor=actor, owner=actor, kind=TokenKind.INTEGRATION, name=_clean_name(name), units=list(units),
                  write=write, expires_on=_expiry(units[0], expires_on))


def revoke_unit(token: ApiToken) -> Unit | None:
    first = token.units.order_by("path").first()
    return first or _home_unit(token.owner)


@act("api_token.revoke", unit=lambda token, **_: revoke_unit(token),
     duties=lambda token, actor, **_: {"self"} if is_user(actor, token.owner_id) else set())
@transaction.atomic
def token_revoke(token: ApiToken, *, actor, reason: str) -> ApiToken:
    """吊销 — at once and for good, with the reason; a revoked token is refused from then on."""
    if not (reason or "").strip():
        raise ValidationError({"reason": "吊销令牌必须说明原因"})
    t = ApiToken.objects.select_for_update().get(pk=token.pk)
    if t.revoked_at is not None:
        raise ValidationError("该令牌已吊销")
    before = ledger.snapshot(t)
    t.revoked_at, t.revoked_by, t.revoke_reason = timezone.now(), actor, reason.strip()
    t.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
    ledger.record("api_token.revoke", t, actor=actor, before=before, reason=reason.strip())
    return t


class TokenRefused(Exception):
    """A token that does not open the API, with the stable code and the Chinese reason."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def recognise(secret: str) -> ApiToken:
    """The live token of ``secret``, its last use stamped (at most once a minute), else ``TokenRefused``."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        raise TokenRefused("token_invalid", "令牌无效")
    token = (ApiToken.objects.select_related("owner").prefetch_related("units")
             .filter(digest=digest_of(secret)).first())
    if token is None:
        raise TokenRefused("token_invalid", "令牌无效")
    if token.state == "revoked":
        raise TokenRefused("token_revoked", "令牌已被吊销,请联系体系管理员")
    if token.state == "expired":
        raise TokenRefused("token_expired", f"令牌已于{token.expires_on:%Y-%m-%d}过期,请重新创建")
    if not token.owner.is_active:
        raise TokenRefused("token_owner_inactive", "令牌的责任人账号已停用")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        # a usage stamp, outside the ledgered state (ApiToken.ledger_exclude); a queryset update
        # writes no user text (the limits check is for fields users fill)
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def narrowed_scopes(token: ApiToken) -> list[Scope]:
    """The owner's scopes; for a token limited to units, only the parts inside those subtrees."""
    scopes = scopes_for(token.owner)
    if token.kind != TokenKind.INTEGRATION:
        return scopes
    out: list[Scope] = []
    for u in token.units.all():
        for s in scopes:
            if u.path.startswith(s.path):  # the unit lies inside the scope: the scope, cut to the unit
                out.append(Scope(u.pk, u.name, u.code, u.path, s.level, s.can_manage))
                break
            if s.path.startswith(u.path):  # the scope lies inside the unit: all of it
                out.append(s)
    seen: set[tuple[str, str]] = set()
    return [s for s in out if (s.path, s.level) not in seen and not seen.add((s.path, s.level))]


def visible_tokens(user):
    """The tokens a person may see on 数据接口令牌: their own, and for a 体系管理员 the 对接令牌 of
    the units they administer."""
    from django.db.models import Q

    paths = [s.path for s in scopes_for(user) if s.level == "admin"]
    cond = Q(owner=user)
    for p in paths:
        cond |= Q(kind=TokenKind.INTEGRATION, units__path__startswith=p)
    return ApiToken.objects.filter(cond).distinct().select_related("owner", "created_by").prefetch_related("units")
