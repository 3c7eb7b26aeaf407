"""换届选举 — a unit's election as a process (seed 001 三(二)8: 酝酿 → 请示 → 选举 → 报批;
三(二)1: 支委 elected by the 党员大会 and filed, 书记/副书记 elected by the 支委会 and approved).

Every step is a service here, declared as the act ``election.run`` and run in one transaction
with its ledger entries; a step out of order, without a quorum, or relying on an approval that
is not a 同意 上级批复 of the right matter for this unit (``qms.services.approving_decision``:
the deciding body is always a unit above, or the top unit's higher committee) is refused in
Chinese with nothing saved. The numbers are organisation rules (``workflows/election.toml``):
the 差额 of candidates, the share of those entitled who must be present, and the share of
those present a candidate needs. Completing the election updates the unit's positions
(``qms.services.position_assign`` / ``position_end``), starts the new term and fulfils the
unit's 换届 occurrence (``term_election``, laid out by ``workflows.scheduler``).

补选 (seed 001 三(二)1: 党支部书记、副书记、委员出现空缺,应当及时进行补选; 三(二)8: 应及时按程序予以补选)
is an election of the second kind (``Election.kind``), opened only when the unit has a vacancy
(``vacancy``): a seat its kind requires empty (``qms.structure.required_seats``) or fewer 委员 in
office than its last completed 换届选举 elected. It goes through the same four steps with the same
rules (its 差额 is the organisation rule ``by_election_candidate_margin_percent``), the seats being
the vacancies; its 报批 fills only the vacant seats — new 委员 filed, a vacant 书记 elected by the
completed 支委会 among its 委员 and approved — while no sitting office ends, the term stays and no
换届 occurrence is fulfilled.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_fsm import can_proceed

from qms import ledger
from qms import services as core
from qms.models import (
    COMMITTEE_TITLES,
    HigherDecision,
    Member,
    MemberCategory,
    MemberStatus,
    Position,
    PositionTitle,
    Unit,
    UnitKind,
)
from qms.permissions import act
from qms.rules import rules_for
from workflows import election_flows as flows
from workflows import quorum as quorum_rules
from workflows.models import (
    Election,
    ElectionCandidate,
    ElectionKind,
    ElectionState,
    Occurrence,
    State,
)
from workflows.services import roster_on

#: the obligation whose occurrence an election answers (procedures/library/cx11_term_election.toml)
TERM_OBLIGATION = "term_election"

#: the organisation rule (workflows/election.toml) giving the 差额 of each kind of election
MARGIN_RULE = {ElectionKind.REGULAR: "election_candidate_margin_percent", ElectionKind.BY: "by_election_candidate_margin_percent"}


def _unit(election=None, unit=None, **_) -> Unit:
    return election.unit if election is not None else unit


def due_occurrence(unit: Unit, today: dt.date | None = None) -> Occurrence | None:
    """The unit's 换届 occurrence that is due (its period has begun) and not yet fulfilled."""
    today = today or timezone.localdate()
    return (Occurrence.objects.filter(unit=unit, obligation_key=TERM_OBLIGATION, state__in=(State.OPEN, State.PLANNED),
                                      period_start__lte=today).order_by("period_start").first())


def current(unit: Unit) -> Election | None:
    """The unit's election in progress, else its latest."""
    return (Election.objects.filter(unit=unit).exclude(state=ElectionState.COMPLETED).first()
            or Election.objects.filter(unit=unit).first())


def voters(unit: Unit, day: dt.date):
    """有选举权的党员 on ``day``: 正式党员 on the unit's roll (预备党员 have no 选举权,
    《中国共产党章程》第七条; 《中国共产党基层组织选举工作条例》第五条)."""
    return roster_on(unit, day).filter(category=MemberCategory.FULL, status=MemberStatus.ACTIVE)


