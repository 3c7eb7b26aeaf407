"""权限矩阵 — who may do which act, in which relation to the object's unit.

Scope (``qms.scoping``) answers "may this person *see* it?"; this module answers "may this
person *do this act* to it?" — for every state change, creation, amendment, export and
pack operation, in one table (``rules/permissions.toml``: policy as data, each act with the
rule's source where one exists). Every service function that acts for a person is declared
with ``@act("…")``: the decorator asks the matrix before the function runs, so no service
can forget, and the test suite enumerates the declared acts against the matrix (an act
added later without a row fails it).

The relations a row may name (``allow``):

- ``admin`` — a 体系管理员 whose grant covers the object's unit;
- ``officer`` — a 书记/委员 of the object's unit or of a unit above it;
- ``officer_above`` — a 书记/委员 of a unit above the object's unit (never its own);
- ``internal_auditor`` — a 内审员 whose standing grant covers the unit;
- ``duty:NAME`` — a named duty the person holds on this object, worked out by the
  service's declaration (``checker`` named by the rule, ``audit_team``, ``raiser``, ``self``…).

``forbid`` names duties that exclude a person whatever else they hold (the implementer
never verifies, ISO 9001 §10.2 / ISO 19011 §4 independence). A 党员 and an 外部审核员 match
none of the relations above, so they are read-only everywhere unless a row gives a member
something by duty (``duty:self``). ``actor=None`` is the system itself (the scheduler,
migrations, the demo builder), never a web request.
"""
from __future__ import annotations

import functools
import inspect
import threading
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied

from qms.models import Unit
from qms.scoping import scopes_for

_FILE = Path(__file__).with_name("rules") / "permissions.toml"

RELATION_LABELS = {
    "admin": "体系管理员",
    "officer": "本组织或上级组织的书记、委员",
    "officer_above": "上级组织的书记、委员",
    "internal_auditor": "内审员",
}


