"""Demo step: one 换届选举 in progress in the demo committee — 机关第二党支部, whose term ends in
the coming months (its 换届 occurrence is due): opened, candidates put up (4 for 3 seats) and the
request approved by the committee; the 党员大会 is the next step. Through the services (and the
ledger), fast: a handful of rows."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils import timezone

from qms import services as core
from qms.models import Position, Unit
from workflows import election

#: the branch whose election is left in progress
UNIT_CODE = "HX-B2"


def election_step(root, admin, progress=None) -> str:
    unit = Unit.objects.filter(code=UNIT_CODE, path__startswith=root.path).first()
    if unit is None or election.due_occurrence(unit) is None:
        return "换届选举:没有到期的换届事项,未建立"
    today = timezone.localdate()
    try:
        e = election.election_open(actor=None, unit=unit)
        committee = list(Position.objects.filter(unit=unit, end__isnull=True).values_list("member_id", flat=True))
        pool = list(election.voters(unit, today).exclude(pk__in=committee).order_by("pk")[:1])
        candidates = list(election.voters(unit, today).filter(pk__in=committee)) + pool
        e = election.election_nominate(e, actor=None, seats=len(candidates) - 1, candidates=candidates)
        d = core.decision_record(actor=None, unit=unit, decided_by_unit=unit.parent, kind="election_request",
                                 doc_number=f"华信党委〔{today.year}〕12号", date=today, outcome="approved",
                                 text="同意机关第二党支部按期换届,同意候选人预备人选")
        e = election.election_request(e, actor=None, decision=d)
    except ValidationError as exc:
        return f"换届选举:未建立({'；'.join(exc.messages)})"
    return f"换届选举:{unit.name} 已请示获批,应选 {e.seats} 人、候选人 {e.candidates.count()} 人,待召开党员大会选举"
