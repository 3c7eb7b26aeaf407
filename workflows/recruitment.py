"""发展党员 — the process as data (``recruitment.toml``): 5 stages, 25 steps, each with who does
it, its record (a form of the record-form library, ``procedures/library/forms.toml`` DJ-JL-11 …)
and its time rule; the numbers are organisation rules
(``recruitment_rules.toml``, registered in ``WorkflowsConfig.ready``, overridable per
organisation by ``PolicyOverride``). Date arithmetic for the rules lives here too.
"""
from __future__ import annotations

import calendar
import datetime as dt
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from qms.models import DecisionOutcome, MemberCategory

_FILE = Path(__file__).with_name("recruitment.toml")
RULES_FILE = Path(__file__).with_name("recruitment_rules.toml")

BY = {"branch": "党支部", "higher": "上级党委"}
KINDS = ("application", "plain", "contacts", "sponsors", "training", "notice", "vote", "approval", "decision")
UNITS = ("months", "workdays", "years_of_age", "")
ANCHORS = ("probation_end",)  # a time counted from a computed day rather than a step


@dataclass(frozen=True)
class Stage:
    key: str
    label: str
    category: str
    n: int


#: the field types of a record form that the step's own inputs fill, per step kind (the people
#: chosen from the roll, the 公示 dates, the training's days and hours, the vote and its result)
KIND_FILLS = {
    "application": {"members"}, "plain": set(), "contacts": {"members"}, "sponsors": {"members"},
    "training": {"score"}, "notice": {"period"}, "vote": {"attendance", "votes", "resolutions"},
    "decision": {"attendance", "votes", "resolutions"}, "approval": {"resolutions"},
}
#: fields filled whatever the kind: the step's date, and the higher organisation's 文号
KEY_FILLS = {"time": "date", "document_no": "text"}
#: the field types a person types in on the step's form
TYPED = ("text", "rich_text", "date", "place", "topic")


@dataclass(frozen=True)
class FormField:
    key: str
    label: str
    type: str
    required: bool
    help: str = ""


@dataclass(frozen=True)
class Form:
    """A record form of the library (code, version, title, fields) — the record of a step."""

    code: str
    version: str
    title: str
    fields: tuple[FormField, ...]


@dataclass(frozen=True)
class Step:
    key: str
    n: int
    label: str
    stage: str
    by: str
    kind: str
    form: Form
    repeat: bool
    source: str
    decision: str = ""  # the 上级批复 kind an approval is recorded as (qms/rules/decisions.toml)
    rule: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def by_label(self) -> str:
        return BY[self.by]

    @property
    def record(self) -> str:
        """What the record holds, in words: the form and its fields."""
        return f"{self.form.code}《{self.form.title}》:" + "、".join(f.label for f in self.form.fields)

    @property
    def typed_fields(self) -> tuple[FormField, ...]:
        """The fields typed in on the step's form (the others are filled by the step itself)."""
        return tuple(f for f in self.form.fields if f.key not in KEY_FILLS and f.type not in KIND_FILLS[self.kind])


@dataclass(frozen=True)
class Outcome:
    """One result a vote or approval step may record (``[outcomes.STEP.KEY]``)."""

    key: str
    step: str
    label: str
    end: str  # the end stage it brings ("" when the process goes on)
    passed: bool | None  # a 支部大会 result: carried by a majority (True) or not (False); None for an approval
    source: str
    again: str = ""  # an approval's result sending the resolution back: the step done again (its 支部大会)


@dataclass(frozen=True)
class End:
    """An end of the process other than 转正 (``[ends.KEY]``): what becomes of the person."""

    key: str
    label: str
    category: str  # the MemberCategory kept on the roster ("" when taken off it)
    off_roster: bool
    source: str


#: the step kinds whose record holds a result chosen from ``[outcomes]``
RESULT_KINDS = ("vote", "decision", "approval")


