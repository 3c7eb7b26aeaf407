"""双因素登录 — a code from an authenticator app (TOTP, RFC 6238) after the password (django-otp).

Anyone may set up an authenticator on 我的账号 (``otp_enrol``: a new secret shown once as a QR code
drawn here, by segno, with no network; ``otp_confirm`` with a first code). From then on that
person enters a code after the password at every login. Where ``QMS_OTP_REQUIRED_ROLES`` names
roles (``admin`` 体系管理员, ``auditor`` 内审员 and 外部审核员, ``officer`` 书记/委员), people holding
them must: until they have verified a code in this session they reach only the code page — or,
without an authenticator, the page to set one up (GB/T 22239-2019 8.1.4.1 d, 双因素鉴别; 21 CFR
11.300). Codes are django-otp's: a code is accepted once (a replay within its 30 seconds is
refused: ``last_t``), and each wrong code doubles the wait before the next try (its throttling).

**恢复码** (recovery codes): when the authenticator is confirmed the person receives
``QMS_OTP_RECOVERY_CODES`` one-time codes, shown once; each may be entered instead of a code from
the app at the second step, once. They are kept as django-otp's ``otp_static`` device of the
person, each code stored only as a digest (``_digest``: SHA-256 of the person and the code,
the first 64 bits; a code carries 80 random bits), throttled like the authenticator. New codes
(``otp_recovery_regenerate``, act ``otp.recovery_regenerate``) invalidate the old ones. Each
issue, regeneration and use is ledgered (``otp_static.staticdevice``: owner, name, how many
remain — never a code or digest).

A lost phone: the 体系管理员 removes the authenticator (``otp_reset``, act ``account.otp_reset``,
with a reason) and with it the recovery codes; the person sets up a new one at the next login.
The ledger records each device as ``otp_totp.totpdevice`` with its owner, name and whether it is
confirmed — never the secret.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from qms import ledger
from qms.accounts import _check_not_above, login_unit
from qms.permissions import act
from qms.scoping import scopes_for

#: the session key set at login: this person must verify a code before anything else
NEEDED_KEY = "qms_otp_needed"
DEVICE_NAME = "身份验证器"
RECOVERY_NAME = "恢复码"
#: recovery codes: Crockford's base32 (no I, L, O, U), 16 characters = 80 random bits, typed
#: in groups of four; on entry O is read as 0 and I, L as 1
RECOVERY_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECOVERY_CHARS = 16
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})

#: the words of ``QMS_OTP_REQUIRED_ROLES`` and the scope levels (qms.scoping) each names
ROLE_LEVELS = {
    "admin": {"admin"},
    "auditor": {"internal_auditor", "external_auditor"},
    "internal_auditor": {"internal_auditor"},
    "external_auditor": {"external_auditor"},
    "officer": {"officer"},
}


def required_levels() -> set[str]:
    levels: set[str] = set()
    for word in settings.QMS_OTP_REQUIRED_ROLES:
        if word not in ROLE_LEVELS:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(f"QMS_OTP_REQUIRED_ROLES 中有无法识别的角色:{word}(可用:{'、'.join(ROLE_LEVELS)})")
        levels |= ROLE_LEVELS[word]
    return levels


def required_for(user) -> bool:
    """Whether the roles in force make a second factor compulsory for ``user``."""
    levels = required_levels()
    return bool(levels) and any(s.level in levels for s in scopes_for(user))


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).order_by("pk").first()


def pending_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=False).order_by("pk").first()


def needs_code(user) -> bool:
    """A code after the password: the person has an authenticator, or their role requires one."""
    return confirmed_device(user) is not None or required_for(user)


def note_second_factor(sender, request, user, **kwargs) -> None:
    """On login (``user_logged_in``): remember in the session whether a code is owed, so the
    middleware costs no query on later requests."""
    if needs_code(user):
        request.session[NEEDED_KEY] = True
    else:
        request.session.pop(NEEDED_KEY, None)


def snapshot(device: TOTPDevice) -> dict[str, Any]:
    """A device's ledgered state: never its key."""
    return {"user": device.user_id, "name": device.name, "confirmed": bool(device.confirmed)}


def _self(actor=None, **_: Any) -> set[str]:
    return {"self"} if actor is not None else set()


@act("otp.enrol", duties=_self)
@transaction.atomic
def otp_enrol(*, actor) -> TOTPDevice:
    """设置身份验证器 — a new secret for the person (not yet in use until a code confirms it)."""
    if confirmed_device(actor) is not None:
        raise ValidationError("您已设置身份验证器;如需更换(例如手机丢失),请联系体系管理员先停用原验证器")
    device = pending_device(actor)
    if device is None:
        device = TOTPDevice.objects.create(user=actor, name=DEVICE_NAME, confirmed=False)
        ledger.record("otp.enrol", obj_type="otp_totp.totpdevice", obj_id=device.pk, before=None,
                      after=snapshot(device), actor=actor)
    return device


