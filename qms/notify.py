"""通知 — send in-app notifications, and beyond the product where chosen: 邮件 to the person and the
organisation's 企业微信/钉钉 group robots for unit-level kinds (qms/channels.py, qms/rules/notices.toml),
sent after commit by Celery. Idempotent by key."""
from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from qms.models import Notification, Position, Unit


def notify(user, *, key: str, title: str, url: str = "", level: str = "info") -> bool:
    """Send once; returns True if this call created the notification."""
    n, created = Notification.objects.get_or_create(user=user, key=key, defaults={"title": title, "url": url, "level": level})
    if created:
        from qms import channels

        channels.dispatch(n)  # 邮件 / 群机器人: written now, sent after commit, never blocking this change
    return created


def holders(unit: Unit, titles) -> list:
    """Users holding any of ``titles`` in ``unit`` today (the people a rule makes responsible)."""
    today = timezone.localdate()
    qs = (Position.objects.filter(unit=unit, title__in=list(titles), start__lte=today, member__user__isnull=False)
          .filter(Q(end__isnull=True) | Q(end__gte=today)).select_related("member__user"))
    return [p.member.user for p in qs]


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def admins() -> list:
    """Every 体系管理员 today (an ADMIN grant in force, or a superuser), active logins only."""
    from django.contrib.auth import get_user_model

    from qms.models import Role, RoleGrant

    today = timezone.localdate()
    users = {g.user for g in RoleGrant.objects.filter(role=Role.ADMIN, valid_from__lte=today).select_related("user")
             if g.valid_until is None or g.valid_until >= today}
    users |= set(get_user_model().objects.filter(is_superuser=True))
    return sorted((u for u in users if u.is_active), key=lambda u: u.pk)
