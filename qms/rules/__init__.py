"""组织规则 — shipped default numbers (with citations) and each organisation's overrides.

The defaults live in ``structure.toml`` beside this file; an organisation overrides a value
for its own subtree with a ``PolicyOverride`` row, and the nearest ancestor's value wins.
The tree's shape and the offices of each kind of unit are in ``tree.toml`` (``shape()``).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from qms.models import PolicyOverride, Unit

_FILE = Path(__file__).with_name("structure.toml")
_TREE_FILE = Path(__file__).with_name("tree.toml")

#: the populations a threshold may count, as the seeds word them
POPULATIONS = ("党员", "正式党员")


@dataclass(frozen=True)
class Rule:
    key: str
    value: int
    label: str
    source: str
    overridden_by: str | None = None  # the unit whose own rule set the value
    kinds: tuple[str, ...] = ()  # the unit kinds it applies to (empty: not tied to a kind)
    counts: str = ""  # "党员" or "正式党员" for a threshold on a number of people


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
            counts = v.get("counts", "")
            if counts and counts not in POPULATIONS:
                raise ValueError(f"{path.name} {k}: counts must be one of {POPULATIONS}")
            out[k] = Rule(k, int(v["value"]), v["label"], v["source"], kinds=tuple(v.get("kinds", ())), counts=counts)
    return out


def _overridden(base: Rule | None, o: PolicyOverride) -> Rule:
    if base is None:
        return Rule(o.key, o.value, o.key, o.source, overridden_by=o.unit.name)
    return replace(base, value=o.value, source=o.source, overridden_by=o.unit.name)


@dataclass(frozen=True)
class Shape:
    """``tree.toml``: which kind may sit under which, which offices each kind has, and which
    offices fill the 纪检 post of a unit — each entry with its source."""

    parents: dict[str, tuple[tuple[str | None, ...], str]]
    titles: dict[str, tuple[tuple[str, ...], str]]
    discipline: dict[str, tuple[tuple[str, ...], str, str]]  # case → (titles, post name, source)


@cache
def shape() -> Shape:
    data = tomllib.loads(_TREE_FILE.read_text(encoding="utf-8"))
    return Shape(
        parents={k: (tuple(None if p == "top" else p for p in v["allowed"]), v["source"]) for k, v in data["parents"].items()},
        titles={k: (tuple(v["allowed"]), v["source"]) for k, v in data["titles"].items()},
        discipline={k: (tuple(v["titles"]), v["post"], v["source"]) for k, v in data["discipline"].items()},
    )


def rules_for(unit: Unit) -> dict[str, Rule]:
    """The effective rule set at a unit: shipped defaults, overridden by the nearest ancestor."""
    rules = dict(defaults())
    ids = [int(p) for p in unit.path.strip("/").split("/") if p]
    overrides = PolicyOverride.objects.filter(unit_id__in=ids).select_related("unit")
    by_depth = sorted(overrides, key=lambda o: o.unit.depth)
    for o in by_depth:  # deeper units come later and win
        rules[o.key] = _overridden(rules.get(o.key), o)
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
            rules[o.key] = _overridden(rules.get(o.key), o)
        out[u.pk] = rules
    return out


def rule_value(unit: Unit, key: str) -> int:
    return rules_for(unit)[key].value


def _term_keys() -> dict[str, str]:
    """Unit kind → the rule giving its default term (the ``term_years_*`` rules' ``kinds``)."""
    out: dict[str, str] = {}
    for rule in defaults().values():
        if rule.key.startswith("term_years_"):
            for kind in rule.kinds:
                out[kind] = rule.key
    return out


#: Unit kind → key of its default term length; a kind not listed (党小组) has no term.
TERM_KEYS = _term_keys()