def _locked(election: Election, state: str, step: str) -> Election:
    e = Election.objects.select_for_update().select_related("unit").get(pk=election.pk)
    if e.state != state:
        order = "、".join(label for _s, label in ((ElectionState.NOMINATING, "酝酿"), (ElectionState.REQUESTED, "请示"),
                                                   (ElectionState.ELECTED, "选举"), (ElectionState.COMPLETED, "报批")))
        raise ValidationError(f"当前进度为“{e.get_state_display()}”,不能办理“{step}”:换届程序依次为{order}")
    e.ledger_before = ledger.snapshot(e)  # the state the step starts from, for its ledger entry
    return e


def _move(e: Election, method: str, *, actor, node, reason: str = "") -> Election:
    before = e.ledger_before
    bound = getattr(e, method)
    if not can_proceed(bound):
        raise ValidationError(f"当前进度为“{e.get_state_display()}”,不能办理此步骤")
    bound()
    e.save()
    ledger.record(f"election.{method}", e, actor=actor, before=before, reason=reason)
    flows.complete(e, node, actor)
    return e


def required_candidates(seats: int, rules: dict, kind: str = ElectionKind.REGULAR) -> int:
    """应选 ``seats`` → the fewest candidates: the 差额 is at least the kind's margin rule
    (``election_candidate_margin_percent``, for a 补选 ``by_election_candidate_margin_percent``)
    of the seats, rounded up to a whole person."""
    return seats + math.ceil(seats * rules[MARGIN_RULE[kind]].value / 100)


# ------------------------------------------------------------------ 空缺 and 补选


def committee_in_office(unit: Unit, day: dt.date) -> dict[int, list[Position]]:
    """The sitting committee on ``day``: member id → the committee offices they hold in the unit."""
    out: dict[int, list[Position]] = {}
    for p in (Position.objects.filter(unit=unit, title__in=COMMITTEE_TITLES, start__lte=day)
              .filter(Q(end__isnull=True) | Q(end__gte=day)).select_related("member").order_by("pk")):
        out.setdefault(p.member_id, []).append(p)
    return out


@dataclass(frozen=True)
class Vacancy:
    """空缺 of a unit on a day: the 委员 seats to fill by a 补选 and the required offices empty."""

    seats: int  # 委员 to elect at the 党员大会
    titles: tuple[str, ...]  # required offices nobody holds (书记, qms/rules/tree.toml [seats])
    in_office: int  # 委员 in office
    target: int  # 委员 the committee should have
    basis: str  # where ``target`` comes from, in words

    @property
    def exists(self) -> bool:
        return self.seats > 0 or bool(self.titles)

    def describe(self) -> str:
        parts = [f"现有委员 {self.in_office} 名,{self.basis}"]
        if self.titles:
            parts.append("、".join(str(PositionTitle(t).label) for t in self.titles) + "空缺")
        if self.seats:
            parts.append(f"应补选委员 {self.seats} 名")
        elif self.titles:
            parts.append("委员无空缺,由委员会会议从现任委员中选举")
        return ";".join(parts)