@dataclass(frozen=True)
class Process:
    stages: dict[str, Stage]
    steps: tuple[Step, ...]
    outcomes: dict[str, dict[str, Outcome]] = field(default_factory=dict, hash=False, compare=False)
    ends: dict[str, End] = field(default_factory=dict, hash=False, compare=False)

    def outcome(self, step: str, key: str) -> Outcome | None:
        return self.outcomes.get(step, {}).get(key)

    def step(self, key: str) -> Step:
        return self.by_key[key]

    @property
    def by_key(self) -> dict[str, Step]:
        return {s.key: s for s in self.steps}

    def stage_steps(self, stage: str) -> list[Step]:
        return [s for s in self.steps if s.stage == stage]


@cache
def process() -> Process:
    """The steps of ``recruitment.toml``, checked: every rule names a known rule key and a source."""
    from qms.decision_kinds import decision_kinds
    from qms.rules import defaults

    data = tomllib.loads(_FILE.read_text(encoding="utf-8"))
    forms = _library_forms()
    stages = {}
    for i, (k, v) in enumerate(data["stages"].items(), 1):
        if v["category"] and v["category"] not in MemberCategory.values:
            raise ValueError(f"recruitment.toml stage {k}: unknown category {v['category']}")
        stages[k] = Stage(k, v["label"], v["category"], i)
    steps, keys = [], set()
    known_rules = defaults()
    for n, v in enumerate(data["steps"], 1):
        rule = dict(v.get("rule", {}))
        source = rule.pop("source", "").strip()
        where = f"recruitment.toml step {v.get('key')}"
        if not source:
            raise ValueError(f"{where}: a source is required")
        if v["stage"] not in stages or v["by"] not in BY or v["kind"] not in KINDS or v["key"] in keys:
            raise ValueError(f"{where}: stage, by, kind or key invalid")
        for name, value in rule.items():
            if name == "unit":
                if value not in UNITS:
                    raise ValueError(f"{where}: unit {value}")
            elif name == "after":
                if value not in keys and value not in ANCHORS:
                    raise ValueError(f"{where}: after {value} is not an earlier step")
            elif value not in known_rules:
                raise ValueError(f"{where}: rule {name} = {value} is not an organisation rule")
        decision = v.get("decision", "")
        if (v["kind"] == "approval") != bool(decision) or (decision and decision not in decision_kinds()):
            raise ValueError(f"{where}: an approval names its 上级批复 kind (decisions.toml), nothing else does")
        form = forms.get(v.get("form", ""))
        if form is None:
            raise ValueError(f"{where}: form {v.get('form')} is not a form of procedures/library/forms.toml")
        for f in form.fields:
            filled = KEY_FILLS.get(f.key) == f.type or f.type in KIND_FILLS[v["kind"]]
            if not filled and f.type not in TYPED:
                raise ValueError(f"{where}: field {f.key} of {form.code} ({f.type}) is neither filled by a {v['kind']} step nor typed in")
        keys.add(v["key"])
        steps.append(Step(v["key"], n, v["label"], v["stage"], v["by"], v["kind"], form,
                          bool(v.get("repeat", False)), source, decision, rule))
    if len(steps) != 25 or len(stages) != 5:
        raise ValueError("recruitment.toml: the 细则 has 5 stages and 25 steps")
    ends = _ends(data.get("ends", {}))
    outcomes = _outcomes(data.get("outcomes", {}), {s.key: s for s in steps}, ends)
    return Process(stages, tuple(steps), outcomes, ends)


def _library_forms() -> dict[str, Form]:
    """The record forms of the standard library (the file the library loader reads)."""
    from procedures.library_loader import validate_library

    problems, forms, _documents = validate_library()
    if problems:
        raise ValueError(f"procedures/library: {problems[0]}")
    return {code: Form(code, f["version"], f["title"],
                       tuple(FormField(x["key"], x["label"], x["type"], x.get("required", True), x.get("help", ""))
                             for x in f["fields"]))
            for code, f in forms.items()}


