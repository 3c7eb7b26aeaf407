"""Random programs over the two state machines (TRUST 4; docs/reliability.md T3): hypothesis
``RuleBasedStateMachine`` drives an occurrence (组织生活: plan → record → submit → check →
close, or cancel) and a corrective-action ticket (不符合项: acknowledge → analyse → plan →
implement → verify / reject → close → effectiveness) through their service functions, each
step by a random person — in scope and out (the branch's secretary and a plain member, the
committee's secretary, the 体系管理员, the internal and the external auditor, the sibling
branch's secretary) — with random, sometimes empty, input. After every step:

- the state is one of the model's choices and reachable from the first state along the
  machine's declared transitions; a step that succeeded moved it along one declared edge
  (from its source to its target), a refused one left it where it was;
- a step that succeeded wrote exactly one ledger entry for each row it changed (the
  occurrence, its record, the ticket); a row it left alone got none — or, when the act was
  repeated with the same input (a plan saved twice), one entry saying nothing changed
  (before = after); a refused step wrote no entry at all and changed no row;
- at the end of every program ``ledger.verify`` (behind ``manage.py verify_ledger``) passes.

CI runs 10 programs of up to 20 steps (under 40 s). ``QMS_FUZZ_LONG=1`` selects the profile for the
hour-long run by hand (docs/reliability.md T3/T19):

    QMS_FUZZ_LONG=1 .venv/bin/python -m pytest -q -p no:randomly tests/test_state_fuzz.py

The organisation is built once for the module; every program runs in a savepoint of it.
"""
from __future__ import annotations

import datetime as dt
import os

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django_fsm import FSMField
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from audits.capa import services as capa
from audits.models import Nonconformity
from qms import ledger
from qms.models import LedgerEntry, Member
from qms.permissions import NotPermitted
from tests.test_permissions_web import _base, org  # noqa: F401  (the organisation, built once per module)
from workflows import services as wsvc
from workflows.models import Occurrence, Record

pytestmark = pytest.mark.django_db
PASSWORD = "pass-12345"  # every login of build_org (tests/factories.py): the signing acts ask for it again
TODAY = timezone.localdate()