def vacancy(unit: Unit, day: dt.date | None = None) -> Vacancy:
    """The unit's vacancy on ``day`` (seed 001 三(二)1、三(二)8): a seat its kind requires with nobody
    in it, in a unit whose offices are recorded (as ``qms.structure.tree_warnings`` flags it) — and a
    副书记 the unit had this term (elected at its last 换届选举, or held since its term began) —, or
    fewer 委员 in office than its last completed 换届选举 elected. The seats to fill are the 委员
    missing against that election — or, where no election is recorded here, one per required
    office left empty whose last holder is no longer on the committee. A required office empty
    with no 委员 seat to fill is still a vacancy: the 支委会 elects it among its 委员."""
    from qms.structure import required_seats

    day = day or timezone.localdate()
    sitting = committee_in_office(unit, day)
    held = {p.title for ps in sitting.values() for p in ps}
    recorded = bool(held) or Position.objects.filter(unit=unit, title__in=COMMITTEE_TITLES, end__lt=day).exists()
    required, _source = required_seats().get(unit.kind, ((), ""))
    last = (Election.objects.filter(unit=unit, kind=ElectionKind.REGULAR, state=ElectionState.COMPLETED)
            .order_by("-term_start", "-pk").first())
    # a 副书记 is not required of every unit, but one the unit has had this term is an office to keep
    # filled (seed 001 三(二)1:书记、副书记、委员出现空缺,应当及时进行补选): elected at the last 换届选举,
    # or, where none is recorded here, held since the term began
    if last is not None:
        had_deputy = last.candidates.filter(elected=True, title=PositionTitle.DEPUTY_SECRETARY).exists()
    else:
        had_deputy = Position.objects.filter(unit=unit, title=PositionTitle.DEPUTY_SECRETARY, end__lt=day,
                                             end__gte=unit.term_start or dt.date.min).exists()
    offices = (*required, *((PositionTitle.DEPUTY_SECRETARY,) if had_deputy and PositionTitle.DEPUTY_SECRETARY not in required else ()))
    empty = tuple(t for t in offices if t not in held) if recorded else ()
    if last is not None:
        target = last.candidates.filter(elected=True).count()
        basis = f"上次换届选举({last.held_on:%Y-%m-%d})产生委员 {target} 名"
    else:
        gone = 0
        for t in empty:
            prev = Position.objects.filter(unit=unit, title=t, end__lt=day).order_by("-end", "-pk").first()
            gone += prev is None or prev.member_id not in sitting
        target = len(sitting) + gone
        basis = "本系统中没有换届选举的记录,按空缺的必设职务计"
    return Vacancy(max(0, target - len(sitting)), empty, len(sitting), target, basis)


@act("election.run", unit=_unit)
@transaction.atomic
def election_by_open(*, actor, unit: Unit, today: dt.date | None = None) -> Election:
    """发起补选 — only when the unit has a vacancy (``vacancy``); the seats are the vacancies."""
    today = today or timezone.localdate()
    if unit.kind == UnitKind.GROUP:
        raise ValidationError(f"“{unit.name}”是{unit.get_kind_display()},没有选举产生的委员会,不进行补选")
    v = vacancy(unit, today)
    if not v.exists:
        raise ValidationError(f"“{unit.name}”没有空缺的书记、副书记或委员职务,不需要补选({v.describe()})")
    if Election.objects.filter(unit=unit).exclude(state=ElectionState.COMPLETED).exists():
        raise ValidationError(f"“{unit.name}”已有正在进行的换届选举或补选")
    e = Election.objects.create(unit=unit, kind=ElectionKind.BY, seats=v.seats, vacant_titles=list(v.titles),
                                opened_by=actor if getattr(actor, "pk", None) else None)
    ledger.record("election.open_by", e, actor=actor, reason=v.describe())
    flows.begin(e)
    if not v.seats:  # no 委员 to elect: no 党员大会 (酝酿, 请示, 选举); the 支委会 elects the 书记 at 报批
        e.ledger_before = ledger.snapshot(e)
        flows.complete(e, flows.ElectionFlow.nominate, actor)
        flows.complete(e, flows.ElectionFlow.request, actor)
        _move(e, "committee_only", actor=actor, node=flows.ElectionFlow.elect,
              reason="委员无空缺,不召开党员大会补选委员;由委员会会议从现任委员中选举书记,报上级党组织批准")
    return e


@act("election.run", unit=_unit)
@transaction.atomic
def election_open(*, actor, unit: Unit, today: dt.date | None = None) -> Election:
    """发起换届 — opened when the unit's 换届 occurrence is due (任期届满前, seed 001 三(二)8)."""
    occ = due_occurrence(unit, today)
    if occ is None:
        raise ValidationError(f"“{unit.name}”还没有到期的换届事项:任期届满前按规定的时点才启动换届")
    if Election.objects.filter(unit=unit).exclude(state=ElectionState.COMPLETED).exists():
        raise ValidationError(f"“{unit.name}”已有正在进行的换届选举")
    e = Election.objects.create(unit=unit, occurrence=occ, opened_by=actor if getattr(actor, "pk", None) else None)
    ledger.record("election.open", e, actor=actor, reason=f"换届事项截止 {occ.due_date:%Y-%m-%d}")
    flows.begin(e)
    return e


