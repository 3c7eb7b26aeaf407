"""通知渠道的设置 — the 体系管理员's group robots (企业微信/钉钉) and each person's 接收通知的方式: the acts,
each ledgered. Sending is qms/channels.py."""
from __future__ import annotations

import hashlib
import re
import urllib.parse

from django.core.exceptions import ValidationError
from django.db import transaction

from qms import ledger
from qms.channels import kinds, unit_kinds
from qms.models import GroupRobot, NoticeChannels, RobotKind, Unit
from qms.permissions import act


def robot_kinds(values) -> list[str]:
    """The kinds chosen for a robot, each one a unit-level kind (a personal kind is refused)."""
    chosen = [str(v) for v in values or []]
    allowed = unit_kinds()
    wrong = [v for v in chosen if v not in allowed]
    if wrong:
        labels = "、".join(kinds()[v].label if v in kinds() else v for v in wrong)
        raise ValidationError({"kinds": f"群机器人只能推送组织层面的通知,不能推送:{labels}"})
    if not chosen:
        raise ValidationError({"kinds": "请至少选择一种要推送的通知"})
    return sorted(set(chosen))


def _fingerprint(webhook: str, secret: str) -> str:
    return hashlib.sha256(f"{webhook}\n{secret}".encode()).hexdigest()[:16]


def _clean_robot(kind: str, webhook: str, secret: str) -> tuple[str, str]:
    webhook, secret = (webhook or "").strip(), (secret or "").strip()
    if kind not in RobotKind.values:
        raise ValidationError({"kind": "请选择企业微信或钉钉"})
    if not webhook:
        raise ValidationError({"webhook": "请填写机器人地址,或只填它的密钥"})
    if webhook.startswith(("http://", "https://")):
        parsed = urllib.parse.urlparse(webhook)
        if not parsed.netloc:
            raise ValidationError({"webhook": "机器人地址不完整"})
    elif not re.fullmatch(r"[A-Za-z0-9_\-]{8,200}", webhook):
        raise ValidationError({"webhook": "机器人密钥只含字母、数字、下划线和连字符(或填写完整地址)"})
    if secret and kind != RobotKind.DINGTALK:
        raise ValidationError({"secret": "加签密钥只用于钉钉机器人"})
    return webhook, secret


@act("robot.create", unit=lambda unit, **_: unit)
@transaction.atomic
def robot_create(*, actor, unit: Unit, name: str, kind: str, webhook: str, secret: str = "", kinds: list,
                 include_below: bool = False) -> GroupRobot:
    """新增群机器人 — the 体系管理员 adds an organisation's 企业微信/钉钉 group robot."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "请填写名称(例如:第一党支部工作群)"})
    webhook, secret = _clean_robot(kind, webhook, secret)
    r = GroupRobot.objects.create(unit=unit, name=name, kind=kind, webhook=webhook, secret=secret,
                                  fingerprint=_fingerprint(webhook, secret), kinds=robot_kinds(kinds),
                                  include_below=include_below)
    ledger.record("robot.create", r, actor=actor)
    return r


@act("robot.update", unit=lambda robot, **_: robot.unit)
@transaction.atomic
def robot_update(*, actor, robot: GroupRobot, name: str, webhook: str = "", secret: str = "", clear_secret: bool = False,
                 kinds: list, include_below: bool, active: bool) -> GroupRobot:
    """修改群机器人 — name, the kinds it carries, on/off. The address and the secret are never shown back:
    left empty they stay as they were; ``clear_secret`` removes the 钉钉 加签密钥."""
    r = GroupRobot.objects.select_for_update().get(pk=robot.pk)
    before = ledger.snapshot(r)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "请填写名称"})
    new_secret = "" if clear_secret else (secret or r.secret)
    webhook, new_secret = _clean_robot(r.kind, webhook or r.webhook, new_secret)
    r.name, r.webhook, r.secret, r.kinds = name, webhook, new_secret, robot_kinds(kinds)
    r.include_below, r.active, r.fingerprint = bool(include_below), bool(active), _fingerprint(webhook, new_secret)
    r.save()
    ledger.record("robot.update", r, actor=actor, before=before)
    return r


# ----------------------------------------------------------------------------- 接收通知的方式 (本人)


def _self(actor=None, **_) -> set[str]:
    return {"self"} if actor is not None else set()


@act("notice.channels", duties=_self)
@transaction.atomic
def channels_choose(*, actor, email: bool) -> NoticeChannels:
    """接收通知的方式 — the person chooses 邮件 besides 站内 (always on). Asking for 邮件 with no address on
    the login is refused with the reason."""
    if email and not actor.email:
        raise ValidationError({"email": "您的账号还没有邮箱地址,请联系体系管理员登记后再选择邮件"})
    row, created = NoticeChannels.objects.select_for_update().get_or_create(user=actor)
    before = None if created else ledger.snapshot(row)
    row.email = bool(email)
    row.save()
    ledger.record("notice.channels", row, actor=actor, before=before)
    return row
