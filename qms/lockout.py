"""登录锁定 — repeated failed logins lock a username at an address for a while (django-axes).

等保 2.0 (GB/T 22239-2019 8.1.4.1 b) asks for 登录失败处理: a limit on failed logins and what
happens after it. After ``AXES_FAILURE_LIMIT`` failures (settings, default 5) of one username from
one address, that pair is refused for ``QMS_LOGIN_LOCKOUT_MINUTES`` (default 30) — even with the
right password — and the login page says so in Chinese with the time the lock ends (HTTP 429).
Keyed on username *and* address: a stranger cannot lock a colleague out from elsewhere, and one
address guessing many usernames meets the limit on each. The 体系管理员 is told (a notification),
and may lift a lock before its time on 登录锁定 (``lockout_release``: an act of the matrix,
ledgered). Locks are django-axes' ``AccessAttempt`` rows; this module reads and deletes them, the
ledger keeps what was lifted, by whom and why.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Sum
from django.shortcuts import render
from django.utils import timezone

from qms import ledger
from qms.permissions import act

#: the ledger's name for a lock (obj_type): one username at one address
OBJ_TYPE = "axes.lock"


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' check, for logins made through a web request only (the login form passes
    it). ``authenticate()`` without a request — the test client's ``login``, a management
    command, the shell — is no login over the network and has no address to lock; axes itself
    would refuse it outright. Such calls go straight to the model backend."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def client_address(request) -> str | None:
    """The address a lock is keyed on: ``REMOTE_ADDR``; behind the product's reverse proxy
    (``QMS_BEHIND_PROXY=1``, docs/operations.md) the last address of ``X-Forwarded-For`` — the one
    the proxy itself appended, which a client cannot forge (the earlier ones it can)."""
    import os

    if os.environ.get("QMS_BEHIND_PROXY") == "1":
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.split(",")[-1].strip()
        if last:
            return last
    return request.META.get("REMOTE_ADDR")


def cool_off() -> dt.timedelta:
    return settings.AXES_COOLOFF_TIME


@dataclass(frozen=True)
class Lock:
    """一条登录锁定 — a username locked at an address, until ``until``."""

    username: str
    ip_address: str
    failures: int
    last_attempt: dt.datetime

    @property
    def until(self) -> dt.datetime:
        return self.last_attempt + cool_off()

    @property
    def person(self) -> str:
        """Who the username belongs to, by name (an unknown username: 未知账号)."""
        user = get_user_model().objects.filter(username=self.username).first()
        if user is None:
            return "未知账号"
        from qms.people import person

        return person(user)

    def snapshot(self) -> dict[str, Any]:
        return {"username": self.username, "ip_address": self.ip_address, "failures": self.failures,
                "last_attempt": self.last_attempt.isoformat()}


def _attempts():
    since = timezone.now() - cool_off()
    return AccessAttempt.objects.filter(attempt_time__gte=since)


def locks() -> list[Lock]:
    """Every pair locked now: its failures (across the browsers it used) reached the limit within
    the cool-off period. Latest first."""
    rows = (_attempts().values("username", "ip_address")
            .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
            .filter(failures__gte=settings.AXES_FAILURE_LIMIT).order_by("-last"))
    return [Lock(r["username"] or "", r["ip_address"] or "", r["failures"], r["last"]) for r in rows]


def lock_for(username: str, ip_address: str) -> Lock | None:
    return next((x for x in locks() if x.username == username and x.ip_address == ip_address), None)


def lock_key(lock: Lock) -> str:
    """The ledger's object id of a lock: the pair and the time it began, so a later lock of the
    same pair is a new object."""
    return f"{lock.username}@{lock.ip_address}@{lock.last_attempt:%Y%m%d%H%M%S}"


@act("account.unlock")
@transaction.atomic
def lockout_release(*, actor, username: str, ip_address: str, reason: str) -> Lock:
    """解除登录锁定 — lift a lock before its time (the person called the office, the 体系管理员
    checked it was them). The failures are forgotten; the ledger keeps the lock as it was."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "解除锁定必须填写原因(例如:已电话核实本人)"})
    lock = lock_for(username, ip_address)
    if lock is None:
        raise ValidationError("该账号在此地址已未被锁定(可能已到期自动解除或已被他人解除)")
    AccessAttempt.objects.filter(username=username, ip_address=ip_address).delete()
    ledger.record("account.unlock", obj_type=OBJ_TYPE, obj_id=lock_key(lock), before=lock.snapshot(), after=None,
                  actor=actor, reason=reason)
    return lock


def lockout_response(request, original_response=None, credentials=None):
    """What a locked-out login gets (``AXES_LOCKOUT_CALLABLE``): the login page again, with the
    time the lock ends, HTTP 429."""
    from django.contrib.auth.forms import AuthenticationForm

    username = (credentials or {}).get("username") or request.POST.get("username", "")
    lock = lock_for(username, client_address(request) or "")
    until = timezone.localtime(lock.until if lock else timezone.now() + cool_off())
    message = (f"登录失败次数过多,账户已暂时锁定,请于 {until:%H:%M} 后重试或联系体系管理员解锁"
               f"(连续{settings.AXES_FAILURE_LIMIT}次密码错误将锁定{settings.QMS_LOGIN_LOCKOUT_MINUTES}分钟)")
    form = AuthenticationForm(request, initial={"username": username})
    return render(request, "registration/login.html", {"form": form, "locked": message,
                                                       "next": request.POST.get("next", "")}, status=429)


def notify_admins(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    """On a lockout (django-axes' ``user_locked_out``): every 体系管理员 is told, once per lock
    (reliability.md T12: an alert raised on lockout; 21 CFR 11.300(d))."""
    from qms.models import Role, RoleGrant
    from qms.notify import notify

    today = timezone.localdate()
    admins = {g.user for g in RoleGrant.objects.filter(role=Role.ADMIN, valid_from__lte=today).select_related("user")
              if g.valid_until is None or g.valid_until >= today}
    admins |= set(get_user_model().objects.filter(is_superuser=True, is_active=True))
    stamp = timezone.localtime().strftime("%Y%m%d%H%M")
    owner = get_user_model().objects.filter(username=username).first() if username else None
    from qms.people import person

    who = f"{person(owner)}的账号" if owner is not None else "一个不存在的用户名"
    for user in admins:
        if user.is_active:
            notify(user, key=f"lockout:{username}:{ip_address}:{stamp}",
                   title=f"{who}在地址 {ip_address} 连续登录失败,已被锁定", url="/accounts/lockouts/", level="warning")
