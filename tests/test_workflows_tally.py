"""执行计数 — the occurrence tally kept by database triggers (issue 7: the committee-wide
rates read a few rows per unit × obligation, not every occurrence of the year).

Whatever writes the occurrences — services, queryset updates, bulk inserts, deletes — the
tally must equal a recount; the rates read from it must equal the cell-by-cell matrix.
On PostgreSQL the same module also runs against SQLite in a child process, so both
vendors' triggers are exercised in CI.
"""
from __future__ import annotations

import datetime as dt
import io
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from procedures.library_loader import load_library
from qms import services as core
from qms.models import UnitKind
from tests import factories
from workflows.compliance import compliance, rates_by_child, tally_drift, tally_rebuild
from workflows.models import Occurrence, OccurrenceTally, State
from workflows.scheduler import schedule

D = dt.date
ROOT = Path(__file__).resolve().parent.parent


def _tree():
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    z = factories.unit("Z", UnitKind.GENERAL_BRANCH, parent=c, name="测试党总支")
    branches = [factories.unit("B1", UnitKind.BRANCH, parent=c, name="第一党支部"),
                factories.unit("B2", UnitKind.BRANCH, parent=z, name="第二党支部"),
                factories.unit("B3", UnitKind.BRANCH, parent=z, name="第三党支部")]
    for b in branches:
        ms = [factories.member(b, f"{b.code}党员{i}") for i in range(4)]
        for m, t in zip(ms, ("secretary", "organization", "propaganda"), strict=False):
            core.position_assign(actor=None, member=m, unit=b, title=t, start=D(2024, 1, 1))
    schedule(today=D(2026, 8, 15))
    return {"c": c, "z": z, "branches": branches}


def _same_rates(root, today):
    cells = compliance(root, 2026, today=today)
    rates = compliance(root, 2026, today=today, cells=False)
    assert rates.overall.as_dict() == cells.overall.as_dict()
    assert {k: r.as_dict() for k, r in rates.by_unit.items()} == {k: r.as_dict() for k, r in cells.by_unit.items()}
    assert {k: r.as_dict() for k, r in rates.by_obligation.items()} == {k: r.as_dict() for k, r in cells.by_obligation.items()}
    return cells


@pytest.mark.django_db
def test_the_tally_follows_every_kind_of_write_and_the_rates_follow_the_cells():
    t = _tree()
    assert OccurrenceTally.objects.exists() and tally_drift() == []
    rng = random.Random(7)
    states = [s.value for s in State]
    for step in range(300):
        occ = Occurrence.objects.order_by("?").first() if step % 7 else None
        op = rng.choice(("state", "state", "late", "due", "unit", "delete")) if occ else "insert"
        qs = Occurrence.objects.filter(pk=occ.pk) if occ else None
        if op == "state":
            qs.update(state=rng.choice(states))
        elif op == "late":
            qs.update(late=not occ.late)
        elif op == "due":
            qs.update(due_date=occ.due_date + dt.timedelta(days=rng.randint(-60, 60)))
        elif op == "unit":
            qs.update(unit=rng.choice(t["branches"]), seq=1000 + step)  # a free slot in the other unit
        elif op == "delete":
            qs.delete()  # nothing refers to these yet (no records, tickets or samples)
        else:
            src = Occurrence.objects.filter(event__isnull=True).order_by("?").first()
            Occurrence.objects.bulk_create([Occurrence(unit=src.unit, obligation=src.obligation, obligation_key=src.obligation_key,
                                                       period_start=src.period_start, period_end=src.period_end, seq=500 + step,
                                                       due_date=src.due_date, state=rng.choice(states))])
        if step % 50 == 49:
            assert tally_drift() == [], f"after step {step} ({op})"
    assert tally_drift() == []
    for today in (D(2026, 3, 1), D(2026, 10, 5), D(2027, 2, 1)):
        _same_rates(t["c"], today)
        _same_rates(t["z"], today)


@pytest.mark.django_db
def test_the_committee_roll_up_equals_the_sum_of_each_subtree():
    t = _tree()
    Occurrence.objects.filter(unit=t["branches"][1], period_start__month__lte=3).update(state=State.CLOSED)
    Occurrence.objects.filter(unit=t["branches"][2], period_start__month=4).update(state=State.HELD, late=True)
    today = D(2026, 10, 5)
    rolled, titles = rates_by_child(t["c"], 2026, today=today)
    z = compliance(t["z"], 2026, today=today)  # the cell-by-cell matrix of the 党总支's subtree
    for key, r in z.by_obligation.items():
        assert rolled[(t["z"].path, key)].as_dict() == r.as_dict()
        assert titles[key] == z.obligations[key]
    b1 = compliance(t["branches"][0], 2026, today=today)
    assert {k: r.as_dict() for (p, k), r in rolled.items() if p == t["branches"][0].path} == \
        {k: r.as_dict() for k, r in b1.by_obligation.items()}
    assert not any(len(p) > len(t["c"].path) + 9 for p, _ in rolled)  # one level below the root only