@act("election.run", unit=_unit)
@transaction.atomic
def election_nominate(election: Election, *, actor, seats: int, candidates: list[Member]) -> Election:
    """酝酿 — the number to elect and the candidates (正式党员 of the unit, more candidates than
    seats: 差额 ≥ ``election_candidate_margin_percent``). Can be redone until the 请示."""
    e = _locked(election, ElectionState.NOMINATING, "酝酿")
    rules = rules_for(e.unit)
    if not seats or seats < 1:
        raise ValidationError({"seats": "请填写应选人数"})
    if e.kind == ElectionKind.BY and seats != e.seats:
        raise ValidationError({"seats": f"补选的应选人数是空缺的委员数 {e.seats} 名"})
    ids = list(dict.fromkeys(m.pk for m in candidates))
    if e.kind == ElectionKind.BY:
        sitting = committee_in_office(e.unit, timezone.localdate())
        already = [m.name for m in candidates if m.pk in sitting]
        if already:
            raise ValidationError({"candidates": f"{'、'.join(already)} 已是委员会委员,补选只选出空缺的委员"})
    eligible = set(voters(e.unit, timezone.localdate()).filter(pk__in=ids).values_list("pk", flat=True))
    bad = [m.name for m in candidates if m.pk not in eligible]
    if bad:
        raise ValidationError({"candidates": f"{'、'.join(bad)} 不是本组织在册的正式党员,没有被选举权"
                                             "(《中国共产党基层组织选举工作条例》第五条)"})
    need = required_candidates(seats, rules, e.kind)
    if len(ids) < need:
        rule = rules[MARGIN_RULE[e.kind]]
        raise ValidationError({"candidates": f"应选 {seats} 人,候选人至少 {need} 人(现 {len(ids)} 人):"
                                             f"差额不少于应选人数的{rule.value}%(依据:{rule.source})"})
    before = e.ledger_before
    e.seats = seats
    e.save(update_fields=["seats"])
    for c in e.candidates.all():  # a new 酝酿 replaces the list
        before_c, pk = ledger.snapshot(c), c.pk
        c.delete()
        ledger.record("election_candidate.remove", obj_type=ledger.label_of(ElectionCandidate), obj_id=pk, actor=actor,
                      before=before_c, after=None)
    for pk in ids:
        ledger.record("election_candidate.add", ElectionCandidate.objects.create(election=e, member_id=pk), actor=actor)
    names = "、".join(Member.objects.filter(pk__in=ids).values_list("name", flat=True))
    ledger.record("election.nominate", e, actor=actor, before=before, reason=f"应选 {seats} 人;候选人:{names}")
    return e


@act("election.run", unit=_unit)
@transaction.atomic
def election_request(election: Election, *, actor, decision: HigherDecision | None) -> Election:
    """请示 — the higher organisation agreed to the election and its candidates (上级批复,
    matter 换届请示)."""
    e = _locked(election, ElectionState.NOMINATING, "请示")
    if not e.seats or not e.candidates.exists():
        raise ValidationError("请先完成酝酿:确定应选人数和候选人")
    d = core.approving_decision(e.unit, "election_request", decision)
    e.request_decision = d
    flows.complete(e, flows.ElectionFlow.nominate, actor)  # 酝酿 is over once the request is answered
    return _move(e, "request", actor=actor, node=flows.ElectionFlow.request, reason=f"上级批复 {d.doc_number}")


