"""适用规定 — the effective rule set of a unit, and where each rule comes from.

For each library document, a unit follows the effective version of the nearest
ancestor-or-self that issued its own version of it (``Document.owner`` with ``based_on``),
else the library's own effective version. Obligations then apply by unit kind and by the
conditions they state (has a 支委会; at least N full members).

Example (domain.md: seeds disagree — 支委会 monthly in seed 001 三(二)2, every two months in
seed 004 篇1 十三): a 党委 that adopts DJ-CX-02 and issues its own version with
``every_months = 2`` makes every branch below it owe 6 支委会 a year, while a branch under
a sibling 党委 that did not keeps the library's 12.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from procedures.models import Document, DocumentVersion, Obligation, VersionStatus
from qms.models import COMMITTEE_TITLES, MemberCategory, Membership, Position, Unit
from qms.rules import rule_value


@dataclass(frozen=True)
class EffectiveObligation:
    obligation: Obligation
    version: DocumentVersion
    document: Document
    from_unit: Unit | None  # None: the shipped standard library

    @property
    def origin(self) -> str:
        return f"{self.from_unit.name}的 {self.document.code} {self.version.label}" if self.from_unit else f"标准文件库 {self.document.code} {self.version.label}"

    @property
    def expected_per_year(self) -> int:
        return self.obligation.expected_per_year()


def expected_count(obligation: Obligation, year: int) -> int:
    """How many times one unit must carry out ``obligation`` in calendar ``year``.

    Monthly ×1 → 12; every 2 months → 6; quarterly → 4; half-yearly → 2; yearly, a
    ``before`` date (七一) or a preferred period (Q4) → 1; event-triggered → 0 (those are
    counted from the events, not the calendar). Periods start on 1 January, as the
    scheduler lays them out. The year is taken so that callers ask the right question;
    today no rule depends on it (a leap year changes nothing: 02-29 rules still fall once).
    """
    if not 1 <= year <= 9999:
        raise ValueError(f"year out of range: {year}")
    return obligation.expected_per_year()


def effective_versions(unit: Unit) -> list[tuple[DocumentVersion, Unit | None]]:
    """The effective version of each document for this unit, with the unit that issued it."""
    ancestor_ids = [int(p) for p in unit.path.strip("/").split("/") if p]
    versions = list(
        DocumentVersion.objects.filter(status=VersionStatus.EFFECTIVE)
        .filter(Q(document__owner__isnull=True) | Q(document__owner_id__in=ancestor_ids))
        .select_related("document", "document__owner", "document__based_on")
    )
    depth = {uid: i for i, uid in enumerate(ancestor_ids)}
    chosen: dict[str, tuple[int, DocumentVersion]] = {}
    for v in versions:
        doc = v.document
        key = doc.library_key or (doc.based_on.library_key if doc.based_on else f"own:{doc.pk}")
        rank = -1 if doc.owner_id is None else depth[doc.owner_id]
        if key not in chosen or rank > chosen[key][0]:
            chosen[key] = (rank, v)
    return [(v, v.document.owner) for _, v in sorted(chosen.values(), key=lambda x: x[1].document.code)]


def _has_committee(unit: Unit) -> bool:
    n = Position.objects.filter(unit=unit, title__in=COMMITTEE_TITLES, end__isnull=True).values("member").distinct().count()
    return n >= rule_value(unit, "committee_size_min")


def _full_members(unit: Unit) -> int:
    return Membership.objects.filter(unit=unit, end__isnull=True, member__category=MemberCategory.FULL).count()


def applies(obligation: Obligation, unit: Unit) -> bool:
    if unit.kind not in obligation.applies_to:
        return False
    if obligation.requires_committee and not _has_committee(unit):
        return False
    return not (obligation.min_full_members and _full_members(unit) < obligation.min_full_members)


def effective_rules(unit: Unit) -> list[EffectiveObligation]:
    """Every obligation that applies to this unit, with its origin."""
    out: list[EffectiveObligation] = []
    pairs = effective_versions(unit)
    obligations = Obligation.objects.filter(version__in=[v for v, _ in pairs]).select_related("form")
    by_version: dict[int, list[Obligation]] = {}
    for o in obligations:
        by_version.setdefault(o.version_id, []).append(o)
    for v, owner in pairs:
        for o in by_version.get(v.pk, []):
            if applies(o, unit):
                out.append(EffectiveObligation(o, v, v.document, owner))
    return out


def effective_rules_many(units: list[Unit], *, rules: dict[int, dict] | None = None) -> dict[int, list[EffectiveObligation]]:
    """``effective_rules`` for many units with a fixed number of queries (versions, their
    obligations, committee sizes, full-member counts, rule overrides), whatever the number of
    units — for the scheduler's whole-tree pass."""
    from django.db.models import Count

    from qms.rules import rules_for_many

    versions = list(DocumentVersion.objects.filter(status=VersionStatus.EFFECTIVE)
                    .select_related("document", "document__owner", "document__based_on"))
    by_version: dict[int, list[Obligation]] = {}
    for o in Obligation.objects.filter(version__in=versions).select_related("form"):
        by_version.setdefault(o.version_id, []).append(o)
    ids = [u.pk for u in units]
    committee = dict(Position.objects.filter(unit_id__in=ids, title__in=COMMITTEE_TITLES, end__isnull=True)
                     .values_list("unit").annotate(n=Count("member", distinct=True)).order_by())
    full = dict(Membership.objects.filter(unit_id__in=ids, end__isnull=True, member__category=MemberCategory.FULL)
                .values_list("unit").annotate(n=Count("id")).order_by())
    rules = rules if rules is not None else rules_for_many(units)
    owners = {v.document.owner_id for v in versions} - {None}
    # Which versions are in force depends only on which documents' owners lie on the unit's
    # path (the nearest wins): units under the same owners share one choice.
    in_force: dict[tuple[int, ...], list[DocumentVersion]] = {}
    out: dict[int, list[EffectiveObligation]] = {}
    for unit in units:
        on_path = tuple(uid for uid in (int(p) for p in unit.path.strip("/").split("/") if p) if uid in owners)
        chosen_versions = in_force.get(on_path)
        if chosen_versions is None:
            chosen_versions = in_force[on_path] = _in_force(versions, on_path)
        has_committee = committee.get(unit.pk, 0) >= rules[unit.pk]["committee_size_min"].value
        rows = []
        for v in chosen_versions:
            for o in by_version.get(v.pk, []):
                if unit.kind not in o.applies_to or (o.requires_committee and not has_committee):
                    continue
                if o.min_full_members and full.get(unit.pk, 0) < o.min_full_members:
                    continue
                rows.append(EffectiveObligation(o, v, v.document, v.document.owner))
        out[unit.pk] = rows
    return out


