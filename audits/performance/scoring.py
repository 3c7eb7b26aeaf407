"""党建目标与考核 — yearly objectives measured from the data, and the scoring scheme of
季度督查、半年考核、全年点评 (seed 001 四(三)) with a ranking of units.

Defaults come from ``audits/performance/rules/objectives.toml`` (with sources) and are copied into the
database per organisation and year, where they can be changed (targets, items, points, the
rounds and the kinds of unit scored) — each change ledgered with its reason. The numbers of
the scoring (what an item with nothing due earns) are rules in ``audits/performance/rules.toml``,
overridable per organisation. Computed items score ``points × indicator``; the
others are entered by inspectors, who may not score their own unit.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audits.internal.services import own_units
from audits.performance import annual, indicators
from audits.performance.models import (
    COUNT_PREFIX,
    Comparator,
    Objective,
    Score,
    ScoringItem,
    ScoringScheme,
)
from procedures.library_loader import library_targets
from qms import ledger
from qms.models import Unit, UnitKind
from qms.permissions import act
from qms.rules import rules_for

ONE_DECIMAL = Decimal("0.1")


def _manager(actor, root: Unit) -> None:
    """Who may act is the permission matrix's (``objectives.manage``); the system never does."""
    if actor is None:
        raise ValidationError("目标和考核须由具名人员设定")


# ------------------------------------------------------------------------------ objectives


def own_unit_duty(actor, unit: Unit) -> set[str]:
    """``own_unit`` when the scorer belongs to or holds office in the unit scored (or a unit
    inside it). An office in a unit *above* it is no conflict: that is the 上级组织 the matrix
    names as the scorer (score.enter: officer_above). The audit rule (independence_conflicts)
    also excludes auditing one's own subtree; used here it left no 上级组织委员 able to score."""
    if actor is None:
        return set()
    return {"own_unit"} if any(own.path.startswith(unit.path) for own in own_units(actor, timezone.localdate())) else set()


@act("objectives.manage", unit=lambda root, **_: root)
@transaction.atomic
def objectives_seed(root: Unit, year: int, *, actor) -> list[Objective]:
    """The year's objectives from the 方针目标 the manual states (``library_targets``; idempotent:
    existing ones are kept)."""
    _manager(actor, root)
    have = set(Objective.objects.filter(root=root, year=year).values_list("indicator", flat=True))
    for spec in library_targets():
        if spec["indicator"] in have:
            continue
        o = Objective.objects.create(root=root, year=year, indicator=spec["indicator"], title=spec["title"],
                                     comparator=spec["comparator"], target=Decimal(str(spec["target"])), source=spec["source"])
        ledger.record("objective.add", o, actor=actor)
    return list(Objective.objects.filter(root=root, year=year))


#: the largest count a count target may name (the field holds 10 digits before the point)
MAX_COUNT = Decimal(10) ** 9


def countable_items() -> dict[str, dict]:
    """Items of the yearly form (seed 004 篇5) a count target may be set on: every cell that is a
    number of things (次、人、篇、元…), not a percentage."""
    names = annual.cell_names()
    return {k: {**c, "label": names[k]} for k, c in annual.cell_specs().items() if not c.get("percent") and c["unit"] != "%"}


def _count_title(item: dict, comparator: str, count: Decimal) -> str:
    return f"{item['label']}{dict(Comparator.choices)[comparator]}{count.normalize():f}{item['unit']}"


def _check_count(comparator: str, count: Decimal) -> Decimal:
    """The count as stored (two decimals, as 党费 in yuan), refused unless above 0 and below ten
    hundred million."""
    if comparator not in Comparator.values:
        raise ValidationError("请选择比较方式")
    if not count.is_finite() or not Decimal(0) < count < MAX_COUNT:
        raise ValidationError("目标数量应为大于 0 的数(不超过十亿)")
    if count != count.quantize(Decimal("0.01")):
        raise ValidationError("目标数量最多保留两位小数")
    return count