def _ends(data: dict) -> dict[str, End]:
    from workflows.models import RecruitStage

    out = {}
    for key, v in data.items():
        if key not in RecruitStage.values or key in ("done",) or not str(v.get("source", "")).strip():
            raise ValueError(f"recruitment.toml ends.{key}: an end stage of the applicant, with its source")
        category = v.get("category", "")
        if category and category not in MemberCategory.values or bool(category) == bool(v.get("off_roster")):
            raise ValueError(f"recruitment.toml ends.{key}: either a category kept on the roster or off_roster")
        out[key] = End(key, v["label"], category, bool(v.get("off_roster")), v["source"])
    return out


def _outcomes(data: dict, steps: dict[str, Step], ends: dict[str, End]) -> dict[str, dict[str, Outcome]]:
    out: dict[str, dict[str, Outcome]] = {}
    for step_key, results in data.items():
        step = steps.get(step_key)
        if step is None or step.kind not in RESULT_KINDS:
            raise ValueError(f"recruitment.toml outcomes.{step_key}: not a vote or approval step")
        out[step_key] = {}
        for key, v in results.items():
            where = f"recruitment.toml outcomes.{step_key}.{key}"
            if not str(v.get("source", "")).strip() or not str(v.get("label", "")).strip():
                raise ValueError(f"{where}: a label and a source are required")
            end = v.get("end", "")
            if end and end not in ends:
                raise ValueError(f"{where}: end {end} is not in [ends]")
            passed = v.get("passed")
            if (step.kind == "approval") != (passed is None):
                raise ValueError(f"{where}: a 支部大会 result says whether it passed; an approval's does not")
            if step.kind == "approval" and key not in DecisionOutcome.values:
                raise ValueError(f"{where}: an approval's result is a 上级批复 outcome ({DecisionOutcome.values})")
            again = v.get("again", "")
            if again and (step.kind != "approval" or again != step.rule.get("after")):
                raise ValueError(f"{where}: again names the 支部大会 step this approval answers ({step.rule.get('after')})")
            if again and end:
                raise ValueError(f"{where}: a result sent back to the branch does not end the process")
            out[step_key][key] = Outcome(key, step_key, v["label"], end, passed, v["source"], again)
    missing = [k for k, s in steps.items() if s.kind in RESULT_KINDS and not out.get(k)]
    if missing:
        raise ValueError(f"recruitment.toml: steps {missing} need their results in [outcomes]")
    return out


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (the month's last day where it is shorter)."""
    m = day.month - 1 + months
    year, month = day.year + m // 12, m % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


#: What a branch typically writes in each step's typed-in fields — the demo's records (and the
#: tests' walk) use them so that every record is 要素齐全 as the form asks.
SAMPLE_FIELDS = {
    "talk": {"talker": "支部书记", "content": "了解入党动机和对党的认识,提出努力方向"},
    "higher_talk": {"talker": "党委组织员", "content": "了解入党动机和对党的认识,谈话合格"},
    "activist_decide": {"basis": "党员推荐", "conclusion": "同意确定为入党积极分子"},
    "candidate_decide": {"basis": "听取党小组、培养联系人、党员和群众意见", "conclusion": "同意列为发展对象"},
    "committee_review": {"basis": "审查发展对象的条件、培养教育情况", "conclusion": "合格,报上级党委预审"},
    "activist_file": {"filed_with": "上级党委"}, "candidate_file": {"filed_with": "上级党委"},
    "approve_file": {"filed_with": "上级党委组织部门"},
    "assessment": {"opinion": "学习积极,工作表现较好,继续培养"},
    "probation_assessment": {"opinion": "按期参加组织生活,表现良好"},
    "political_review": {"method": "同本人谈话、查阅档案材料", "conclusion": "政治审查合格"},
    "training": {"organiser": "党委党校"},
    "pre_review": {"conclusion": "预审合格,公示无异议"},
    "form": {"number": "2025-001"},
    "join_group": {"group": "第一党小组"},
    "oath": {"place": "党员活动室", "leader": "支部书记"},
    "archive": {"materials": "入党志愿书、入党申请书、政治审查材料、转正申请书和培养教育考察材料"},
}