LONG = os.environ.get("QMS_FUZZ_LONG", "") == "1"
settings.register_profile("qms-ci", max_examples=10, stateful_step_count=20, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("qms-long", max_examples=1_000_000, stateful_step_count=50, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
#: the one-hour run stops by time: ``QMS_FUZZ_SECONDS`` (default 3600)
FUZZ_SECONDS = float(os.environ.get("QMS_FUZZ_SECONDS", "3600"))
PROFILE = settings.get_profile("qms-long" if LONG else "qms-ci")

#: who acts: in scope (B1's secretary, the committee's, the 体系管理员, the internal auditor over
#: the committee) and out of it (a plain member of B1, the external auditor, B2's secretary)
ACTORS = ("sec_b1", "sec_b1", "sec_c", "sec_c", "admin", "ia", "member", "ext", "sec_b2")  # in scope twice as often
REFUSALS = (ValidationError, NotPermitted, PermissionDenied)


#: operation → (machine, the states in which the machine allows it)
OPS = {
    "occ_plan": ("occ", {"open", "planned"}), "occ_record": ("occ", {"planned", "held"}),
    "occ_attend_all": ("occ", {"planned", "held"}), "occ_submit": ("occ", {"planned"}), "occ_check": ("occ", {"held"}),
    "occ_close": ("occ", {"checked"}), "occ_cancel": ("occ", {"open", "planned"}), "occ_amend": ("occ", {"checked", "closed"}),
    "nc_acknowledge": ("nc", {"raised"}), "nc_analyse": ("nc", {"acknowledged"}), "nc_plan": ("nc", {"analysed"}),
    "nc_implement": ("nc", {"planned"}), "nc_verify": ("nc", {"implemented"}), "nc_reject": ("nc", {"implemented"}),
    "nc_close": ("nc", {"verified"}), "nc_review": ("nc", {"closed"}),
}
OPS_NAMES = tuple(OPS)


def _graph(model) -> tuple[str, dict[str, dict[str, set[str]]]]:
    """The machine's declared edges: method name → source → targets (``*`` = any source)."""
    field = next(f for f in model._meta.fields if isinstance(f, FSMField))
    edges: dict[str, dict[str, set[str]]] = {}
    for t in field.get_all_transitions(model):
        edges.setdefault(t.name, {}).setdefault(t.source, set()).add(t.target)
    return field.name, edges


def _reachable(first: str, edges) -> set[str]:
    seen, todo = {first}, [first]
    while todo:
        s = todo.pop()
        for by_source in edges.values():
            for source, targets in by_source.items():
                if source in (s, "*", "+"):
                    for t in targets:
                        if t not in seen:
                            seen.add(t)
                            todo.append(t)
    return seen


def _row(model, pk):
    return model._default_manager.filter(pk=pk).values().first()


def _entries(model, pk) -> int:
    return LedgerEntry.objects.filter(obj_type=ledger.label_of(model), obj_id=str(pk)).count()


class Machines(RuleBasedStateMachine):
    """One occurrence and one ticket of 第一党支部, and who may do what to them at random."""

    org: dict = {}  # set by the test: the module's organisation (fresh instances)
    #: over all programs: programs, steps done, steps refused, and the states reached
    totals: dict = {"programs": 0, "ok": 0, "refused": 0, "occ_states": set(), "nc_states": set()}

    def __init__(self):
        super().__init__()
        self._sid = transaction.savepoint()
        org = self.org  # noqa: F811
        self.occ = Occurrence.objects.filter(unit=org["b1"], obligation_key="branch_general_meeting",
                                             period_start__lte=TODAY).order_by("-period_start").first()
        self.day = max(self.occ.period_start, TODAY - dt.timedelta(days=1))
        self.nc = capa.nc_raise(actor=org["sec_c"], unit=org["b1"], source="spot_check", grade="minor",
                                clause="DJ-CX-02", requirement="每月至少召开1次支委会", evidence="3月无支委会记录")
        self.owner = Member.objects.get(user=org["member"])
        self.occ_field, self.occ_edges = _graph(Occurrence)
        self.nc_field, self.nc_edges = _graph(Nonconformity)
        self.occ_legal = _reachable(self.occ.state, self.occ_edges)
        self.nc_legal = _reachable(self.nc.state, self.nc_edges)
        self.steps = {"ok": 0, "refused": 0}

    def teardown(self):
        t = Machines.totals
        t["programs"] += 1
        t["ok"] += self.steps["ok"]
        t["refused"] += self.steps["refused"]
        t["occ_states"].add(Occurrence.objects.get(pk=self.occ.pk).state)
        t["nc_states"].add(Nonconformity.objects.get(pk=self.nc.pk).state)
        try:
            result = ledger.verify()
            assert result.ok, [f"{p.seq} {p.kind}: {p.message}" for p in result.problems[:5]]
        finally:
            transaction.savepoint_rollback(self._sid)

    # ------------------------------------------------------------------ the step, checked

    def _watched(self) -> list[tuple]:
        rec = Record.objects.filter(occurrence_id=self.occ.pk).values_list("pk", flat=True).first()
        out = [(Occurrence, self.occ.pk), (Nonconformity, self.nc.pk)]
        if rec:
            out.append((Record, rec))
        return out

    def _step(self, machine: str, method: str, who: str, call):
        """Run ``call`` (a service function) and check the step's invariants."""
        actor = self.org[who]
        watched = self._watched()
        rows = {key: _row(*key) for key in watched}
        counts = {key: _entries(*key) for key in watched}
        head = ledger.head()
        obj, field, edges = ((self.occ, self.occ_field, self.occ_edges) if machine == "occ"
                             else (self.nc, self.nc_field, self.nc_edges))
        model = type(obj)
        before = model.objects.get(pk=obj.pk)
        state = getattr(before, field)
        try:
            with transaction.atomic():
                call(before, actor)
        except REFUSALS:
            after = model.objects.get(pk=obj.pk)
            assert ledger.head() == head, f"{method} by {who} was refused but wrote to the ledger"
            assert {key: _row(*key) for key in watched} == rows, f"{method} by {who} was refused but changed a row"
            assert getattr(after, field) == state
            self.steps["refused"] += 1
            return False
        after = model.objects.get(pk=obj.pk)
        new_state = getattr(after, field)
        if new_state != state:  # moved along a declared edge of this method (or of the step it makes)
            targets = {t for m in edges.values() for s, ts in m.items() if s in (state, "*", "+") for t in ts}
            assert new_state in targets, f"{method} by {who}: {state} → {new_state} is no edge of the machine"
        for key in self._watched():
            changed = _row(*key) != rows.get(key)
            written = _entries(*key) - counts.get(key, 0)
            if changed:
                assert written == 1, f"{method} by {who}: {key[0].__name__}#{key[1]} changed, {written} ledger entries"
            else:
                # an act repeated with the same input (a plan saved twice) is recorded as an act:
                # at most one entry, and it says nothing changed (before = after)
                assert written <= 1, f"{method} by {who}: {key[0].__name__}#{key[1]} unchanged, {written} ledger entries"
                if written:
                    e = LedgerEntry.objects.filter(obj_type=ledger.label_of(key[0]), obj_id=str(key[1])).order_by("-seq").first()
                    assert e.before == e.after, f"{method} by {who}: unchanged row, but its entry records a change"
        self.steps["ok"] += 1
        return True

    @invariant()
    def states_are_legal(self):
        occ = Occurrence.objects.get(pk=self.occ.pk)
        nc = Nonconformity.objects.get(pk=self.nc.pk)
        assert occ.state in dict(Occurrence._meta.get_field("state").choices) and occ.state in self.occ_legal
        assert nc.state in dict(Nonconformity._meta.get_field("state").choices) and nc.state in self.nc_legal

    # ------------------------------------------------------------------- the operations
    # Each operation is one service call with its input; ``OPS`` names them with the states
    # where the machine allows them. The guarded rules pick an operation allowed in the current
    # state (so programs get far: records checked, tickets closed and reviewed); the wild rule
    # picks any operation in any state (illegal edges must be refused and change nothing).

    def op_occ_plan(self, who, data):
        day = self.day + dt.timedelta(days=data.draw(st.integers(-100, 20), label="plan offset"))
        topic = data.draw(st.sampled_from(["学习党章", "", "𠮷 生僻字议题 🎉"]), label="topic")
        self._step("occ", "plan", who, lambda o, a: wsvc.occurrence_plan(o, actor=a, planned_date=day, place="党员活动室",
                                                                         topic=topic))

    def op_occ_record(self, who, data):
        complete = data.draw(st.booleans(), label="complete")

        def call(o, a):
            roll = list(wsvc.roster_on(o.unit, self.day))
            elements = {"speeches": "书记传达;党员发言"}
            if complete:
                elements.update({"time": f"{self.day.isoformat()}T09:00",
                                 "votes": {"for": len(roll), "against": 0, "abstain": 0}})
            wsvc.record_save(o, actor=a, elements=elements)
        self._step("occ", "record_save", who, call)

    def op_occ_attend_all(self, who, data):
        def call(o, a):
            for m in wsvc.roster_on(o.unit, self.day):
                wsvc.attendance_mark(o, actor=a, member=m, presence="present")
        self._step("occ", "attendance_mark", who, call)

    def op_occ_submit(self, who, data):
        held = self.day + dt.timedelta(days=data.draw(st.integers(-80, 2), label="held offset"))
        self._step("occ", "hold", who, lambda o, a: wsvc.record_submit(o, actor=a, held_on=held))

    def op_occ_check(self, who, data):
        self._step("occ", "mark_checked", who, lambda o, a: wsvc.record_check(o, actor=a, password=PASSWORD))

    def op_occ_close(self, who, data):
        self._step("occ", "close", who, lambda o, a: wsvc.occurrence_close(o, actor=a))

    def op_occ_cancel(self, who, data):
        reason = data.draw(st.sampled_from(["并入党委统一活动", " "]), label="reason")
        self._step("occ", "cancel", who, lambda o, a: wsvc.occurrence_cancel(o, actor=a, reason=reason))

    def op_occ_amend(self, who, data):
        reason = data.draw(st.sampled_from(["笔误", ""]), label="reason")
        self._step("occ", "amend", who, lambda o, a: wsvc.record_amend(o, actor=a, reason=reason,
                                                                        elements={"speeches": "书记传达(更正)"}))

    def op_nc_acknowledge(self, who, data):
        self._step("nc", "acknowledge", who, lambda n, a: capa.nc_acknowledge(n, actor=a))

    def op_nc_analyse(self, who, data):
        cause = data.draw(st.sampled_from(["缺少制度", ""]), label="root cause")
        self._step("nc", "analyse", who, lambda n, a: capa.nc_analyse(n, actor=a, why=["为何未开"], root_cause=cause))

    def op_nc_plan(self, who, data):
        days = data.draw(st.integers(-3, 30), label="due in days")
        action = data.draw(st.sampled_from(["建立提醒制度", ""]), label="corrective action")
        self._step("nc", "plan", who, lambda n, a: capa.nc_plan(n, actor=a, correction="补开", corrective_action=action,
                                                                owner=self.owner, due_date=TODAY + dt.timedelta(days=days)))

    def op_nc_implement(self, who, data):
        evidence = data.draw(st.sampled_from(["已补开", ""]), label="evidence")
        self._step("nc", "implement", who, lambda n, a: capa.nc_implement(n, actor=a, evidence=evidence, done_on=TODAY))

    def op_nc_verify(self, who, data):
        self._step("nc", "verify", who, lambda n, a: capa.nc_verify(n, actor=a, note="已核实", password=PASSWORD))

    def op_nc_reject(self, who, data):
        reason = data.draw(st.sampled_from(["证据不足", ""]), label="reason")
        self._step("nc", "reject", who, lambda n, a: capa.nc_reject(n, actor=a, reason=reason))

    def op_nc_close(self, who, data):
        self._step("nc", "close", who, lambda n, a: capa.nc_close(n, actor=a, effectiveness_after_days=0, password=PASSWORD))

    def op_nc_review(self, who, data):
        effective = data.draw(st.booleans(), label="effective")
        note = data.draw(st.sampled_from(["三个月未再发生", ""]), label="note")
        self._step("nc", "confirm_effective" if effective else "confirm_ineffective", who,
                   lambda n, a: capa.nc_review_effectiveness(n, actor=a, effective=effective, note=note))

    def _allowed_ops(self) -> list[str]:
        occ = Occurrence.objects.get(pk=self.occ.pk).state
        nc = Nonconformity.objects.get(pk=self.nc.pk).state
        return [op for op, (machine, states) in OPS.items() if (occ if machine == "occ" else nc) in states]

    @rule(who=st.sampled_from(ACTORS), data=st.data())
    def guarded(self, who, data):
        op = data.draw(st.sampled_from(self._allowed_ops() or OPS_NAMES), label="operation")  # both ended: any
        getattr(self, f"op_{op}")(who, data)

    @rule(who=st.sampled_from(ACTORS), op=st.sampled_from(sorted(OPS_NAMES)), data=st.data())
    def wild(self, who, op, data):
        getattr(self, f"op_{op}")(who, data)


# ------------------------------------------------------------------------------ the runner


def test_random_programs_keep_the_machines_and_the_ledger_sound(org):  # noqa: F811
    Machines.org = org
    profile = PROFILE
    if LONG:
        import time

        end = time.monotonic() + FUZZ_SECONDS
        rounds = 0
        while time.monotonic() < end:
            run_state_machine_as_test(Machines, settings=settings(profile, max_examples=20, derandomize=False))
            rounds += 1
        print(f"QMS_FUZZ_LONG: {rounds} rounds of 20 programs × ≤{profile.stateful_step_count} steps; {_summary()}")
        return
    run_state_machine_as_test(Machines, settings=profile)
    t = Machines.totals
    print(_summary())
    # the programs went somewhere: steps were taken and refused, and both machines left their first state
    assert t["ok"] > 0 and t["refused"] > 0, _summary()
    assert t["occ_states"] - {"open"} and t["nc_states"] - {"raised"}, _summary()


def _summary() -> str:
    t = Machines.totals
    return (f"{t['programs']} programs, {t['ok']} steps done, {t['refused']} refused; final states reached: "
            f"occurrence {sorted(t['occ_states'])}, ticket {sorted(t['nc_states'])}")