@act("election.run", unit=_unit)
@transaction.atomic
def election_hold(election: Election, *, actor, held_on: dt.date | None, present: list[Member],
                  votes: dict[int, int]) -> Election:
    """选举 — the 党员大会: who of those entitled was present (quorum: more than
    ``election_quorum_percent`` of them) and the votes per candidate; elected are those with more
    than ``election_elected_percent`` of those present, by votes, up to the seats."""
    e = _locked(election, ElectionState.REQUESTED, "选举")
    if held_on is None:
        raise ValidationError({"held_on": "请填写选举日期"})
    if held_on > timezone.localdate():
        raise ValidationError({"held_on": "选举日期不能晚于今天"})
    if e.request_decision and held_on < e.request_decision.date:
        raise ValidationError({"held_on": f"选举日期早于上级批复换届请示的日期({e.request_decision.date:%Y-%m-%d})"})
    rules = rules_for(e.unit)
    entitled = set(voters(e.unit, held_on).values_list("pk", flat=True))
    present_ids = {m.pk for m in present}
    outsiders = [m.name for m in present if m.pk not in entitled]
    if outsiders:
        raise ValidationError({"present": f"{'、'.join(outsiders)} 不是有选举权的党员(正式党员),不计入到会人数"})
    q = rules["election_quorum_percent"]
    if not quorum_rules.exceeds(len(present_ids), len(entitled), q.value):
        raise ValidationError({"present": f"到会有选举权的党员 {len(present_ids)} 人,未超过应到会 {len(entitled)} 人的"
                                          f"{q.value}%,选举无效(依据:{q.source})"})
    cands = list(e.candidates.select_related("member"))
    for c in cands:
        n = votes.get(c.member_id)
        if n is None or n < 0:
            raise ValidationError({"votes": f"请填写 {c.member.name} 的得票"})
        if n > len(present_ids):
            raise ValidationError({"votes": f"{c.member.name} 得票 {n},多于实到会 {len(present_ids)} 人"})
        c.votes = n
    need = rules["election_elected_percent"]
    passing = sorted((c for c in cands if quorum_rules.exceeds(c.votes, len(present_ids), need.value)),
                     key=lambda c: -c.votes)
    if not passing:
        raise ValidationError({"votes": f"没有候选人的得票超过实到会人数的{need.value}%,无人当选(依据:{need.source})"})
    if len(passing) > e.seats and passing[e.seats - 1].votes == passing[e.seats].votes:
        tied = "、".join(c.member.name for c in passing if c.votes == passing[e.seats].votes)
        raise ValidationError({"votes": f"{tied} 得票相等,不能确定当选人,应就票数相等的被选举人再次投票"})
    elected = {c.pk for c in passing[:e.seats]}
    for c in cands:
        before_c = ledger.snapshot(ElectionCandidate.objects.get(pk=c.pk))
        c.elected = c.pk in elected
        c.save(update_fields=["votes", "elected"])
        ledger.record("election_candidate.count", c, actor=actor, before=before_c)
    e.held_on, e.entitled_count, e.present_ids = held_on, len(entitled), sorted(present_ids)
    names = "、".join(c.member.name for c in passing[:e.seats])
    short = e.seats - len(elected)
    reason = f"应到会 {len(entitled)} 人,实到 {len(present_ids)} 人;当选:{names}" + (f";尚缺 {short} 名,应另行选举" if short else "")
    return _move(e, "elect", actor=actor, node=flows.ElectionFlow.elect, reason=reason)


