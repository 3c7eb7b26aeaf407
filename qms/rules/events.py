"""事件词表 — the member events the product knows (``events.toml`` beside this file).

Each event names the obligation events it triggers; the obligations themselves (what is owed,
by when, for which units) are procedure-library data that an organisation overrides with its
own procedure version. ``workflows.scheduler.on_member_event`` reads ``triggers`` from here.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_FILE = Path(__file__).with_name("events.toml")

#: the service that records an event by hand on the member's page (登记党员情况)
BY_HAND = "member_event_record"


@dataclass(frozen=True)
class EventDef:
    key: str
    label: str
    recorded_with: str
    triggers: tuple[str, ...]
    source: str

    @property
    def by_hand(self) -> bool:
        return self.recorded_with == BY_HAND


@cache
def vocabulary() -> dict[str, EventDef]:
    data = tomllib.loads(_FILE.read_text(encoding="utf-8"))["events"]
    out = {}
    for key, v in data.items():
        if not str(v.get("source", "")).strip():
            raise ValueError(f"events.toml: {key} 缺少依据(source)")
        out[key] = EventDef(key, v["label"], v["recorded_with"], tuple(v.get("triggers", ())), v["source"])
    return out


@dataclass(frozen=True)
class CalendarEvent:
    """An obligation event the product emits from the calendar (任期届满), not a person."""

    key: str
    label: str
    emitted_by: str  # "module.function" that emits it
    source: str


@cache
def calendar_events() -> dict[str, CalendarEvent]:
    data = tomllib.loads(_FILE.read_text(encoding="utf-8")).get("calendar", {})
    return {k: CalendarEvent(k, v["label"], v["emitted_by"], v["source"]) for k, v in data.items()}


def emitted() -> set[str]:
    """Every obligation event something can emit: triggered by a member event, or by the calendar."""
    return {t for e in vocabulary().values() for t in e.triggers} | set(calendar_events())


def recordable() -> list[EventDef]:
    """The events a secretary records on the member's page, in the file's order."""
    return [e for e in vocabulary().values() if e.by_hand]


def triggers_for(kind: str) -> tuple[str, ...]:
    e = vocabulary().get(kind)
    return e.triggers if e else ()