@pytest.mark.django_db
def test_drift_is_found_and_rebuilt_and_the_command_says_so():
    _tree()
    row = OccurrenceTally.objects.filter(unit__code="B2").order_by("pk").first()  # B2 lies under Z under C
    OccurrenceTally.objects.filter(pk=row.pk).update(n=row.n + 5)  # as if someone wrote behind the triggers' back
    drift = tally_drift()
    assert len(drift) == 3, drift  # the unit's tally, and (carried by the trigger) its two superiors' subtree tallies
    assert drift[0].startswith("执行计数") and f"计数 {row.n + 5},实际 {row.n}" in drift[0]
    assert all(d.startswith("下级汇总计数") for d in drift[1:])
    out = io.StringIO()
    with pytest.raises(SystemExit) as exc:
        call_command("compliance", "--check-tally", stdout=out, stderr=out)
    assert exc.value.code == 1 and "不一致" in out.getvalue()
    rows = tally_rebuild()
    assert rows == OccurrenceTally.objects.count() and tally_drift() == []
    out = io.StringIO()
    call_command("compliance", "--rebuild-tally", stdout=out)
    call_command("compliance", "--check-tally", stdout=out)
    assert "已重建" in out.getvalue() and "一致" in out.getvalue()


@pytest.mark.django_db
def test_moving_a_unit_carries_its_counts_to_its_new_superiors():
    t = _tree()
    Occurrence.objects.filter(unit=t["branches"][1], period_start__month__lte=6).update(state=State.CLOSED)
    z2 = factories.unit("Z2", UnitKind.GENERAL_BRANCH, parent=t["c"], name="第二党总支")
    factories.unit("G", UnitKind.GROUP, parent=t["branches"][1], name="第一党小组")
    core.unit_update(t["branches"][1], actor=None, reason="机构调整", parent=z2)  # B2 and its group move from Z to Z2
    assert tally_drift() == []
    today = D(2026, 10, 5)
    rolled, _ = rates_by_child(t["c"], 2026, today=today)
    z2.refresh_from_db()
    moved = compliance(t["branches"][1], 2026, today=today)
    for key, r in moved.by_obligation.items():
        assert rolled[(z2.path, key)].as_dict() == r.as_dict()
    stay = compliance(t["z"], 2026, today=today)  # Z itself and B3, which stayed
    assert {k: r.as_dict() for (p, k), r in rolled.items() if p == t["z"].path} == \
        {k: r.as_dict() for k, r in stay.by_obligation.items()}


@pytest.mark.django_db(transaction=True)
def test_concurrent_transitions_of_one_unit_keep_the_tally_exact():
    """PostgreSQL: one session per occurrence of the same unit × obligation (July–December)
    closes it at the same moment; the shared tally row is updated under a row lock, no
    increment is lost."""
    import threading

    from django.db import connections, transaction

    from tests.conftest import require_postgres

    require_postgres()
    t = _tree()
    b = t["branches"][0]
    occs = list(Occurrence.objects.filter(unit=b, obligation_key="branch_committee_meeting").order_by("period_start"))
    assert len(occs) == 6
    barrier, errors = threading.Barrier(len(occs)), []

    def close(pk):
        try:
            with transaction.atomic():
                barrier.wait(10)
                Occurrence.objects.filter(pk=pk).update(state=State.CLOSED)
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=close, args=(o.pk,)) for o in occs]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert errors == []
    assert tally_drift() == []
    assert OccurrenceTally.objects.get(unit=b, obligation_key="branch_committee_meeting", year=2026, bucket="on_time").n == 6


@pytest.mark.django_db(transaction=True)
def test_concurrent_transitions_in_many_branches_do_not_deadlock_on_the_shared_counters():
    """PostgreSQL (reliability T20): six sessions, one per branch under two 党总支, toggle their
    branch's occurrence of the same obligation and due date between open and held, each
    change its own transaction. Every one updates the same counter rows of the 党委 (and of
    its 党总支): the triggers take those row locks in key order, so no two transactions wait
    for each other (a deadlock aborted some of them before), and the tallies stay exact."""
    import threading

    from django.db import connections, transaction

    from tests.conftest import require_postgres

    require_postgres()
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    branches = []
    for z in range(2):
        g = factories.unit(f"Z{z}", UnitKind.GENERAL_BRANCH, parent=c, name=f"党总支{z}")
        for i in range(3):
            b = factories.unit(f"Z{z}B{i}", UnitKind.BRANCH, parent=g, name=f"党支部{z}{i}")
            factories.member(b, f"党员{z}{i}")
            branches.append(b)
    schedule(today=D(2026, 8, 15))
    key, due = Occurrence.objects.filter(unit=branches[0]).values_list("obligation_key", "due_date").order_by("due_date").first()
    pks = [Occurrence.objects.get(unit=b, obligation_key=key, due_date=due).pk for b in branches]
    barrier, errors = threading.Barrier(len(pks)), []

    def toggle(pk):
        try:
            barrier.wait(10)
            for _ in range(40):
                for state in (State.HELD, State.OPEN):
                    with transaction.atomic():
                        Occurrence.objects.filter(pk=pk).update(state=state)
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=toggle, args=(pk,)) for pk in pks]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert errors == []
    assert tally_drift() == []


@pytest.mark.django_db
def test_the_sqlite_triggers_too(tmp_path):
    """On PostgreSQL (CI), run this module's vendor-independent tests against a SQLite file in
    a child process, so the SQLite triggers (the embedded default) are exercised as well."""
    if connection.vendor != "postgresql":
        pytest.skip("already running on SQLite")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CI")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'tally.sqlite3'}"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", "not sqlite and not concurrent"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "4 passed" in proc.stdout