@act("election.run", unit=_unit)
@transaction.atomic
def election_report(election: Election, *, actor, secretary: Member, deputy: Member | None = None,
                    titles: dict[int, str] | None = None, approval: HigherDecision | None,
                    filing: HigherDecision | None = None, term_start: dt.date | None,
                    committee_present: list[Member] | None = None, secretary_votes: int | None = None,
                    deputy_votes: int | None = None) -> Election:
    """报批 — the 书记 (and 副书记), elected by the new 支委会 among the elected (seed 001 三(二)1:
    its quorum is the organisation's ``quorum_committee_percent``; each needs more than
    ``election_elected_percent`` of the 委员 present), approved by the higher organisation
    (上级批复 “书记、副书记选举结果批准”); the other 委员 filed with it (“委员选举结果备案”). Where
    only one is elected (no 委员会) the 党员大会 elected the 书记 directly. Then the old
    committee's offices end, the new ones begin on ``term_start``, the unit's term starts and the
    换届 occurrence is fulfilled."""
    e = _locked(election, ElectionState.ELECTED, "报批")
    if e.kind == ElectionKind.BY:
        return _report_by(e, actor=actor, secretary=secretary, deputy=deputy, titles=titles or {}, approval=approval,
                          filing=filing, start=term_start, committee_present=committee_present or [],
                          secretary_votes=secretary_votes, deputy_votes=deputy_votes)
    unit = e.unit
    if term_start is None:
        raise ValidationError({"term_start": "请填写新一届任期开始日期"})
    if e.held_on and term_start < e.held_on:
        raise ValidationError({"term_start": f"新一届任期不能早于选举日期({e.held_on:%Y-%m-%d})"})
    elected = {c.member_id: c for c in e.candidates.filter(elected=True).select_related("member")}
    if secretary is None or secretary.pk not in elected:
        raise ValidationError({"secretary": "书记应从当选的委员中产生"})
    if deputy is not None and (deputy.pk not in elected or deputy.pk == secretary.pk):
        raise ValidationError({"deputy": "副书记应从当选的其他委员中产生"})
    if len(elected) > 1:  # the new 支委会 elects its 书记/副书记
        _committee_vote(e, elected, committee_present or [], secretary, secretary_votes, deputy, deputy_votes)
    d_approval = core.approving_decision(unit, "election_approval", approval)
    if d_approval.date < (e.held_on or d_approval.date):
        raise ValidationError({"approval": f"批复 {d_approval.doc_number} 早于选举日期,不是对本次选举结果的批复"})
    others = [pk for pk in elected if pk not in (secretary.pk, getattr(deputy, "pk", None))]
    d_filing = core.approving_decision(unit, "committee_filing", filing) if others else None
    titles = titles or {}
    wanted = {secretary.pk: PositionTitle.SECRETARY, **({deputy.pk: PositionTitle.DEPUTY_SECRETARY} if deputy else {})}
    for pk in others:
        t = titles.get(pk) or PositionTitle.MEMBER
        if t not in COMMITTEE_TITLES or t in (PositionTitle.SECRETARY, PositionTitle.DEPUTY_SECRETARY):
            raise ValidationError({"titles": f"{elected[pk].member.name} 的分工不是委员会的职务"})
        wanted[pk] = t
    # the old committee's offices end the day before the new term; the new ones begin with it
    last_day = term_start - dt.timedelta(days=1)
    for p in Position.objects.filter(unit=unit, title__in=COMMITTEE_TITLES, end__isnull=True).order_by("pk"):
        core.position_end(p, actor=actor, end=max(last_day, p.start), reason="换届")
    for pk, title in wanted.items():
        core.position_assign(actor=actor, member=elected[pk].member, unit=unit, title=title, start=term_start)
        c = elected[pk]
        before_c = ledger.snapshot(c)
        c.title = title
        c.save(update_fields=["title"])
        ledger.record("election_candidate.title", c, actor=actor, before=before_c)
    core.unit_update(unit, actor=actor, reason=f"换届选举,新一届任期开始(上级批复 {d_approval.doc_number})", term_start=term_start)
    e.approval_decision, e.filing_decision, e.term_start = d_approval, d_filing, term_start
    _fulfil(e, actor)
    return _move(e, "complete", actor=actor, node=flows.ElectionFlow.report,
                 reason=f"书记、副书记批准 {d_approval.doc_number}" + (f";委员备案 {d_filing.doc_number}" if d_filing else ""))


