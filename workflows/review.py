"""民主评议党员 — the grade vocabulary and the 组织处置 measures as cited data (``review.toml``).

Seed 001 三(二)4: 个人自评 → 党员互评 → 民主测评, then the 支委会 or the 党员大会 gives each member
a 评定意见; a member graded 不合格 is dealt with (组织处置) promptly. The seeds name only 不合格;
the other grade words are this system's default and say so in their source.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_FILE = Path(__file__).with_name("review.toml")


@dataclass(frozen=True)
class Choice:
    label: str
    source: str
    disposal: bool = False
    approval: str = ""  # a measure the higher organisation must approve ("removal": 除名)


@dataclass(frozen=True)
class ReviewRules:
    grades: tuple[Choice, ...]
    measures: tuple[Choice, ...]
    deciders_source: str
    poll_source: str

    @property
    def grade_labels(self) -> list[str]:
        return [g.label for g in self.grades]

    @property
    def disposal_grades(self) -> set[str]:
        """The grades that call for a 组织处置 (不合格)."""
        return {g.label for g in self.grades if g.disposal}

    @property
    def measure_labels(self) -> list[str]:
        return [m.label for m in self.measures]

    @property
    def removal_measures(self) -> set[str]:
        """The measures that go to the higher organisation as a 除名 request (``approval = "removal"``)."""
        return {m.label for m in self.measures if m.approval == "removal"}


@cache
def rules() -> ReviewRules:
    data = tomllib.loads(_FILE.read_text(encoding="utf-8"))
    grades = tuple(Choice(g["label"], g["source"], bool(g.get("disposal", False))) for g in data["grades"])
    measures = tuple(Choice(m["label"], m["source"], approval=m.get("approval", "")) for m in data["measures"])
    if any(m.approval not in ("", "removal") for m in measures):
        raise ValueError("review.toml: a measure's approval may only be \"removal\"")
    if not grades or not all(c.source.strip() for c in grades + measures):
        raise ValueError("review.toml: every grade and measure needs a source")
    return ReviewRules(grades, measures, data["deciders_source"], data["poll_source"])
