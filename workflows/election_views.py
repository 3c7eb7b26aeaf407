"""换届选举 page of a unit: the steps (酝酿 → 请示 → 选举 → 报批), what is recorded, and the form
of the next step. Thin over ``workflows.election``; its refusals are shown as messages."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone

from qms import permissions
from qms.models import (
    COMMITTEE_TITLES,
    DecisionOutcome,
    HigherDecision,
    Member,
    PositionTitle,
    Unit,
)
from qms.params import as_date as _date
from qms.params import as_int as _int
from qms.scoping import get_visible_or_404
from workflows import election
from workflows import election_flows as flows
from workflows.models import ELECTION_STEPS, ElectionKind, ElectionState

#: the offices an elected 委员 other than the 书记/副书记 may take (分工)
MEMBER_TITLES = [t for t in COMMITTEE_TITLES if t not in (PositionTitle.SECRETARY, PositionTitle.DEPUTY_SECRETARY)]




def _members(ids, pool) -> list[Member]:
    wanted = [i for i in (_int(v) for v in ids) if i is not None]
    found = {m.pk: m for m in pool.filter(pk__in=wanted)}
    return [found[i] for i in wanted if i in found]


def _decision(request, name: str, unit: Unit) -> HigherDecision | None:
    pk = _int(request.POST.get(name))
    return HigherDecision.objects.filter(pk=pk, unit=unit).first() if pk else None


def _act(request, unit: Unit, e):
    step = request.POST.get("step", "")
    voters = election.voters(unit, timezone.localdate())
    if step == "open":
        return election.election_open(actor=request.user, unit=unit)
    if step == "open_by":
        return election.election_by_open(actor=request.user, unit=unit)
    if e is None:
        raise ValidationError("请先发起换届")
    if step == "nominate":
        seats = _int(request.POST.get("seats"))
        return election.election_nominate(e, actor=request.user, seats=seats or 0,
                                          candidates=_members(request.POST.getlist("candidates"), voters))
    if step == "request":
        return election.election_request(e, actor=request.user, decision=_decision(request, "decision", unit))
    if step == "hold":
        held_on = _date(request.POST.get("held_on"))
        pool = election.voters(unit, held_on or timezone.localdate())
        votes = {c.member_id: _int(request.POST.get(f"votes_{c.member_id}")) for c in e.candidates.all()}
        return election.election_hold(e, actor=request.user, held_on=held_on,
                                      present=_members(request.POST.getlist("present"), Member.objects.filter(pk__in=pool)),
                                      votes={k: v for k, v in votes.items() if v is not None})
    if step == "report":
        elected = Member.objects.filter(pk__in=_committee_ids(e))
        sec = _members([request.POST.get("secretary")], elected)
        dep = _members([request.POST.get("deputy")], elected)
        titles = {c.member_id: request.POST.get(f"title_{c.member_id}", "") for c in e.candidates.filter(elected=True)}
        return election.election_report(e, actor=request.user, secretary=sec[0] if sec else None,
                                        deputy=dep[0] if dep else None, titles={k: v for k, v in titles.items() if v},
                                        approval=_decision(request, "approval", unit), filing=_decision(request, "filing", unit),
                                        term_start=_date(request.POST.get("term_start")),
                                        committee_present=_members(request.POST.getlist("committee_present"), elected),
                                        secretary_votes=_int(request.POST.get("secretary_votes")),
                                        deputy_votes=_int(request.POST.get("deputy_votes")))
    raise ValidationError("未知的步骤")


def _committee_ids(e) -> list[int]:
    """Who the 报批 step chooses among: the elected; for a 补选 the sitting 委员 too (the completed 支委会)."""
    ids = list(e.candidates.filter(elected=True).values_list("member_id", flat=True))
    if e.kind == ElectionKind.BY:
        ids += [pk for pk in election.committee_in_office(e.unit, timezone.localdate()) if pk not in ids]
    return ids


@login_required
def election_page(request, code: str):
    unit = get_visible_or_404(request.user, Unit, code=code)
    e = election.current(unit)
    if request.method == "POST":
        permissions.require(request.user, "election.run", unit)
        try:
            done = _act(request, unit, e if e is None or e.state != ElectionState.COMPLETED else None)
        except ValidationError as exc:
            for m in exc.messages:
                messages.error(request, m)
        else:
            messages.success(request, f"已办理:{done.get_state_display()}")
        return redirect("election_page", code=unit.code)
    today = timezone.localdate()
    order = [s for s, _label in ELECTION_STEPS]
    reached = order.index(e.state) if e is not None else -1
    steps = [{"label": label, "done": e is not None and (i < reached or e.state == ElectionState.COMPLETED and i == reached),
              "current": e is not None and e.state != ElectionState.COMPLETED and i == reached}
             for i, (_s, label) in enumerate(ELECTION_STEPS)]
    decisions = HigherDecision.objects.filter(unit=unit, outcome=DecisionOutcome.APPROVED)
    ctx = {
        "unit": unit, "e": e, "steps": steps, "today": today,
        "can_run": permissions.allowed(request.user, "election.run", unit),
        "due": election.due_occurrence(unit, today),
        "voters": election.voters(unit, today).order_by("name"),
        "candidates": list(e.candidates.select_related("member")) if e else [],
        "waiting": flows.open_task_titles(e) if e else [],
        "request_decisions": decisions.filter(kind="election_request"),
        "approval_decisions": decisions.filter(kind="election_approval"),
        "filing_decisions": decisions.filter(kind="committee_filing"),
        "member_titles": [(t, PositionTitle(t).label) for t in MEMBER_TITLES],
        "open_state": ElectionState,
        "present_count": len(e.present_ids) if e else 0,
        "n_elected": sum(1 for c in (e.candidates.all() if e else ()) if c.elected),
        "vacancy": election.vacancy(unit, today) if unit.kind != "group" else None,
        "kinds": ElectionKind,
    }
    if e is not None and e.kind == ElectionKind.BY:
        sitting = election.committee_in_office(unit, today)
        ctx["sitting"] = sorted((ps[0].member for ps in sitting.values()), key=lambda m: m.name)
        ctx["committee"] = Member.objects.filter(pk__in=_committee_ids(e)).order_by("name")
        held = {p.title for ps in sitting.values() for p in ps}
        ctx["secretary_vacant"] = PositionTitle.SECRETARY in e.vacant_titles and PositionTitle.SECRETARY not in held
        ctx["deputy_vacant"] = PositionTitle.DEPUTY_SECRETARY in e.vacant_titles and PositionTitle.DEPUTY_SECRETARY not in held
    return render(request, "workflows/election.html", ctx)