@act("otp.confirm", duties=_self)
@transaction.atomic
def otp_confirm(*, actor, token: str) -> TOTPDevice:
    """确认身份验证器 — the first code from the app proves it holds the secret; from now on the
    person enters a code at every login. Issues the recovery codes (``device.recovery_codes``)."""
    device = TOTPDevice.objects.select_for_update().filter(user_id=actor.pk, confirmed=False).order_by("pk").first()
    if device is None:
        raise ValidationError("请先设置身份验证器")
    before = snapshot(device)
    if not device.verify_token((token or "").strip()):
        raise ValidationError({"token": _refused(device, "验证码不正确或已过期,请输入验证器上当前显示的6位数字")})
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    ledger.record("otp.confirm", obj_type="otp_totp.totpdevice", obj_id=device.pk, before=before,
                  after=snapshot(device), actor=actor)
    #: the recovery codes, to be shown once (only here: they are stored as digests)
    device.recovery_codes = _issue_recovery_codes(actor, actor=actor, action="otp.recovery_issue")
    return device


# ----------------------------------------------------------------------------- 恢复码


def _normalise(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if not ch.isspace() and ch not in "-_").translate(_READ_AS)


def _digest(user_id: int, code: str) -> str:
    """What is stored of a recovery code: it cannot be read back from this (80 random bits in,
    64 bits kept), and the same code of two people is stored differently."""
    return hashlib.sha256(f"qms-recovery:{user_id}:{_normalise(code)}".encode()).hexdigest()[:16]


def looks_like_recovery_code(token: str) -> bool:
    t = _normalise(token)
    return len(t) == RECOVERY_CHARS and all(ch in RECOVERY_ALPHABET for ch in t)


def recovery_device(user) -> StaticDevice | None:
    return StaticDevice.objects.filter(user_id=user.pk, name=RECOVERY_NAME).order_by("pk").first()


def recovery_remaining(user) -> int:
    """How many unused recovery codes ``user`` has (0 when none were issued)."""
    return StaticToken.objects.filter(device__user_id=user.pk, device__name=RECOVERY_NAME).count()


def recovery_snapshot(device: StaticDevice) -> dict[str, Any]:
    """A recovery-code device's ledgered state: never a code or its digest."""
    return {"user": device.user_id, "name": device.name, "remaining": device.token_set.count()}


def _issue_recovery_codes(user, *, actor, action: str) -> list[str]:
    """New recovery codes for ``user`` (the old ones, if any, no longer work); returned once,
    in groups of four, and stored only as digests. Inside the calling act's transaction."""
    device = StaticDevice.objects.select_for_update().filter(user_id=user.pk, name=RECOVERY_NAME).order_by("pk").first()
    before = recovery_snapshot(device) if device is not None else None
    if device is None:
        device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    device.token_set.all().delete()
    codes: list[str] = []
    while len(codes) < settings.QMS_OTP_RECOVERY_CODES:
        code = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CHARS))
        if code not in codes:
            codes.append(code)
    StaticToken.objects.bulk_create([StaticToken(device=device, token=_digest(user.pk, c)) for c in codes])
    device.throttle_reset(commit=False)
    device.save()
    ledger.record(action, obj_type="otp_static.staticdevice", obj_id=device.pk, before=before,
                  after=recovery_snapshot(device), actor=actor)
    return ["-".join(c[i:i + 4] for i in range(0, RECOVERY_CHARS, 4)) for c in codes]


@act("otp.recovery_regenerate", duties=_self)
@transaction.atomic
def otp_recovery_regenerate(*, actor) -> list[str]:
    """重新生成恢复码 — new one-time codes for the person; every earlier code stops working.
    Returns the codes, to be shown once."""
    if confirmed_device(actor) is None:
        raise ValidationError("请先设置并启用身份验证器,再生成恢复码")
    return _issue_recovery_codes(actor, actor=actor, action="otp.recovery_regenerate")