@act("objectives.manage", unit=lambda root, **_: root)
@transaction.atomic
def objective_add_count(root: Unit, year: int, *, actor, item: str, comparator: str, count: Decimal, source: str) -> Objective:
    """A count target on an item of the yearly form (e.g. 全年上党课 ≥ 4 次), with the document it
    comes from. It is met when 实际 ÷ 目标数量 reaches 100 % (≥) or stays within it (≤)."""
    _manager(actor, root)
    spec = countable_items().get(item)
    if spec is None:
        raise ValidationError("请选择年度统计中的一个数量项目")
    count = _check_count(comparator, count)
    if not (source or "").strip():
        raise ValidationError("请注明目标依据(本组织的文件及条款)")
    if Objective.objects.filter(root=root, year=year, indicator=COUNT_PREFIX + item).exists():
        raise ValidationError(f"“{spec['label']}”已有 {year} 年目标,请直接修改")
    o = Objective.objects.create(root=root, year=year, indicator=COUNT_PREFIX + item, title=_count_title(spec, comparator, count),
                                 comparator=comparator, target=Decimal(100), count_target=count, source=source.strip())
    ledger.record("objective.add", o, actor=actor)
    return o


@act("objectives.manage", unit=lambda objective, **_: objective.root)
@transaction.atomic
def objective_set(objective: Objective, *, actor, target: Decimal, comparator: str, reason: str) -> Objective:
    """Change a target — an amendment with its reason. For a count target ``target`` is the
    number aimed at (the title follows)."""
    _manager(actor, objective.root)
    if not (reason or "").strip():
        raise ValidationError("修改目标须说明原因")
    o = Objective.objects.select_for_update().get(pk=objective.pk)
    before = ledger.snapshot(o)
    if o.count_key:
        target = _check_count(comparator, target)
        spec = countable_items().get(o.count_key)
        if spec is None:
            raise ValidationError("该目标的统计项目已不在年度统计中")
        o.count_target, o.comparator, o.title = target, comparator, _count_title(spec, comparator, target)
    else:
        if comparator not in Comparator.values or not Decimal(0) <= target <= Decimal(100):
            raise ValidationError("目标值应为 0–100 之间的百分数")
        o.target, o.comparator = target, comparator
    o.save()
    ledger.record("objective.amend", o, actor=actor, before=before, reason=reason.strip())
    return o


@dataclass(frozen=True)
class CountShare(indicators.Share):
    """A count target's result: ``num`` the count reached (from the yearly form), ``den`` the
    count aimed at, so ``value`` is the share of the target reached."""

    unit: str = ""
    entered: bool = True  # False: a hand-entered item not yet entered

    @property
    def value(self) -> float | None:
        return None if not (self.entered and self.den) else round(float(self.num) / float(self.den), 4)

    def text(self) -> str:
        if not self.entered:
            return "—(年度统计尚未填报)"
        return f"{_number(self.num)}{self.unit}(目标 {_number(self.den)}{self.unit})"


def _number(n) -> str:
    return f"{Decimal(str(n)).normalize():f}"


def _plain(n) -> int | Decimal:
    """4.00 → 4 (a whole count shows no decimals wherever the result is printed)."""
    d = Decimal(str(n))
    return int(d) if d == d.to_integral_value() else d.normalize()


@dataclass
class ObjectiveStatus:
    objective: Objective
    share: indicators.Share
    met: bool | None

    @property
    def target_text(self) -> str:
        """"≥95.0%", or for a count target "≥4次"."""
        o = self.objective
        if o.count_key:
            return f"{o.get_comparator_display()}{_number(o.count_target)}{getattr(self.share, 'unit', '')}"
        return f"{o.get_comparator_display()}{o.target}%"


def objectives_status(root: Unit, year: int, *, today: dt.date | None = None) -> list[ObjectiveStatus]:
    """Each objective of the year against its indicator computed for ``root``'s subtree; count
    targets against the yearly form's item (``annual.rows``, counted once for them all)."""
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    objectives = list(Objective.objects.filter(root=root, year=year).order_by("id"))
    counts = ({c.key: c for r in annual.rows(root, year) for c in r.cells}
              if any(o.count_key for o in objectives) else {})
    out = []
    for o in objectives:
        if o.count_key:
            cell = counts.get(o.count_key)
            share = CountShare(num=_plain(cell.value if cell and cell.value is not None else 0), den=_plain(o.count_target or 0),
                               unit=cell.unit if cell else "", entered=cell is not None and cell.value is not None)
        else:
            share = indicators.value(o.indicator, root, start, end, today=today)
        out.append(ObjectiveStatus(o, share, o.met(share.value)))
    return out


# ------------------------------------------------------------------------------- scoring


