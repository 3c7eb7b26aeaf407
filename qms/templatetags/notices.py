"""``{% load notices %}{% notice_channels user as ch %}`` — the person's 接收通知的方式 for 我的账号:
whether the site sends 邮件 at all, whether the login has an address, and the person's choice."""
from __future__ import annotations

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def notice_channels(user) -> dict:
    from qms import channels

    return {"site_mail": bool(getattr(settings, "QMS_SEND_EMAIL", False)), "address": bool(getattr(user, "email", "")),
            "email": channels.wants_email(user)}