class NotPermitted(PermissionDenied):
    """拒绝 — the person may not do this act; shown as a 403 page with the message."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Act:
    key: str
    label: str
    group: str
    allow: tuple[str, ...]
    forbid: tuple[str, ...]
    forbid_message: str
    source: str

    def who(self) -> str:
        """The people the row allows, in words ("体系管理员、上级组织的书记、委员")."""
        return "、".join(relation_label(r) for r in self.allow)


@cache
def _data() -> dict[str, Any]:
    return tomllib.loads(_FILE.read_text(encoding="utf-8"))


@cache
def matrix() -> dict[str, Act]:
    """Every act of the product, from the data file, in its order."""
    out: dict[str, Act] = {}
    for key, row in _data()["acts"].items():
        out[key] = Act(key=key, label=row["label"], group=row["group"], allow=tuple(row["allow"]),
                       forbid=tuple(row.get("forbid", ())), forbid_message=row.get("forbid_message", ""),
                       source=row.get("source", "本产品默认"))
    return out


def duty_labels() -> dict[str, str]:
    return dict(_data()["duties"])


def relation_label(token: str) -> str:
    if token.startswith("duty:"):
        return duty_labels()[token[5:]]
    return RELATION_LABELS[token]


def _covers(path: str, unit: Unit | None) -> bool:
    return unit is None or unit.path.startswith(path)


def _holds(user, token: str, unit: Unit | None, duties: frozenset[str]) -> bool:
    if token.startswith("duty:"):
        return token[5:] in duties
    scopes = scopes_for(user)
    if token == "admin":
        return any(s.level == "admin" and _covers(s.path, unit) for s in scopes)
    if token == "officer":  # an object of no unit (the standard library) is for administrators only
        return unit is not None and any(s.level == "officer" and _covers(s.path, unit) for s in scopes)
    if token == "officer_above":
        return unit is not None and any(
            s.level == "officer" and unit.path.startswith(s.path) and unit.path != s.path for s in scopes)
    if token == "internal_auditor":
        return unit is not None and any(s.level == "internal_auditor" and _covers(s.path, unit) for s in scopes)
    raise KeyError(f"权限矩阵中未知的关系:{token}")


def allowed(user, act_key: str, unit: Unit | None = None, *, duties: Iterable[str] = ()) -> bool:
    """May ``user`` do ``act_key`` to an object of ``unit``, holding ``duties`` on it?"""
    return refusal(user, act_key, unit, duties=duties) is None


def refusal(user, act_key: str, unit: Unit | None = None, *, duties: Iterable[str] = ()) -> str | None:
    """Why not (a plain Chinese sentence), or None when allowed."""
    a = matrix()[act_key]
    if user is None:
        return None  # the system itself
    if not getattr(user, "is_authenticated", False):
        return "请先登录"
    held = frozenset(duties)
    bad = [d for d in a.forbid if d in held]
    if bad:
        return a.forbid_message or f"{duty_labels()[bad[0]]}不能{a.label}"
    if any(_holds(user, t, unit, held) for t in a.allow):
        return None
    where = f"“{unit.name}”的" if unit is not None else ""
    return f"您无权{a.label}:{where}此项只能由{a.who()}办理"


def require(user, act_key: str, unit: Unit | None = None, *, duties: Iterable[str] = ()) -> None:
    why = refusal(user, act_key, unit, duties=duties)
    if why is not None:
        raise NotPermitted(why)


_INSIDE = threading.local()

#: act key → the service function declared with it (filled by ``@act`` at import).
DECLARED: dict[str, list[Callable]] = {}


def act(key: str, *, unit: Callable[..., Unit | None] | None = None,
        duties: Callable[..., Iterable[str]] | None = None, explain: Callable[..., str] | None = None) -> Callable:
    """Declare a service function as the act ``key`` and ask the matrix before it runs.

    ``unit`` and ``duties`` receive the call's arguments by name (``actor`` included) and
    return the object's unit and the duties the actor holds on it; ``explain`` (same
    arguments) adds to a refusal who exactly holds the duty here ("检查人应为上级组织的组织委员")."""
    if key not in matrix():
        raise KeyError(f"权限矩阵(permissions.toml)中没有动作 {key}")

    def wrap(fn: Callable) -> Callable:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def inner(*args, **kwargs):
            if getattr(_INSIDE, "act", None) is not None:
                # a step the authorised act takes on the person's behalf (planning an audit
                # grants its team read access): the act asked for was checked, not each step
                return fn(*args, **kwargs)
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            values = bound.arguments
            user = values.get("actor")
            if user is not None:
                u = unit(**values) if unit else None
                held = set(duties(**values)) if duties else set()
                why = refusal(user, key, u, duties=held)
                if why is not None:
                    forbidden = set(matrix()[key].forbid) & held
                    raise NotPermitted(f"{why}({explain(**values)})" if explain and not forbidden else why)
            _INSIDE.act = key
            try:
                return fn(*args, **kwargs)
            finally:
                _INSIDE.act = None

        inner.act_key = key  # type: ignore[attr-defined]
        DECLARED.setdefault(key, []).append(inner)
        return inner

    return wrap


def rows() -> list[dict[str, Any]]:
    """The matrix for the page and for docs/permissions.md: one row per act."""
    return [{"key": a.key, "label": a.label, "group": a.group, "who": a.who(),
             "forbid": "、".join(duty_labels()[d] for d in a.forbid), "source": a.source} for a in matrix().values()]


def markdown() -> str:
    """docs/permissions.md, generated from the matrix (a test keeps the file current)."""
    lines = [
        "# 权限矩阵 (who may act)",
        "",
        "Generated from `qms/rules/permissions.toml` by `python manage.py permissions_doc`;",
        "a test fails when this file and the data differ. A 党员 and an 外部审核员 hold none of the",
        "relations below, so they are read-only everywhere except where a row gives them a duty.",
        "Services ask the matrix (`qms.permissions.act`) before they run; refusals are 403 pages.",
        "",
    ]
    group = None
    for r in rows():
        if r["group"] != group:
            group = r["group"]
            lines += [f"## {group}", "", "| 动作 | 谁可以办理 | 回避 | 依据 |", "|---|---|---|---|"]
        lines.append(f"| {r['label']} (`{r['key']}`) | {r['who']} | {r['forbid'] or '—'} | {r['source']} |")
        # a blank line after each group's table comes with the next heading
    out = []
    for line in lines:
        if line.startswith("## ") and out and out[-1] != "":
            out.append("")
        out.append(line)
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------- helpers for declarations


def member_unit(member=None, **_: Any) -> Unit | None:
    """A person's current unit (None once transferred out: administrators only)."""
    ms = member.current_membership() if member is not None else None
    return ms.unit if ms is not None else None


def managed_unit(actor=None, **_: Any) -> Unit | None:
    """For acts on no single unit (a roster file names its own units, each checked again per
    row): the first unit the actor manages, if any."""
    for s in scopes_for(actor):
        if s.can_manage:
            return Unit.objects.filter(pk=s.unit_id).first()
    return None


def is_user(actor, user_id: int | None) -> bool:
    return actor is not None and user_id is not None and actor.pk == user_id