@act("objectives.manage", unit=lambda root, **_: root)
@transaction.atomic
def scheme_seed(root: Unit, year: int, *, actor) -> ScoringScheme:
    """The year's scheme from the defaults (idempotent)."""
    _manager(actor, root)
    existing = ScoringScheme.objects.filter(root=root, year=year).first()
    if existing:
        return existing
    spec = indicators.rules()["scheme"]
    scheme = ScoringScheme.objects.create(root=root, year=year, title=spec["title"], source=spec["source"],
                                          rounds=default_rounds(), rounds_source=spec["rounds_source"],
                                          scored_kinds=list(spec["scored_kinds"]), scored_kinds_source=spec["scored_kinds_source"])
    ledger.record("scheme.add", scheme, actor=actor)
    for i, it in enumerate(spec["items"], start=1):
        item = ScoringItem.objects.create(scheme=scheme, order=i, title=it["title"], points=Decimal(str(it["points"])),
                                          indicator=it.get("indicator", ""), kinds=list(it.get("kinds", ())),
                                          source=it.get("source", ""))
        ledger.record("scheme.item_add", item, actor=actor)
    return scheme


def _check_item(title: str, points: Decimal, indicator: str) -> None:
    if not (title or "").strip():
        raise ValidationError("请填写考核内容")
    if not Decimal(0) < points <= Decimal(100):
        raise ValidationError("分值应在 0–100 之间")
    if indicator and indicator not in indicators.names():
        raise ValidationError("未知的计算指标")


@act("objectives.manage", unit=lambda scheme, **_: scheme.root)
@transaction.atomic
def item_add(scheme: ScoringScheme, *, actor, title: str, points: Decimal, indicator: str = "") -> ScoringItem:
    _manager(actor, scheme.root)
    _check_item(title, points, indicator)
    order = (scheme.items.order_by("-order").values_list("order", flat=True).first() or 0) + 1
    item = ScoringItem.objects.create(scheme=scheme, order=order, title=title.strip(), points=points, indicator=indicator)
    ledger.record("scheme.item_add", item, actor=actor)
    return item


@act("objectives.manage", unit=lambda item, **_: item.scheme.root)
@transaction.atomic
def item_update(item: ScoringItem, *, actor, title: str, points: Decimal, indicator: str, reason: str) -> ScoringItem:
    """Change an item's wording, points or indicator (with a reason)."""
    _manager(actor, item.scheme.root)
    _check_item(title, points, indicator)
    if not (reason or "").strip():
        raise ValidationError("修改考核项目须说明原因")
    i = ScoringItem.objects.select_for_update().get(pk=item.pk)
    if indicator and i.scores.exists():
        raise ValidationError("该项目已有人工评分,不能改为自动计算")
    if points < max(i.scores.values_list("value", flat=True), default=Decimal(0)):
        raise ValidationError("分值不能低于已评得分")
    before = ledger.snapshot(i)
    i.title, i.points, i.indicator = title.strip(), points, indicator
    i.save()
    ledger.record("scheme.item_update", i, actor=actor, before=before, reason=reason.strip())
    return i


@act("objectives.manage", unit=lambda item, **_: item.scheme.root)
@transaction.atomic
def item_remove(item: ScoringItem, *, actor, reason: str) -> None:
    _manager(actor, item.scheme.root)
    if item.scores.exists():
        raise ValidationError("该项目已有评分,不能删除")
    if not (reason or "").strip():
        raise ValidationError("删除考核项目须说明原因")
    ledger.record("scheme.item_remove", item, actor=actor, before=ledger.snapshot(item), after=None, reason=reason.strip())
    item.delete()


# ---------------------------------------------------------------- rounds and units scored

#: the key of a round by its months; the usual spans keep the short keys scores were entered
#: under (Q1–Q4 督查, H1/H2 考核, Y the whole year), any other span is "M<from>-<to>"
_SPAN_KEYS = {(1, 3): "Q1", (4, 6): "Q2", (7, 9): "Q3", (10, 12): "Q4", (1, 6): "H1", (7, 12): "H2", (1, 12): "Y"}
#: the whole-year round every scheme keeps (the home page's ranking shows it)
YEAR_ROUND = "Y"


def round_key(first: int, last: int) -> str:
    return _SPAN_KEYS.get((first, last), f"M{first}-{last}")


