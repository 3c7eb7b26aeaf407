"""Conflicting transitions from one state (reliability.md T2): on a ticket whose implementation
waits for verification, 验证 and 退回 are fired at the same moment by two people, each on its own
PostgreSQL connection, run after run. Every run: exactly one wins, the other gets the clear
conflict message, the final state is the winner's target (never an edge the machine does not
have), exactly one of the two ledger entries, and the ledger verifies at the end.

``QMS_T2_RUNS`` sets the number of runs (the suite runs 20; the published figure: 1,000, by hand)."""
from __future__ import annotations

import datetime as dt
import os
from collections import Counter

import pytest

from audits.capa import services as capa
from audits.models import NCState, Nonconformity
from qms import ledger
from qms.models import LedgerEntry
from tests.test_concurrency_pg import _race, org  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)
RUNS = int(os.environ.get("QMS_T2_RUNS", "20"))
D = dt.date
TARGET = {"verify": NCState.VERIFIED, "reject": NCState.PLANNED}


def _implemented(org, i: int) -> Nonconformity:  # noqa: F811
    nc = capa.nc_raise(actor=org["auditor"], unit=org["b1"], source="spot_check", grade="minor", clause="DJ-CX-02",
                       requirement="每月至少召开1次支委会", evidence=f"第{i}次抽查:无支委会记录")
    capa.nc_acknowledge(nc, actor=org["sec"])
    capa.nc_analyse(nc, actor=org["sec"], why=["未排入计划"], root_cause="未建立月度计划")
    capa.nc_plan(nc, actor=org["sec"], correction="补开支委会", corrective_action="建立月度计划", owner=org["m"],
                 due_date=D(2026, 12, 31))
    return capa.nc_implement(nc, actor=org["sec"], evidence="已补开并建立计划", done_on=D(2026, 6, 1))


def test_verify_and_reject_at_once_never_both(org):  # noqa: F811
    outcomes = Counter()
    for i in range(RUNS):
        nc = _implemented(org, i)
        assert nc.state == NCState.IMPLEMENTED
        stale = [Nonconformity.objects.get(pk=nc.pk) for _ in range(2)]
        acts = [lambda n: capa.nc_verify(n, actor=org["auditor"], note="已核实", password="pass-12345"),
                lambda n: capa.nc_reject(n, actor=org["auditor"], reason="证据不足")]
        results = _race(2, lambda k, acts=acts, stale=stale: (("verify", "reject")[k], acts[k](stale[k]).state))
        kinds = Counter(k for k, _ in results)
        assert kinds == {"ok": 1, "refused": 1}, (i, results)
        assert [m for k, m in results if k == "refused"] == [capa.CONFLICT]
        name, state = next(v for k, v in results if k == "ok")
        nc.refresh_from_db()
        assert nc.state == state == TARGET[name], (i, name, nc.state)
        entries = set(LedgerEntry.objects.filter(obj_type=ledger.label_of(nc), obj_id=str(nc.pk),
                                                 action__in=("nc.verify", "nc.reject")).values_list("action", flat=True))
        assert entries == {f"nc.{name}"}, (i, entries)
        outcomes[name] += 1
    assert sum(outcomes.values()) == RUNS
    print(f"\nT2: {RUNS} runs of 验证 ‖ 退回 — {dict(outcomes)}; 0 both, 0 illegal states")
    assert ledger.verify().ok