def _report_by(e: Election, *, actor, secretary: Member | None, deputy: Member | None, titles: dict[int, str],
               approval: HigherDecision | None, filing: HigherDecision | None, start: dt.date | None,
               committee_present: list[Member], secretary_votes: int | None,
               deputy_votes: int | None = None) -> Election:
    """报批 of a 补选: the newly elected 委员 filed (“委员选举结果备案”) and take their offices on
    ``start``; a 书记 or 副书记 vacant when the 补选 was opened is elected by the completed 支委会 (the
    sitting 委员 and the new) among its 委员 (a vacant 副书记 may also be left for later) — quorum ``quorum_committee_percent``, more than
    ``election_elected_percent`` of those present — and approved (“书记、副书记选举结果批准”); where
    the unit has no other 委员, the 党员大会 elected the 书记 directly. No sitting office ends (but a
    sitting 委员 elected 书记 leaves the office they held for it), the term does not change and no
    换届 occurrence is fulfilled."""
    unit = e.unit
    if start is None:
        raise ValidationError({"term_start": "请填写补选当选人的任职日期"})
    if e.held_on and start < e.held_on:
        raise ValidationError({"term_start": f"任职日期不能早于补选日期({e.held_on:%Y-%m-%d})"})
    elected = {c.member_id: c for c in e.candidates.filter(elected=True).select_related("member")}
    sitting = {pk: ps for pk, ps in committee_in_office(unit, start).items() if pk not in elected}
    committee = {**{pk: ps[0].member for pk, ps in sitting.items()}, **{pk: c.member for pk, c in elected.items()}}
    wanted: dict[int, str] = {}
    chosen = {PositionTitle.SECRETARY: secretary, PositionTitle.DEPUTY_SECRETARY: deputy}
    field = {PositionTitle.SECRETARY: "secretary", PositionTitle.DEPUTY_SECRETARY: "deputy"}
    for title, who in chosen.items():
        label = PositionTitle(title).label
        holder = Position.objects.filter(unit=unit, title=title, start__lte=start).filter(
            Q(end__isnull=True) | Q(end__gte=start)).first()
        if title in e.vacant_titles and holder is None:
            if who is None and title == PositionTitle.DEPUTY_SECRETARY:
                continue  # a vacant 副书记 may be left to a later 补选; the page keeps flagging it
            if who is None or who.pk not in committee:
                raise ValidationError({field[title]: f"空缺的{label}应从委员会委员(现任委员和补选当选的委员)中产生"})
            if who.pk in wanted:
                raise ValidationError({field[title]: "书记、副书记应由不同的委员担任"})
            wanted[who.pk] = title
        elif who is not None:
            raise ValidationError({field[title]: f"{label}职务没有空缺,补选不产生{label}"})
    d_approval = None
    if wanted:  # the completed 支委会 elects them (where the unit has other 委员), approved above
        s_pk = next((pk for pk, t in wanted.items() if t == PositionTitle.SECRETARY), None)
        d_pk = next((pk for pk, t in wanted.items() if t == PositionTitle.DEPUTY_SECRETARY), None)
        if len(committee) > 1:
            _committee_vote(e, committee, committee_present, committee[s_pk] if s_pk else None,
                            secretary_votes if s_pk else None, committee[d_pk] if d_pk else None,
                            deputy_votes if d_pk else None, who="委员会委员(现任委员和补选当选的委员)")
        d_approval = core.approving_decision(unit, "election_approval", approval)
        if d_approval.date < (e.held_on or d_approval.date):
            raise ValidationError({"approval": f"批复 {d_approval.doc_number} 早于补选日期,不是对本次选举结果的批复"})
    new_members = [pk for pk in elected if pk not in wanted]
    d_filing = core.approving_decision(unit, "committee_filing", filing) if new_members else None
    for pk in new_members:
        t = titles.get(pk) or PositionTitle.MEMBER
        if t not in COMMITTEE_TITLES or t in (PositionTitle.SECRETARY, PositionTitle.DEPUTY_SECRETARY):
            raise ValidationError({"titles": f"{elected[pk].member.name} 的分工不是委员会的职务"})
        wanted[pk] = t
    for pk, title in wanted.items():
        for p in sitting.get(pk, ()):  # a sitting 委员 elected 书记 leaves the office held until now
            core.position_end(p, actor=actor, end=max(start - dt.timedelta(days=1), p.start), reason="补选为书记")
        core.position_assign(actor=actor, member=committee[pk], unit=unit, title=title, start=start)
        c = elected.get(pk)
        if c is not None:
            before_c = ledger.snapshot(c)
            c.title = title
            c.save(update_fields=["title"])
            ledger.record("election_candidate.title", c, actor=actor, before=before_c)
    e.approval_decision, e.filing_decision, e.offices_start = d_approval, d_filing, start
    names = "、".join(f"{committee[pk].name}({PositionTitle(t).label})" for pk, t in wanted.items())
    reason = f"补选:{names}" + (f";书记批准 {d_approval.doc_number}" if d_approval else "") + (
        f";委员备案 {d_filing.doc_number}" if d_filing else "")
    return _move(e, "complete", actor=actor, node=flows.ElectionFlow.report, reason=reason)


