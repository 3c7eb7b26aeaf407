"""个人信息 — who sees a member's personal data in full (个人信息保护法 第五、六条:最小必要;
GB/T 35273-2020 §6.2 去标识化展示).

The one place this is decided, beside the scope rules: 身份证号, 手机号 and 出生日期 are shown
in full only to those who manage the member's unit (``qms.scoping.can_manage``: 体系管理员 and
the 书记/委员 of the unit or above) and to the member themself. Everyone else who may see the
member at all (a fellow 党员, an internal or external auditor) sees them masked:
``4401**********1234``, ``138****5678``, a birth year only. Pages, exports and the history
tables ask here; evidence packs carry none of these fields.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from qms.models import Member
from qms.scoping import can_manage

#: the member fields this module guards, and how each is masked
PERSONAL_FIELDS = ("id_number", "phone", "birth_date")


def may_see_personal(user, member: Member) -> bool:
    """Full personal data: the member themself, or someone who manages their unit (the current
    one, else the last one they belonged to)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if member.user_id is not None and member.user_id == user.pk:
        return True
    ms = member.current_membership() or member.memberships.order_by("-start").first()
    return ms is not None and can_manage(user, ms.unit)


def mask_id_number(value: str | None) -> str:
    v = (value or "").strip()
    if len(v) <= 8:
        return "*" * len(v)
    return v[:4] + "*" * (len(v) - 8) + v[-4:]


def mask_phone(value: str | None) -> str:
    v = (value or "").strip()
    if len(v) < 7:
        return "*" * len(v)
    return v[:3] + "*" * (len(v) - 7) + v[-4:]


def birth_year(value: dt.date | str | None) -> str:
    if not value:
        return ""
    year = value.year if isinstance(value, dt.date) else str(value)[:4]
    return f"{year}年"


def masked(field: str, value: Any) -> Any:
    """One personal field as a person without the right sees it."""
    if field == "id_number":
        return mask_id_number(value)
    if field == "phone":
        return mask_phone(value)
    if field == "birth_date":
        return birth_year(value)
    return value


def shown(user, member: Member, field: str) -> Any:
    """A member's field as ``user`` may see it (full or masked)."""
    value = getattr(member, field)
    if field not in PERSONAL_FIELDS or may_see_personal(user, member):
        return value
    return masked(field, value)
