"""上级批复的事项类别 — the vocabulary of matters a higher organisation decides
(``rules/decisions.toml``), each with the document that gives it to the higher
organisation."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_FILE = Path(__file__).with_name("rules") / "decisions.toml"


@dataclass(frozen=True)
class DecisionKind:
    key: str
    label: str
    source: str
    #: the matter is a unit to be set up, merged, split or dissolved beneath ``unit``: the
    #: organisation concerned may decide it itself (it is the new unit's 上级党组织)
    within: bool = False


@cache
def decision_kinds() -> dict[str, DecisionKind]:
    data = tomllib.loads(_FILE.read_text(encoding="utf-8"))["kinds"]
    out = {}
    for key, v in data.items():
        if not str(v.get("source", "")).strip():
            raise ValueError(f"decisions.toml: {key} 缺少依据(source)")
        out[key] = DecisionKind(key, v["label"], v["source"], bool(v.get("within", False)))
    return out
