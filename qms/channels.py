"""通知渠道 — a notice beyond the in-app list: 邮件 to the person (their choice on 我的账号) and the group
robots of 企业微信/钉钉 (unit-level kinds only), each attempt kept as a ``Delivery``.

Which notice is which kind is data (qms/rules/notices.toml): a kind of scope "person" never reaches a
group robot, whatever a robot's settings say (``robot_kinds`` refuses it and ``dispatch`` checks again).
Deliveries are written in the transaction of the change that caused the notice and sent after it commits
(Celery, ``qms.tasks.deliver_notice_task``): a mail server or robot that fails never blocks or rolls back
the change; it is retried with a growing pause and the failure stays on the 送达失败 page.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.utils import timezone

from qms.models import Delivery, DeliveryStatus, GroupRobot, NoticeChannels, RobotKind, Unit
from qms.signals import delivery_ready

log = logging.getLogger(__name__)

_FILE = Path(__file__).with_name("rules") / "notices.toml"
SITE = "党建质量管理体系"


@dataclass(frozen=True)
class NoticeKind:
    """通知种类 — one line of notices.toml."""

    key: str
    label: str
    scope: str  # "person" | "unit"
    pattern: re.Pattern
    unit: dict
    outside: str
    source: str

    @property
    def for_groups(self) -> bool:
        return self.scope == "unit"


OTHER = NoticeKind("other", "其他通知", "person", re.compile(r"$^"), {}, "", "本系统默认:未列明的通知按个人通知处理")


@cache
def kinds() -> dict[str, NoticeKind]:
    data = tomllib.loads(_FILE.read_text(encoding="utf-8"))["kinds"]
    out = {}
    for key, row in data.items():
        if row["scope"] not in ("person", "unit"):
            raise ValueError(f"notices.toml: {key} 的 scope 只能是 person 或 unit")
        if row["scope"] == "unit" and "part" not in row.get("unit", {}):
            raise ValueError(f"notices.toml: 组织层面的通知 {key} 须写明从哪里得到党组织(unit.part)")
        out[key] = NoticeKind(key, row["label"], row["scope"], re.compile(row["match"]), dict(row.get("unit", {})),
                              row.get("outside", ""), row["source"])
    return out


def unit_kinds() -> dict[str, NoticeKind]:
    """The kinds a group robot may carry."""
    return {k: v for k, v in kinds().items() if v.for_groups}


def kind_of(key: str) -> NoticeKind:
    for k in kinds().values():
        if k.pattern.search(key):
            return k
    return OTHER


def unit_of(kind: NoticeKind, key: str) -> Unit | None:
    """The organisation a unit-level notice is about, from its key as notices.toml says."""
    if not kind.for_groups:
        return None
    parts = key.split(":")
    try:
        pk = int(parts[kind.unit["part"]])
    except (IndexError, ValueError):
        return None
    if "model" not in kind.unit:
        return Unit.objects.filter(pk=pk).first()
    row = apps.get_model(kind.unit["model"]).objects.filter(pk=pk).select_related(kind.unit["field"]).first()
    return getattr(row, kind.unit["field"]) if row is not None else None


def outside_text(kind: NoticeKind, title: str) -> str:
    """What leaves the product: the kind's neutral text where it names a person or a sum, else the task."""
    return kind.outside or title


# ----------------------------------------------------------------------------- who gets what


def wants_email(user) -> bool:
    """邮件 for this person: the site sends mail, the login has an address, and the person has not
    turned it off (no choice yet = on)."""
    if not getattr(settings, "QMS_SEND_EMAIL", False) or not getattr(user, "email", ""):
        return False
    choice = NoticeChannels.objects.filter(user_id=user.pk).values_list("email", flat=True).first()
    return True if choice is None else choice


