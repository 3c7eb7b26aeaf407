"""组织规则 — shipped default numbers (with citations) and each organisation's overrides.

The defaults live in ``structure.toml`` beside this file; an organisation overrides a value
for its own subtree with a ``PolicyOverride`` row, and the nearest ancestor's value wins.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from qms.models import PolicyOverride, Unit

_FILE = Path(__file__).with_name("structure.toml")


@dataclass(frozen=True)
class Rule:
    key: str
    value: int
    label: str
    source: str
    overridden_by: str | None = None  # the unit whose own rule set the value


#: Rule files of the apps above (``register``): their numbers join the defaults and are
#: overridden per organisation the same way.
_MORE: list[Path] = []


def register(path: Path) -> None:
    """An app above ``qms`` adds its own rule file (called from its ``AppConfig.ready``)."""
    if path not in _MORE:
        _MORE.append(path)
        defaults.cache_clear()


@cache
def defaults() -> dict[str, Rule]:
    out: dict[str, Rule] = {}
    for path in (_FILE, *_MORE):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for k, v in data.items():
            if k in out:
                raise ValueError(f"{path.name}: 规则 {k} 与已有规则重名")
            out[k] = Rule(k, int(v["value"]), v["label"], v["source"])
    return out


def rules_for(unit: Unit) -> dict[str, Rule]:
    """The effective rule set at a unit: shipped defaults, overridden by the nearest ancestor."""
    rules = dict(defaults())
    ids = [int(p) for p in unit.path.strip("/").split("/") if p]
    overrides = PolicyOverride.objects.filter(unit_id__in=ids).select_related("unit")
    by_depth = sorted(overrides, key=lambda o: o.unit.depth)
    for o in by_depth:  # deeper units come later and win
        base = rules.get(o.key)
        label = base.label if base else o.key
        rules[o.key] = Rule(o.key, o.value, label, o.source, overridden_by=o.unit.name)
    return rules


def rules_for_many(units: list[Unit]) -> dict[int, dict[str, Rule]]:
    """``rules_for`` for many units at once (one query for all the overrides)."""
    overrides = list(PolicyOverride.objects.select_related("unit"))
    base = dict(defaults())
    if not overrides:
        return {u.pk: base for u in units}
    by_unit: dict[int, list] = {}
    for o in overrides:
        by_unit.setdefault(o.unit_id, []).append(o)
    out: dict[int, dict[str, Rule]] = {}
    for u in units:
        ids = [int(p) for p in u.path.strip("/").split("/") if p]
        rules = dict(base)
        for o in sorted((o for i in ids for o in by_unit.get(i, [])), key=lambda o: o.unit.depth):
            b = rules.get(o.key)
            rules[o.key] = Rule(o.key, o.value, b.label if b else o.key, o.source, overridden_by=o.unit.name)
        out[u.pk] = rules
    return out


def rule_value(unit: Unit, key: str) -> int:
    return rules_for(unit)[key].value


TERM_KEYS = {
    "committee": "term_years_committee",
    "general_branch": "term_years_general_branch",
    "branch": "term_years_branch",
    "joint_branch": "term_years_branch",
    "temp_branch": "term_years_branch",
}
