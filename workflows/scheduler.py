"""排期 — obligations × units × calendar → occurrences.

Idempotent (a second run creates nothing: unique slots), re-plans only the future (an
``open`` occurrence that no longer corresponds to an effective rule, and whose period has
not started, is cancelled with the reason "规则或组织变化"), and never touches the past.
Event-triggered obligations get their occurrences from ``on_member_event``.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from procedures.models import Obligation
from procedures.rules import effective_rules, effective_rules_many
from qms import ledger
from qms.models import MemberEvent, Unit
from workflows.models import Occurrence, State
from workflows.periods import add_months, slots_for


@dataclass
class ScheduleReport:
    created: int = 0
    cancelled: int = 0
    units: int = 0


def horizon(today: dt.date) -> tuple[dt.date, dt.date]:
    """Current and next quarter-aligned span: from the start of this year's current quarter
    to the end of the next quarter (so monthly, quarterly and yearly rules are all covered)."""
    q_start = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    return q_start, add_months(q_start, 6) - dt.timedelta(days=1)


def _slots(ob: Obligation, start: dt.date, end: dt.date):
    return slots_for(count=ob.count, per=ob.per, every_months=ob.every_months, before=ob.before,
                     preferred_period=ob.preferred_period, grace_days=ob.grace_days, start=start, end=end)


@transaction.atomic
def schedule(*, through: dt.date | None = None, today: dt.date | None = None, root: Unit | None = None) -> ScheduleReport:
    """Create the occurrences due from the current period up to ``through``."""
    today = today or timezone.localdate()
    start, end = horizon(today)
    if through is not None:
        end = max(end, through)
    units = Unit.objects.filter(is_active=True)
    if root is not None:
        units = units.filter(path__startswith=root.path)
    units = list(units.order_by("path"))
    # everything the pass reads is loaded up front (a fixed number of queries for any tree):
    # a re-run that finds nothing to do costs no per-unit queries
    from qms.rules import rules_for_many

    rules = rules_for_many(units)
    effective = effective_rules_many(units, rules=rules)
    # what exists, as (key → (id, state)): a re-run over a large tree reads a few values per
    # occurrence, not whole rows; the few to cancel are loaded whole below
    existing_all: dict[int, dict[tuple[str, dt.date, int], tuple[int, str]]] = {}
    occurrences = Occurrence.objects.filter(event__isnull=True, period_end__gte=start)
    if root is not None:
        occurrences = occurrences.filter(unit__path__startswith=root.path)
    for pk, unit_id, key, period_start, seq, state in occurrences.values_list(
            "pk", "unit_id", "obligation_key", "period_start", "seq", "state").order_by().iterator(chunk_size=10_000):
        existing_all.setdefault(unit_id, {})[(key, period_start, seq)] = (pk, state)
    # 换届 occurrences start months before the horizon: the ones that exist, in one query
    term_keys = {r.obligation.key for rules_ in effective.values() for r in rules_ if r.obligation.event == "term_expiry"}
    terms = Occurrence.objects.filter(event__isnull=True, obligation_key__in=term_keys)
    if root is not None:
        terms = terms.filter(unit__path__startswith=root.path)
    term_existing = set(terms.values_list("unit_id", "obligation_key", "period_start").order_by())
    slots_cache: dict[tuple, list] = {}
    report = ScheduleReport()
    # New occurrences go in by the thousand, each batch with its ledger entries in one locked
    # append (the first pass over a large tree creates one per unit and period).
    new: dict[str, list[Occurrence]] = {"": [], TERM_REASON: []}

    def flush(limit: int = 0) -> None:
        for reason, batch in new.items():
            if len(batch) > limit:
                Occurrence.objects.bulk_create(batch)
                ledger.record_many("occurrence.schedule", batch, reason=reason)
                report.created += len(batch)
                batch.clear()

    for unit in units:
        report.units += 1
        wanted: set[tuple[str, dt.date, int]] = set()
        per_person: set[str] = set()
        existing = existing_all.get(unit.pk, {})
        for rule in effective[unit.pk]:
            ob = rule.obligation
            if ob.event == "term_expiry":
                slot = _term_slot(unit, rules[unit.pk])
                if slot is not None and slot.start <= end:
                    wanted.add((ob.key, slot.start, 1))
                    if (ob.key, slot.start, 1) not in existing and (unit.pk, ob.key, slot.start) not in term_existing:
                        new[TERM_REASON].append(Occurrence(unit=unit, obligation=ob, obligation_key=ob.key, period_start=slot.start,
                                                           period_end=slot.end, seq=1, due_date=slot.due))
                continue
            if ob.per_person:  # counted per person from the records (workflows/people.py), never laid out per unit
                per_person.add(ob.key)
                continue
            if ob.event:
                continue
            params = (ob.count, ob.per, ob.every_months, ob.before, ob.preferred_period, ob.grace_days)
            slots = slots_cache.get(params)
            if slots is None:  # the same few rules recur in every unit: lay out each once
                slots = slots_cache[params] = list(_slots(ob, start, end))
            for slot in slots:
                key = (ob.key, slot.start, slot.seq)
                wanted.add(key)
                if key not in existing:
                    new[""].append(Occurrence(unit=unit, obligation=ob, obligation_key=ob.key, period_start=slot.start,
                                              period_end=slot.end, seq=slot.seq, due_date=slot.due))
        stale = [pk for key, (pk, state) in existing.items() if key not in wanted and state == State.OPEN and key[1] > today]
        # a rule now owed per person (an older library laid it out per unit): its open occurrences,
        # current period included, would otherwise become gaps — the people's records fulfil it
        counted = [pk for key, (pk, state) in existing.items() if key[0] in per_person and state == State.OPEN and key[1] <= today]
        for occ in Occurrence.objects.filter(pk__in=stale + counted).order_by("pk") if stale or counted else ():
            reason = PER_PERSON_REASON if occ.pk in counted else REPLAN_REASON
            before = ledger.snapshot(occ)
            occ.remark = reason
            occ.cancel()
            occ.save()
            ledger.record("occurrence.cancel", occ, actor=None, before=before, reason=reason)
            report.cancelled += 1
        flush(limit=BATCH - 1)
    flush()
    return report


REPLAN_REASON = "规则或组织变化,不再需要"
PER_PERSON_REASON = "该规定改为按人计数,由本人主讲的党课记录履行"
TERM_REASON = "任期届满应换届"
BATCH = 2000


def _term_slot(unit: Unit, rules: dict | None = None):
    """换届: owed in the months before the term ends (seed 001 三(二)8); due on the end date."""
    from qms.rules import TERM_KEYS, rules_for
    from qms.structure import term_end
    from workflows.periods import Slot

    if unit.kind not in TERM_KEYS or unit.term_start is None:
        return None
    rules = rules if rules is not None else rules_for(unit)
    end = term_end(unit, unit.term_years or rules[TERM_KEYS[unit.kind]].value)
    first = rules["term_reminder_months_first"].value
    start = add_months(end.replace(day=1), -first)
    return Slot(start, end, 1, end)


@transaction.atomic
def on_member_event(event: MemberEvent) -> list[Occurrence]:
    """An event creates the occurrences its rules call for in the member's unit (or, for an
    appointment, the unit appointed to): which obligation events it triggers is the event
    vocabulary's data (``qms/rules/events.toml``, e.g. 工作岗位变动 → ``job_change``); which
    obligations answer, and their deadline (``grace_days``), are the unit's effective
    procedure rules (e.g. DJ-CX-08 六必谈, seed 001 三(二)5)."""
    from qms.rules.events import triggers_for

    triggers = set(triggers_for(event.kind))
    unit = event.to_unit or event.from_unit
    if not triggers or unit is None:
        return []
    created = []
    for rule in effective_rules(unit):
        ob = rule.obligation
        if ob.event not in triggers:
            continue
        due = event.date + dt.timedelta(days=ob.grace_days)
        occ, new = Occurrence.objects.get_or_create(
            unit=unit, obligation_key=ob.key, event=event,
            defaults={"obligation": ob, "period_start": event.date, "period_end": due, "due_date": due},
        )
        if new:
            ledger.record("occurrence.trigger", occ, actor=None, reason=f"{event.get_kind_display()}:{event.member.name}")
            created.append(occ)
    return created
