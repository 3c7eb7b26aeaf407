"""法定人数与表决 — who counts toward a meeting's quorum (``quorum.toml``, cited) and the
comparison every quorum and majority uses; the percentages are organisation rules
(``rules.toml``: ``quorum_*``, ``resolution_pass_*``), overridable per organisation.

《中国共产党支部工作条例(试行)》第十一条: 党员大会 表决必须有半数以上有表决权的党员到会方可进行,
赞成人数超过应到会有表决权的党员的半数为通过; 第十二条: 支部委员会会议须有半数以上委员到会.
Also who must be recorded as 列席 at some meetings (``observers.toml``: “两列席”, the secretary
above at a 民主生活会), with the organisation rule that says how strictly.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from qms.models import MemberCategory, PositionTitle

_FILE = Path(__file__).with_name("quorum.toml")
_OBSERVERS = Path(__file__).with_name("observers.toml")

#: the rule keys of each body (Obligation.quorum value → quorum percent, pass percent)
RULE_KEYS = {
    "full_members": ("quorum_general_meeting_percent", "resolution_pass_general_meeting_percent"),
    "committee": ("quorum_committee_percent", "resolution_pass_committee_percent"),
}


@dataclass(frozen=True)
class Body:
    """The body whose members count toward a quorum: the 党员 of some categories (党员大会) or
    the holders of some offices (委员会会议)."""

    key: str
    label: str
    source: str
    titles: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()


@cache
def bodies() -> dict[str, Body]:
    data = tomllib.loads(_FILE.read_text(encoding="utf-8"))
    out = {}
    for key, v in data.items():
        if key not in RULE_KEYS:
            raise ValueError(f"quorum.toml: unknown body {key}")
        if not v.get("source", "").strip():
            raise ValueError(f"quorum.toml {key}: a source is required")
        titles, cats = tuple(v.get("titles", ())), tuple(v.get("categories", ()))
        if bad := [t for t in titles if t not in PositionTitle.values] + [c for c in cats if c not in MemberCategory.values]:
            raise ValueError(f"quorum.toml {key}: unknown {bad}")
        out[key] = Body(key, v["label"], v["source"], titles, cats)
    return out


def exceeds(count: int, total: int, percent: int, *, inclusive: bool = False) -> bool:
    """Is ``count`` more than ``percent`` % of ``total`` (or at least that much, ``inclusive``)?
    Whole numbers only, so 3 of 6 is exactly half. Nobody entitled is never a quorum."""
    if total <= 0:
        return False
    return count * 100 >= total * percent if inclusive else count * 100 > total * percent


@dataclass(frozen=True)
class Observer:
    """Someone who must be recorded as 列席 at the meetings of some obligations (observers.toml)."""

    obligations: tuple[str, ...]
    level: str
    titles: tuple[str, ...]
    label: str
    rule: str
    source: str


@cache
def observers() -> tuple[Observer, ...]:
    data = tomllib.loads(_OBSERVERS.read_text(encoding="utf-8"))
    out = []
    for v in data.get("observers", ()):
        o = Observer(tuple(v["obligations"]), v["level"], tuple(v["titles"]), v["label"], v["rule"], v["source"])
        if o.level not in ("unit", "parent") or not o.source.strip() or not set(o.titles) <= set(PositionTitle.values):
            raise ValueError(f"observers.toml: {v}")
        out.append(o)
    return tuple(out)
