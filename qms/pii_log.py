"""身份证号查看记录 — who was shown a member's full 身份证号, whose, when and where.

个人信息保护法 第二十八条 counts a 身份证号 as sensitive personal information; 第五十一条 asks the
processor for access controls and 第五十五条、第五十六条 for a record of its processing. Who may
see a number in full is decided in ``qms.privacy`` (those who manage the member, and the member
themself); this module records each time it happens, at the three places a full number is shown:

- 党员信息页 (``member_detail``: the number, and the 留痕 of its changes);
- 更正党员信息页 (``member_amend``: the number in the form);
- 花名册导出 (``member_export``: one row per member exported in full).

A masked showing (``4401**********1234``) is not recorded. The records are written once
(``PersonalDataView``: the model and, for changes, the database refuse anything but adding) and
are read by the 体系管理员 only, on 身份证号查看记录 — for the members within their scope.
"""
from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from qms.models import Member, PersonalDataView
from qms.scoping import is_admin

Where = PersonalDataView.Where


def record(viewer, members: Iterable[Member], where: str, *, path: str = "") -> int:
    """One record per member whose full 身份证号 ``viewer`` is being shown; returns how many.
    Members without a number on file are skipped (nothing was shown)."""
    now = timezone.now()
    rows = [PersonalDataView(viewer_id=viewer.pk, member_id=m.pk, at=now, where=where, path=path[:200])
            for m in members if (m.id_number or "").strip()]
    PersonalDataView.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def may_read(user) -> bool:
    """The log is the 体系管理员's to read (and nobody's to change)."""
    return is_admin(user)


def visible(user):
    """The records a 体系管理员 may read: those of members who belong or belonged to a unit within
    their 体系管理员 scope."""
    from django.db.models import Q

    from qms.scoping import scopes_for

    paths = [s.path for s in scopes_for(user) if s.level == "admin"]
    if not paths:
        return PersonalDataView.objects.none()
    inside = Q()
    for p in paths:
        inside |= Q(memberships__unit__path__startswith=p)
    return PersonalDataView.objects.filter(member_id__in=Member.objects.filter(inside).values("pk"))
