"""Builders for small hand-made trees, going through the real services (so the ledger is written)."""
from __future__ import annotations

import datetime as dt
import itertools

from django.contrib.auth import get_user_model

from qms import services
from qms.models import MemberCategory, UnitKind

_seq = itertools.count(1)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(n: int | None = None, birth: dt.date = dt.date(1980, 5, 17)) -> str:
    """A valid 18-digit 居民身份证号码 (check digit per GB 11643) unique per n."""
    n = next(_seq) if n is None else n
    body = f"110101{birth:%Y%m%d}{n % 1000:03d}"
    total = sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def user(username: str, password: str = "pass-12345", **kw):
    return get_user_model().objects.create_user(username=username, password=password, **kw)


def unit(code: str, kind: str = UnitKind.BRANCH, parent=None, actor=None, **kw):
    return services.unit_create(actor=actor, code=code, name=kw.pop("name", f"{code}组织"), kind=kind, parent=parent, **kw)


def member(unit, name: str = "张三", category: str = MemberCategory.FULL, actor=None, group=None,
           start: dt.date = dt.date(2020, 1, 1), **kw):
    fields = dict(name=name, gender="M", id_number=kw.pop("id_number", None) or id_number(),
                  birth_date=dt.date(1980, 5, 17), category=category)
    if category in (MemberCategory.FULL, MemberCategory.PROBATIONARY):
        fields["joined_on"] = dt.date(2005, 7, 1)
    if category == MemberCategory.FULL:
        fields["full_on"] = dt.date(2006, 7, 1)
    fields.update(kw)
    return services.member_enroll(actor=actor, unit=unit, group=group, start=start, **fields)


def small_tree():
    """党委 C → 总支 G → 支部 B1 (2 groups), B2; each branch with a few members."""
    c = unit("C", UnitKind.COMMITTEE, name="测试党委", term_start=dt.date(2022, 1, 1))
    g = unit("G", UnitKind.GENERAL_BRANCH, parent=c, name="第一党总支", term_start=dt.date(2023, 1, 1))
    b1 = unit("B1", UnitKind.BRANCH, parent=g, name="第一党支部", term_start=dt.date(2024, 1, 1))
    b2 = unit("B2", UnitKind.BRANCH, parent=g, name="第二党支部", term_start=dt.date(2024, 1, 1))
    g1 = unit("B1G1", UnitKind.GROUP, parent=b1, name="第一党小组")
    g2 = unit("B1G2", UnitKind.GROUP, parent=b1, name="第二党小组")
    m1 = [member(b1, f"一支部{i}", group=g1 if i % 2 else g2) for i in range(4)]
    m2 = [member(b2, f"二支部{i}") for i in range(3)]
    return {"committee": c, "general": g, "b1": b1, "b2": b2, "g1": g1, "g2": g2, "m1": m1, "m2": m2}
