"""The rules ``qms`` keeps, for the rule catalogue (``qms.catalogue``): the organisation rules
(``rules/structure.toml`` and the rule files of the apps above), the tree's shape
(``rules/tree.toml``) and the ledger. The member-event vocabulary (``rules/events.toml``) is listed
by ``workflows.catalogue``, which makes the events act and knows the obligations they trigger."""
from __future__ import annotations

from collections.abc import Iterator

from qms import rules as org_rules
from qms.catalogue import Entry, checked_sites, how_of, origin_of, readers
from qms.models import Unit, UnitKind


def _kind_of(rule: org_rules.Rule) -> str:
    if rule.key.endswith("_days") or rule.key.startswith("term_years_") or rule.key.endswith("_months"):
        return "deadline"
    if rule.value <= 2 and ("0 为" in rule.label or "1 为" in rule.label or "关闭" in rule.label):
        return "switch"
    return "threshold"


def _kinds_text(kinds) -> str:
    return "、".join(str(UnitKind(k).label) for k in kinds if k in UnitKind.values)


def organisation_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """组织规则: each number with its value at ``unit``, and who overrode it."""
    below = org_rules.rules_for_many(units)
    for key, rule in org_rules.rules_for(unit).items():
        if key not in org_rules.defaults():
            continue  # an override whose rule no longer exists is not a rule in force
        modules = readers(key)
        origin, detail = origin_of(rule.source, overridden_by=rule.overridden_by, library=rule.key)
        others = sorted({r[key].overridden_by for uid, r in below.items() if uid != unit.pk and r[key].overridden_by
                         and r[key].overridden_by != rule.overridden_by})
        value = str(rule.value) + (f"(下级{'、'.join(others)}另有规定)" if others else "")
        if rule.counts:
            value += f"(按{rule.counts}计)"
        yield Entry(
            key=f"rule:{key}", kind=_kind_of(rule), title=rule.label, value=value, source=rule.source,
            origin=origin, origin_detail=detail if origin == "override" else "",
            enforced=tuple(dict.fromkeys(how_of(m) for m in modules)), where=modules,
            scope=_kinds_text(rule.kinds),
        )


def tree_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """组织结构: which kind may sit under which, the offices of each kind, the 纪检 posts."""
    shape = org_rules.shape()
    parent_sites = checked_sites(("qms.services._check_parent", "shape().parents"))
    for kind, (allowed, source) in shape.parents.items():
        where = "、".join("顶层" if p is None else str(UnitKind(p).label) for p in allowed)
        yield Entry(key=f"tree:parents:{kind}", kind="structure", title=f"{UnitKind(kind).label}可设在",
                    value=where, source=source, origin=origin_of(source)[0],
                    enforced=("guard",) if parent_sites else (), where=parent_sites)
    title_sites = checked_sites(("qms.services._check_seats", "shape().titles"))
    from qms.models import PositionTitle

    for kind, (titles, source) in shape.titles.items():
        yield Entry(key=f"tree:titles:{kind}", kind="structure", title=f"{UnitKind(kind).label}可设的职务",
                    value="、".join(str(PositionTitle(t).label) for t in titles), source=source,
                    origin=origin_of(source)[0], enforced=("guard",) if title_sites else (), where=title_sites)
    post_sites = checked_sites(("qms.structure.tree_warnings", "shape().discipline"))
    for case, (titles, post, source) in shape.discipline.items():
        yield Entry(key=f"tree:discipline:{case}", kind="structure", title=f"纪检岗位:{post}",
                    value="、".join(str(PositionTitle(t).label) for t in titles), source=source,
                    origin=origin_of(source)[0], enforced=("warning",) if post_sites else (), where=post_sites)


def seat_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """空缺补选: the offices each kind of unit must have filled (``tree.toml`` [seats])."""
    from qms.models import PositionTitle
    from qms.structure import required_seats

    sites = checked_sites(("qms.structure.tree_warnings", "required_seats"))
    for kind, (titles, source) in required_seats().items():
        yield Entry(key=f"tree:seats:{kind}", kind="structure", title=f"{UnitKind(kind).label}须配备(空缺时提示补选)",
                    value="、".join(str(PositionTitle(t).label) for t in titles), source=source,
                    origin=origin_of(source)[0], enforced=("warning",) if sites else (), where=sites)


def ledger_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """留痕: every change is a ledger entry chained by hash; the chain is verified."""
    sites = checked_sites(("qms.ledger.record", "prev_hash"), ("qms.ledger.verify", "prev_hash"))
    yield Entry(key="ledger:chain", kind="record", title="每一次变更写入留痕台账(哈希链),并定期校验",
                value="同一事务内留痕;校验不通过即报告", source="seed 001 二(九):防止弄虚作假;seed 000 三(四):会议记录、组织生活活动档案等工作台账",
                enforced=("guard",) if sites else (), where=sites)


#: where each matter's 上级批复 is required: (function, the text there that names it)
_DECISION_SITES = {
    "term_": ("qms.services._check_term", "approving_decision"),
    "election_request": ("workflows.election.election_request", "election_request"),
    "election_approval": ("workflows.election.election_report", "election_approval"),
    "committee_filing": ("workflows.election.election_report", "committee_filing"),
    "recruit_": ("workflows.recruitment_services._do", "approving_decision"),
    "org_": ("workflows.org_change.answer", "DECISION_KIND"),
}


def decision_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """须经上级批复: each matter a higher organisation decides (``decisions.toml``), who may decide
    it, and the step that refuses to go on without a 同意 批复."""
    from qms.decision_kinds import decision_kinds

    for kind in decision_kinds().values():
        pair = next((v for k, v in _DECISION_SITES.items() if kind.key.startswith(k)), None)
        sites = checked_sites(pair) if pair else ()
        who = "本组织或上级党组织批准" if kind.within else "上级党组织批准"
        yield Entry(key=f"decision:{kind.key}", kind="structure", title=f"须经上级批复:{kind.label}", value=who,
                    source=kind.source, origin=origin_of(kind.source)[0], enforced=("guard",) if sites else (),
                    where=sites, inert="" if sites else "没有办理步骤要求这一批复")