def _committee_vote(e: Election, elected: dict, present: list[Member], secretary: Member, secretary_votes: int | None,
                    deputy: Member | None, deputy_votes: int | None, *, who: str = "新当选的委员") -> None:
    """The meeting of the 支委会 (the new one after a 换届; the completed one after a 补选): more than
    ``quorum_committee_percent`` of its 委员 (``elected``) present (workflows/rules.toml, 支部工作条例
    第十二条), and the 书记 (副书记) with more than ``election_elected_percent`` of the 委员 present."""
    rules = rules_for(e.unit)
    ids = {m.pk for m in present}
    if not ids <= set(elected):
        raise ValidationError({"committee_present": f"选举书记、副书记的到会人员应为{who}"})
    q = rules["quorum_committee_percent"]
    if not quorum_rules.exceeds(len(ids), len(elected), q.value, inclusive=bool(rules["quorum_exactly_at_percent"].value)):
        raise ValidationError({"committee_present": f"委员会会议到会委员 {len(ids)} 人,未超过应到会 {len(elected)} 人的"
                                                    f"{q.value}%,不能选举书记、副书记(依据:{q.source})"})
    need = rules["election_elected_percent"]
    for who, label, n in ((secretary, "书记", secretary_votes), (deputy, "副书记", deputy_votes)):
        if who is None:
            continue
        if n is None or n > len(ids) or not quorum_rules.exceeds(n, len(ids), need.value):
            got = "未填写得票" if n is None else f"得票 {n}"
            raise ValidationError({"secretary_votes": f"{who.name} {got},应超过到会委员 {len(ids)} 人的{need.value}%"
                                                      f"方能当选{label}(依据:{need.source})"})
    e.committee_present_ids, e.secretary_votes, e.deputy_votes = sorted(ids), secretary_votes, deputy_votes


def _fulfil(e: Election, actor) -> None:
    """The 换届 occurrence is done on the day of the election (late if after its due date)."""
    if e.occurrence_id is None:
        return
    occ = Occurrence.objects.select_for_update().get(pk=e.occurrence_id)
    if occ.state not in (State.OPEN, State.PLANNED):
        return
    before = ledger.snapshot(occ)
    if occ.state == State.OPEN:
        occ.planned_date = occ.planned_date or e.held_on
        occ.place = occ.place or "党员大会"
        occ.topic = occ.topic or "换届选举"
        occ.plan()
    occ.held_on, occ.late = e.held_on, e.held_on > occ.due_date
    occ.hold()
    occ.updated_by = actor if getattr(actor, "pk", None) else None
    occ.save()
    ledger.record("occurrence.hold", occ, actor=actor, before=before, reason="换届选举完成")