def default_rounds() -> list[dict]:
    """考核轮次 of the shipped scheme (seed 001 四(三)), each with its key."""
    return [{"key": round_key(r["from"], r["to"]), "name": r["name"], "from": r["from"], "to": r["to"]}
            for r in indicators.rules()["scheme"]["rounds"]]


def scheme_rounds(scheme: ScoringScheme | None) -> dict[str, str]:
    """Round key → name, in the scheme's order (the defaults while no scheme is set up)."""
    return {r["key"]: r["name"] for r in (scheme.rounds if scheme else default_rounds())}


def round_dates(scheme: ScoringScheme, period: str) -> tuple[dt.date, dt.date]:
    """The first and last day of one of the scheme's rounds."""
    for r in scheme.rounds:
        if r["key"] == period:
            return dt.date(scheme.year, r["from"], 1), indicators._month_end(dt.date(scheme.year, r["to"], 1))
    raise ValidationError("考核轮次无效")


def _why(reason: str, source: str) -> tuple[str, str]:
    if not (reason or "").strip():
        raise ValidationError("修改考核方案须说明原因")
    if not (source or "").strip():
        raise ValidationError("请注明依据(本组织的制度文件及条款)")
    return reason.strip(), source.strip()


@act("objectives.manage", unit=lambda scheme, **_: scheme.root)
@transaction.atomic
def scheme_rounds_set(scheme: ScoringScheme, *, actor, rounds: list[tuple[str, int, int]], source: str, reason: str) -> ScoringScheme:
    """An organisation's own 考核轮次 (name, first month, last month), e.g. another cycle than
    季度督查、半年考核、全年点评. One round must span the whole year; a round already scored
    may be renamed but not dropped."""
    _manager(actor, scheme.root)
    reason, source = _why(reason, source)
    out, names = [], set()
    for name, first, last in rounds:
        name = (name or "").strip()
        if not name:
            raise ValidationError("请填写轮次名称")
        if not (1 <= first <= last <= 12):
            raise ValidationError(f"{name}:月份应在 1–12 之间,且起始月不晚于结束月")
        key = round_key(first, last)
        if name in names or key in {r["key"] for r in out}:
            raise ValidationError(f"{name}:轮次名称或月份与其他轮次重复")
        names.add(name)
        out.append({"key": key, "name": name, "from": first, "to": last})
    if not any(r["key"] == YEAR_ROUND for r in out):
        raise ValidationError("考核轮次须包括一个全年(1–12 月)的轮次")
    s = ScoringScheme.objects.select_for_update().get(pk=scheme.pk)
    dropped = {r["key"] for r in s.rounds} - {r["key"] for r in out}
    scored = Score.objects.filter(item__scheme=s, period__in=dropped).values_list("period", flat=True).first()
    if scored:
        raise ValidationError(f"“{scheme_rounds(s)[scored]}”已有评分,不能删除或改变月份")
    before = ledger.snapshot(s)
    s.rounds, s.rounds_source = out, source
    s.save()
    ledger.record("scheme.update", s, actor=actor, before=before, reason=reason)
    return s


@act("objectives.manage", unit=lambda scheme, **_: scheme.root)
@transaction.atomic
def scheme_kinds_set(scheme: ScoringScheme, *, actor, kinds: list[str], source: str, reason: str) -> ScoringScheme:
    """被考核组织 — which kinds of unit the scheme ranks (分类考核)."""
    _manager(actor, scheme.root)
    reason, source = _why(reason, source)
    kinds = [k for k in UnitKind.values if k in set(kinds)]
    if not kinds:
        raise ValidationError("请至少选择一类被考核组织")
    s = ScoringScheme.objects.select_for_update().get(pk=scheme.pk)
    scored = Score.objects.filter(item__scheme=s).exclude(unit__kind__in=kinds).select_related("unit").first()
    if scored:
        raise ValidationError(f"{scored.unit.name}已有评分,不能取消其类别的考核")
    before = ledger.snapshot(s)
    s.scored_kinds, s.scored_kinds_source = kinds, source
    s.save()
    ledger.record("scheme.update", s, actor=actor, before=before, reason=reason)
    return s


def scored_units(scheme: ScoringScheme) -> list[Unit]:
    """被考核组织 — the active units of the scheme's subtree whose kind the scheme scores."""
    return list(Unit.objects.filter(path__startswith=scheme.root.path, kind__in=scheme.scored_kinds, is_active=True)
                .order_by("path"))