def _use_recovery_code(user, token: str) -> StaticDevice | str:
    """A recovery code entered at the second step: the device it belongs to (the code is used
    up and the use ledgered) or the reason it was refused."""
    with transaction.atomic():
        device = StaticDevice.objects.select_for_update().filter(user_id=user.pk, name=RECOVERY_NAME).order_by("pk").first()
        if device is None:
            return "恢复码不正确或已使用过"
        if wait := wait_message(device):
            return wait
        match = device.token_set.filter(token=_digest(user.pk, token)).first()
        if match is None:
            device.throttle_increment()
            return _refused(device, "恢复码不正确或已使用过,每个恢复码只能使用一次")
        before = recovery_snapshot(device)
        match.delete()
        device.throttle_reset()
        ledger.record("otp.recovery_use", obj_type="otp_static.staticdevice", obj_id=device.pk, before=before,
                      after=recovery_snapshot(device), actor=user)
        return device


@act("account.otp_reset", unit=login_unit)
@transaction.atomic
def otp_reset(*, actor, user, reason: str) -> int:
    """停用身份验证器 — a manager removes a person's authenticator (the phone was lost) and their
    recovery codes; the person sets up a new one at the next login. Returns how many
    authenticators were removed."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "停用身份验证器必须填写原因"})
    _check_not_above(actor, user)
    devices = list(TOTPDevice.objects.select_for_update().filter(user_id=user.pk).order_by("pk"))
    if not devices:
        raise ValidationError("该账号没有设置身份验证器")
    for device in devices:
        ledger.record("account.otp_reset", obj_type="otp_totp.totpdevice", obj_id=device.pk, before=snapshot(device),
                      after=None, actor=actor, reason=reason)
        device.delete()
    for codes in StaticDevice.objects.select_for_update().filter(user_id=user.pk, name=RECOVERY_NAME).order_by("pk"):
        ledger.record("account.otp_reset", obj_type="otp_static.staticdevice", obj_id=codes.pk,
                      before=recovery_snapshot(codes), after=None, actor=actor, reason=reason)
        codes.delete()  # its codes go with it
    return len(devices)


def wait_message(device: TOTPDevice) -> str:
    """After wrong codes django-otp makes the next try wait (doubling each time): say how long."""
    allowed, data = device.verify_is_allowed()
    if allowed:
        return ""
    from django.utils import timezone

    until = (data or {}).get("locked_until")
    seconds = max(1, int((until - timezone.now()).total_seconds()) + 1) if until else 1
    return f"验证码错误次数过多,请 {seconds} 秒后再试"


def _refused(device: TOTPDevice, why: str) -> str:
    """A wrong code: why, and how long the next try must wait."""
    wait = wait_message(device)
    return f"{why};{wait}" if wait else why


def verify(request, token: str) -> str:
    """Check the code of the person signing in — from the authenticator, or one of their
    recovery codes; on success the session is verified. Returns "" or the reason it was
    refused (in Chinese)."""
    from django_otp import login as otp_login

    device = confirmed_device(request.user)
    if device is None:
        return "您还没有设置身份验证器"
    if looks_like_recovery_code(token):
        used = _use_recovery_code(request.user, token)
        if isinstance(used, str):
            return used
        otp_login(request, used)
        request.session.pop(NEEDED_KEY, None)
        return ""
    if wait := wait_message(device):
        return wait
    if not device.verify_token((token or "").strip()):
        return _refused(device, "验证码不正确、已过期或已使用过,请输入验证器上当前显示的6位数字")
    otp_login(request, device)
    request.session.pop(NEEDED_KEY, None)
    return ""


def qr_data_uri(device: TOTPDevice) -> str:
    """The device's ``otpauth://`` address as a QR code, an SVG drawn here (no network), as a data
    address for ``<img>`` (the site's CSP allows ``data:`` images, no inline markup)."""
    import segno

    svg = segno.make(device.config_url, error="m").svg_inline(scale=5, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def secret_groups(device: TOTPDevice) -> str:
    """The secret in base32, in groups of four, for typing into an app that cannot scan."""
    key = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i:i + 4] for i in range(0, len(key), 4))


class SecondFactorMiddleware:
    """Until the code is verified, a person who owes one (``NEEDED_KEY``, set at login) reaches
    only the code page, the page to set up an authenticator (when they have none), and 退出."""

    ALLOWED = ("/static/", "/i18n/", "/healthz")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and session.get(NEEDED_KEY) and request.user.is_authenticated:
            if request.user.is_verified():
                session.pop(NEEDED_KEY, None)
            else:
                from django.shortcuts import redirect
                from django.urls import reverse

                open_paths = (reverse("otp_verify"), reverse("otp_setup"), reverse("logout"))
                if request.path not in open_paths and not request.path.startswith(self.ALLOWED):
                    target = "otp_verify" if confirmed_device(request.user) is not None else "otp_setup"
                    from urllib.parse import urlencode

                    query = "?" + urlencode({"next": request.get_full_path()}) if request.method == "GET" else ""
                    return redirect(reverse(target) + query)
        return self.get_response(request)