def robots_for(unit: Unit, kind: NoticeKind) -> list[GroupRobot]:
    """The active robots that carry ``kind`` about ``unit``: the unit's own, and those of the units above
    that asked for their subordinates' notices. Never any for a personal kind."""
    if not kind.for_groups:
        return []
    ids = [int(x) for x in unit.path.strip("/").split("/") if x] if unit.path else [unit.pk]
    out = []
    for r in GroupRobot.objects.filter(unit_id__in=ids, active=True).select_related("unit"):
        if kind.key in r.kinds and (r.unit_id == unit.pk or r.include_below):
            out.append(r)
    return out


def dispatch(notification) -> list[Delivery]:
    """Write the deliveries of a just-created notice (in the caller's transaction) and send them after commit."""
    kind = kind_of(notification.key)
    text = outside_text(kind, notification.title)
    made = []
    if wants_email(notification.user):
        made.append(_delivery(f"email:{notification.user_id}:{notification.key}", channel="email", kind=kind,
                              notice=notification, text=text, user=notification.user))
    unit = unit_of(kind, notification.key) if kind.for_groups else None  # a personal notice: never a group
    if unit is not None:
        for robot in robots_for(unit, kind):
            made.append(_delivery(f"robot:{robot.pk}:{notification.key}", channel=robot.kind, kind=kind,
                                  notice=notification, text=text, robot=robot))
    fresh = [d for d, created in made if created]
    for d in fresh:
        transaction.on_commit(lambda pk=d.pk: delivery_ready.send(sender=Delivery, delivery_id=pk), robust=True)
    return [d for d, _ in made]


def _delivery(dedupe, *, channel, kind, notice, text, user=None, robot=None):
    return Delivery.objects.get_or_create(dedupe=dedupe[:200], defaults={
        "channel": channel, "notice_key": notice.key, "notice_kind": kind.key, "title": text[:200], "url": notice.url,
        "user": user, "robot": robot})


# ----------------------------------------------------------------------------- sending


class DeliveryError(Exception):
    """The channel refused or did not answer; the message says why, in words for the 体系管理员."""


def backoff(retries: int) -> int:
    return settings.QMS_NOTIFY_BACKOFF_SECONDS * (2 ** retries)


def attempt(pk: int, *, final: bool) -> Delivery:
    """One try of one delivery. Already delivered: nothing is sent again. The row is locked while sending,
    so two workers never send the same delivery at once."""
    with transaction.atomic():
        d = Delivery.objects.select_for_update().get(pk=pk)
        if d.status == DeliveryStatus.SENT:
            return d
        d.attempts += 1
        d.last_attempt_at = timezone.now()
        try:
            send(d)
        except Exception as exc:  # any failure of the channel is recorded, never raised into the change
            d.status = DeliveryStatus.FAILED if final else DeliveryStatus.RETRYING
            d.last_error = _words(exc)[:500]
            log.warning("delivery %s (%s) failed, attempt %s: %r", d.pk, d.channel, d.attempts, exc)
        else:
            d.status, d.sent_at, d.last_error = DeliveryStatus.SENT, timezone.now(), ""
        d.save()
    return d


def _words(exc: BaseException) -> str:
    """Why it failed, in words for the 体系管理员 (the technical detail goes to the log)."""
    import smtplib
    import socket

    if isinstance(exc, DeliveryError):
        return str(exc)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "邮件服务器登录失败(用户名或密码不对)"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "邮件服务器拒收了收件地址"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"邮件服务器拒收(代码 {exc.smtp_code})"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "邮件服务器断开了连接"
    if isinstance(exc, ConnectionRefusedError):
        return "连接被拒绝(服务器未运行或端口不对)"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "连接超时"
    if isinstance(exc, socket.gaierror):
        return "找不到服务器地址"
    if isinstance(exc, OSError):
        return "网络错误,无法连接服务器"
    return "发送失败(详见服务器日志)"


def send(d: Delivery) -> None:
    if d.channel == "email":
        send_email(d)
    else:
        robot = GroupRobot.objects.get(pk=d.robot_id)
        post_robot(robot, title=d.title, url=d.url)


def _link(url: str) -> str:
    base = getattr(settings, "QMS_SITE_URL", "").rstrip("/")
    return f"{base}{url}" if url and base else url