def versions_in_force_many(units: list[Unit]) -> list[DocumentVersion]:
    """Every version in force for at least one of ``units`` (each unit follows, per procedure, the
    version owned nearest to it, else the library's) — with a fixed number of queries; by code,
    the library's before an organisation's own."""
    versions = list(DocumentVersion.objects.filter(status=VersionStatus.EFFECTIVE)
                    .select_related("document", "document__owner", "document__based_on"))
    owners = {v.document.owner_id for v in versions} - {None}
    chosen: dict[int, DocumentVersion] = {}
    for on_path in {tuple(uid for uid in (int(p) for p in u.path.strip("/").split("/") if p) if uid in owners) for u in units}:
        for v in _in_force(versions, on_path):
            chosen[v.pk] = v
    return sorted(chosen.values(), key=lambda v: (v.document.code, v.document.owner_id is not None, v.document.owner_id or 0))


def _in_force(versions: list[DocumentVersion], owners_on_path: tuple[int, ...]) -> list[DocumentVersion]:
    """Of the effective versions, those in force for a unit whose path holds these document
    owners (top down): per procedure, the version owned nearest the unit, else the library's;
    in document-code order."""
    depth = {uid: i for i, uid in enumerate(owners_on_path)}
    chosen: dict[str, tuple[int, DocumentVersion]] = {}
    for v in versions:
        doc = v.document
        if doc.owner_id is not None and doc.owner_id not in depth:
            continue
        key = doc.library_key or (doc.based_on.library_key if doc.based_on else f"own:{doc.pk}")
        rank = -1 if doc.owner_id is None else depth[doc.owner_id]
        if key not in chosen or rank > chosen[key][0]:
            chosen[key] = (rank, v)
    return [v for _, v in sorted(chosen.values(), key=lambda x: x[1].document.code)]
