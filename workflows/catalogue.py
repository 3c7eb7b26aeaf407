"""The rules ``workflows`` makes act, for the rule catalogue (``qms.catalogue``): the obligations of
the procedures in force (frequencies, deadlines, events, quorum, who is expected, per-person
duties), the record elements of their forms, the dues table and the 民主评议 grades.

An obligation waiting for an event nobody emits is inert; so is a required element of a form that
no obligation in force uses (no record of it will ever be checked)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from procedures.models import DocumentVersion, EventKind, Obligation
from procedures.rules import effective_rules_many, versions_in_force_many
from qms.catalogue import Entry, checked_sites, origin_of
from qms.models import Unit, UnitKind
from qms.permissions import DECLARED
from qms.rules.events import calendar_events, emitted, vocabulary
from workflows import dues, review


def event_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """事件: each member event, who records it, and what it makes owed. An event is inert when no
    declared service records it; an obligation waiting for an event nothing emits is inert below."""
    services = {fn.__name__ for fns in DECLARED.values() for fn in fns}
    labels = dict(EventKind.choices)
    for key, ev in vocabulary().items():
        inert = "" if ev.recorded_with in services else "没有任何办理事项记录这一事件"
        value = ("须开展:" + "、".join(str(labels.get(t, t)) for t in ev.triggers)) if ev.triggers else "仅留痕"
        yield Entry(key=f"event:{key}", kind="event", title=ev.label, value=value, source=ev.source,
                    origin=origin_of(ev.source)[0], enforced=("event",), where=(f"qms.services.{ev.recorded_with}",),
                    inert=inert, scope="在党员页面登记" if ev.by_hand else "办理相关事项时自动记录")
    for key, ev in calendar_events().items():
        sites = checked_sites((ev.emitted_by, key))
        yield Entry(key=f"event:{key}", kind="event", title=ev.label, value="按日历自动产生", source=ev.source,
                    origin=origin_of(ev.source)[0], enforced=("scheduler",), where=sites,
                    inert="" if sites else "排期功能不产生这一事件")


def _kinds_text(kinds) -> str:
    return "、".join(str(UnitKind(k).label) for k in kinds if k in UnitKind.values)


def _origin(ob: Obligation, version: DocumentVersion, owner: Unit | None) -> tuple[str, str]:
    label = f"{version.document.code} {version.label}"
    if owner is not None:
        return "override", f"{owner.name} {label}"
    origin, _ = origin_of(ob.source)
    return origin, label


def obligation_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    effective = effective_rules_many(units)
    applied = Counter((eo.version.pk, eo.obligation.key) for rows in effective.values() for eo in rows)
    events = emitted()
    schedule_sites = checked_sites(("workflows.scheduler.schedule", "effective_rules_many"))
    event_sites = checked_sites(("workflows.scheduler.on_member_event", "triggers"))
    quorum_sites = checked_sites(("workflows.services.quorum", "obligation.quorum"))
    attend_sites = checked_sites(("workflows.services.unaccounted", "attendees"))
    person_sites = checked_sites(("workflows.people.lecture_duties", "per_person"))
    element_sites = checked_sites(("workflows.services.missing_elements", "required=True"))
    used_forms: dict[int, list[str]] = {}
    in_force_forms: set[int] = set()
    keys_seen: set[str] = set()
    pairs = [(v, v.document.owner) for v in versions_in_force_many(units)]
    obligations = Obligation.objects.filter(version__in=[v for v, _ in pairs]).select_related("form").order_by("version", "pk")
    by_version: dict[int, list[Obligation]] = {}
    for ob in obligations:
        by_version.setdefault(ob.version_id, []).append(ob)
    for version, owner in pairs:
        for ob in by_version.get(version.pk, []):
            key = f"obligation:{ob.key}"
            if key in keys_seen:
                key = f"{key}@{owner.code if owner else version.pk}"
            keys_seen.add(key)
            origin, detail = _origin(ob, version, owner)
            n = applied.get((version.pk, ob.key), 0)
            if not n:
                continue  # no unit here owes it (a 党委's rule seen from a 支部): not in force here
            scope = f"{_kinds_text(ob.applies_to)};本组织及下级适用 {n} 个"
            inert = ""
            if ob.event:
                kind, enforced, where = "event", ("event",), event_sites
                if ob.event == "term_expiry":
                    enforced, where = ("scheduler",), schedule_sites
                if ob.event not in events:
                    inert = f"没有任何事件触发“{ob.get_event_display()}”"
                value = f"{ob.frequency_text()},{ob.grace_days} 天内"
            elif ob.per_person:
                kind, enforced, where = "person", ("people",), person_sites
                value = ob.frequency_text()
            else:
                kind = "deadline" if (ob.before or ob.preferred_period) and not ob.per else "frequency"
                enforced, where = ("scheduler",), schedule_sites
                value = ob.frequency_text()
            yield Entry(key=key, kind=kind, title=f"{ob.title}({version.document.code})", value=value,
                        source=ob.source, origin=origin, origin_detail=detail, enforced=enforced if where else (),
                        where=where, inert=inert, scope=scope)
            suffix = key.removeprefix("obligation:")
            if ob.quorum:
                yield Entry(key=f"quorum:{suffix}", kind="quorum", title=f"{ob.title}的法定人数",
                            value=ob.get_quorum_display(), source=ob.source, origin=origin, origin_detail=detail,
                            enforced=("guard",) if quorum_sites else (), where=quorum_sites, scope=scope)
            if ob.attendees:
                yield Entry(key=f"attendance:{suffix}", kind="attendance", title=f"{ob.title}的应到人员(出席、缺席、请假逐人登记)",
                            value=ob.get_attendees_display(), source=ob.form.source if ob.form else ob.source,
                            origin=origin, origin_detail=detail, enforced=("record",) if attend_sites else (),
                            where=attend_sites, scope=scope)
            if ob.form_id:
                in_force_forms.add(ob.form_id)
            if ob.form_id and not ob.event or ob.form_id and ob.event in events:
                used_forms.setdefault(ob.form_id, []).append(ob.title)
    # record elements: the required fields of every form an obligation in force uses
    from procedures.models import RecordForm

    forms = RecordForm.objects.filter(obligations__version__in=[v for v, _ in pairs]).distinct().prefetch_related("fields")
    for form in forms.order_by("code", "version"):
        if form.pk not in in_force_forms:
            continue
        users = used_forms.get(form.pk, [])
        for f in sorted(form.fields.all(), key=lambda f: f.order):
            if not f.required:
                continue
            yield Entry(key=f"element:{form.code}:{f.key}", kind="element", title=f"{form.title}:{f.label}",
                        value="必填", source=form.source or "、".join(users), origin=origin_of(form.source)[0],
                        origin_detail=f"{form.code} {form.version}",
                        enforced=("record",) if element_sites and users else (), where=element_sites,
                        inert="" if users else "没有任何在用的规定使用这张表格", scope="、".join(users))


def record_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """记录控制: a checked record is frozen; a correction is an amendment with its reason."""
    sites = checked_sites(("workflows.services.record_amend", "reason"))
    yield Entry(key="record:amend", kind="record", title="已检查的记录不得直接修改,更正须写明原因并留痕",
                value="更正必填原因", source="seed 001 二(九):防止记录不规范、资料不完整、弄虚作假;ISO 9001 §7.5.3.2(记录的更改控制)",
                enforced=("guard",) if sites else (), where=sites)


def dues_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """党费: the rate table, and the months of arrears after which a member is reported."""
    t = dues.table()
    brackets = ";".join(f"{'≤' + str(b['up_to']) if b.get('up_to') else '以上'}:{float(b['rate']) * 100:g}%" for b in t["brackets"])
    rate_sites = checked_sites(("workflows.dues.dues_for", "brackets"))
    yield Entry(key="dues:rates", kind="dues", title="党费交纳比例(按税后月收入)", value=brackets, source=t["source"],
                enforced=("guard", "indicator") if rate_sites else (), where=rate_sites)
    arrears_sites = checked_sites(("workflows.dues.arrears", "arrears_months"))
    yield Entry(key="dues:arrears_months", kind="dues", title="连续不交纳党费的月数(视为自行脱党,报上级批准除名)",
                value=str(t["arrears_months"]), source=t["arrears_source"],
                enforced=("warning",) if arrears_sites else (), where=arrears_sites)


def review_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """民主评议党员: the grades a 支委会 or 党员大会 may give, and the 处置 of 不合格."""
    r = review.rules()
    grade_sites = checked_sites(("workflows.services.review_save", "grade_labels"))
    for g in r.grades:
        yield Entry(key=f"review:grade:{g.label}", kind="grade", title="民主评议评定等次" + ("(须组织处置)" if g.disposal else ""),
                    value=g.label, source=g.source, origin=origin_of(g.source)[0],
                    enforced=("guard",) if grade_sites else (), where=grade_sites)
    measure_sites = checked_sites(("workflows.services.followup_done", "measure_labels"))
    for m in r.measures:
        yield Entry(key=f"review:measure:{m.label}", kind="grade", title="对不合格党员的组织处置", value=m.label,
                    source=m.source, origin=origin_of(m.source)[0],
                    enforced=("guard",) if measure_sites else (), where=measure_sites)


def coalition_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """联系组、协作组与联系点: the groups the organisation set up, each with its number of activities
    a year (counted period by period in 执行情况), and its 联系点."""
    from workflows.models import Coalition, LiaisonPoint

    sites = checked_sites(("workflows.coalitions.periods", "meetings_per_year"))
    groups = list(Coalition.objects.filter(root__path__startswith=unit.path, is_active=True).order_by("kind", "name"))
    yield Entry(key="coalition:groups", kind="frequency", title="联系组、协作组分组开展活动",
                value=";".join(f"{c.name}({c.get_kind_display()},每年 {c.meetings_per_year} 次)" for c in groups) or "尚未设立",
                source="seed 002 二:按照行政业务工作性质和地域相近的原则划分成八个组,分组开展活动;seed 003 一2:组建党建工作协作组",
                origin="library", enforced=("scheduler",) if sites else (), where=sites)
    point_sites = checked_sites(("workflows.coalitions.point_create", "theme"))
    n = LiaisonPoint.objects.filter(root__path__startswith=unit.path).count()
    yield Entry(key="coalition:points", kind="structure", title="联系点:出题目、交任务、总结经验",
                value=f"{n} 个联系点", source="seed 002 四:挑选……单位作为联系点,给他们出题目、交任务,总结他们的经验",
                origin="library", enforced=("guard",) if point_sites else (), where=point_sites)