def send_email(d: Delivery) -> None:
    from qms.people import person

    user = d.user
    if user is None or not user.email:
        raise DeliveryError("接收人的账号没有邮箱地址")
    body = f"{person(user)}同志:\n\n{d.title}\n"
    if d.url:
        body += f"\n请登录{SITE}查看:{_link(d.url)}\n"
    body += f"\n—— {SITE}(本邮件由系统自动发送,请勿直接回复)\n"
    conn = get_connection(fail_silently=False, timeout=settings.EMAIL_TIMEOUT)
    EmailMessage(f"[{SITE}] {d.title}", body, None, [user.email], connection=conn).send()


def robot_address(robot: GroupRobot) -> str:
    """The address to post to: the robot's full address as given, or the configured base with its key."""
    w = robot.webhook.strip()
    if w.startswith(("http://", "https://")):
        return w
    if robot.kind == RobotKind.WECOM:
        return f"{settings.QMS_WECOM_WEBHOOK_BASE}?key={urllib.parse.quote(w)}"
    return f"{settings.QMS_DINGTALK_WEBHOOK_BASE}?access_token={urllib.parse.quote(w)}"


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """钉钉 加签: HMAC-SHA256 of "timestamp\\nsecret" keyed by the secret, base64 (then URL-encoded)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def robot_payload(robot: GroupRobot, *, title: str, url: str) -> dict:
    text = f"**{SITE}**\n\n{title}"
    if url:
        text += f"\n\n[查看详情]({_link(url)})"
    if robot.kind == RobotKind.WECOM:
        return {"msgtype": "markdown", "markdown": {"content": text}}
    return {"msgtype": "markdown", "markdown": {"title": title[:60], "text": text}}


def post_robot(robot: GroupRobot, *, title: str, url: str) -> None:
    address = robot_address(robot)
    if robot.kind == RobotKind.DINGTALK and robot.secret:
        ts = int(time.time() * 1000)
        sep = "&" if "?" in address else "?"
        address += f"{sep}timestamp={ts}&sign={urllib.parse.quote_plus(dingtalk_sign(robot.secret, ts))}"
    body = json.dumps(robot_payload(robot, title=title, url=url), ensure_ascii=False).encode()
    req = urllib.request.Request(address, data=body, method="POST",
                                 headers={"Content-Type": "application/json; charset=utf-8"})
    try:
        with urllib.request.urlopen(req, timeout=settings.QMS_WEBHOOK_TIMEOUT) as resp:  # noqa: S310 (an admin's address)
            answer = resp.read(65536)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"机器人地址返回错误(状态码 {exc.code})") from exc
    except urllib.error.URLError as exc:
        raise DeliveryError(f"无法连接机器人地址:{_words(exc.reason) if isinstance(exc.reason, Exception) else exc.reason}") from exc
    try:
        data = json.loads(answer)
    except ValueError as exc:
        raise DeliveryError("机器人地址的应答不是 JSON") from exc
    if not isinstance(data, dict) or data.get("errcode") != 0:
        code = data.get("errcode") if isinstance(data, dict) else None
        log.warning("robot %s refused: %r", robot.pk, data)
        raise DeliveryError(f"机器人拒收(错误码 {code},请检查地址、加签密钥或群机器人的安全设置)")


def resend_due() -> int:
    """Queue again the deliveries never tried (the queue was down when the change committed) ten minutes
    on. Returns how many were queued."""
    cutoff = timezone.now() - timezone.timedelta(minutes=10)
    pks = list(Delivery.objects.filter(status=DeliveryStatus.PENDING, attempts=0, created_at__lt=cutoff)
               .values_list("pk", flat=True)[:500])
    for pk in pks:  # outside a transaction (the worker's job): sent at once
        transaction.on_commit(lambda pk=pk: delivery_ready.send(sender=Delivery, delivery_id=pk), robust=True)
    return len(pks)


def target_of(d: Delivery) -> str:
    """To whom, in words: the person's name, or the robot (never its address)."""
    if d.robot_id:
        return str(d.robot)
    from qms.people import person

    return person(d.user) if d.user_id else "(已删除)"