def scorer_duties(unit: Unit, actor, **_) -> set[str]:
    """``own_unit`` (回避) and ``coalition_lead`` — the 组长 of a 协作组 the unit belongs to, who may
    run its 统一考核验收 (seed 003 一2)."""
    from workflows.coalitions import cooperation_lead

    return own_unit_duty(actor, unit) | ({"coalition_lead"} if cooperation_lead(actor, unit) else set())


@act("score.enter", unit=lambda unit, **_: unit, duties=scorer_duties)
@transaction.atomic
def score_enter(item: ScoringItem, unit: Unit, period: str, *, actor, value: Decimal, note: str) -> Score:
    """督查评分 — a manual item's score for a unit and round; changing it is an amendment
    (the note says why). Inspectors may not score their own unit."""
    scheme = ScoringScheme.objects.select_related("root").get(pk=item.scheme_id)  # its rounds and kinds as they are now
    _manager(actor, scheme.root)
    if item.indicator:
        raise ValidationError("该项目由系统按数据计算,不能人工评分")
    if period not in scheme_rounds(scheme):
        raise ValidationError("考核轮次无效")
    if unit.kind not in scheme.scored_kinds or not unit.path.startswith(scheme.root.path):
        raise ValidationError(f"{unit.name}不是本方案的被考核组织")
    if not Decimal(0) <= value <= item.points:
        raise ValidationError(f"得分应在 0–{item.points} 之间")
    if not (note or "").strip():
        raise ValidationError("请填写评分说明(依据)")
    # 回避 (a scorer of the unit scored) is the matrix's forbid: own_unit, asked before this runs
    s = Score.objects.select_for_update().filter(item=item, unit=unit, period=period).first()
    if s is None:
        s = Score.objects.create(item=item, unit=unit, period=period, value=value, note=note.strip(), entered_by=actor)
        ledger.record("score.enter", s, actor=actor)
        return s
    before = ledger.snapshot(s)
    s.value, s.note, s.entered_by = value, note.strip(), actor
    s.save()
    ledger.record("score.amend", s, actor=actor, before=before, reason=note.strip())
    return s


@dataclass
class UnitScore:
    unit: Unit
    cells: list[tuple[Decimal | None, str]] = field(default_factory=list)  # (score, how)
    total: Decimal = Decimal(0)
    pending: int = 0
    rank: int = 0


def ranking(scheme: ScoringScheme, period: str, *, today: dt.date | None = None) -> tuple[list[ScoringItem], list[UnitScore]]:
    """考核排名 — each unit's score per item and total for a round, highest first. Computed
    items: points × the indicator over the round's dates (when nothing was due: the share of the
    points the rule ``scoring_nothing_due_percent`` gives, full points by default); manual items
    not yet scored count 0 and are marked 待评分. Queries: one per computed item plus one for
    the manual scores, whatever the number of units."""
    start, end = round_dates(scheme, period)
    nothing_due = Decimal(min(max(rules_for(scheme.root)["scoring_nothing_due_percent"].value, 0), 100)) / 100
    items = list(scheme.items.all())
    units = scored_units(scheme)
    measured = {i.pk: indicators.measure(i.indicator, units, start, end, today=today) for i in items if i.indicator}
    manual = {(s.item_id, s.unit_id): s for s in Score.objects.filter(item__scheme=scheme, period=period)}
    rows = []
    for u in units:
        row = UnitScore(u)
        for i in items:
            if i.kinds and u.kind not in i.kinds:  # 分类考核: the item does not score this kind
                row.cells.append((None, "不适用"))
                continue
            if i.indicator:
                share = measured[i.pk][u.pk]
                earned = nothing_due if share.value is None else Decimal(str(share.value))
                row.cells.append(((i.points * earned).quantize(ONE_DECIMAL, ROUND_HALF_UP), share.text()))
            else:
                s = manual.get((i.pk, u.pk))
                row.cells.append((s.value if s else None, s.note if s else "待评分"))
                row.pending += s is None
            row.total += row.cells[-1][0] or Decimal(0)
        rows.append(row)
    rows.sort(key=lambda r: (-r.total, r.unit.path))
    for n, r in enumerate(rows, start=1):
        r.rank = rows[n - 2].rank if n > 1 and r.total == rows[n - 2].total else n
    return items, rows
