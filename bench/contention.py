"""Benchmark: concurrent transitions and the tallies' shared counter rows (reliability T20).

Every transition of an occurrence also updates the counters of its unit's superiors
(``SubtreeTally``), so transitions of the same obligation and due date anywhere in the tree
update the same rows of the 党委 and of their 党总支: each waits for the one before to commit.
This measures how much that costs under concurrency, on PostgreSQL: ``--sessions`` threads,
each on its own connection, each making ``--per-session`` transitions open → held in
autocommit (one transaction each, as the services make them), in two scenarios:

- ``shared``: every occurrence has the same obligation and due date, in different branches
  (all sessions update the same counter rows of the root);
- ``spread``: each session's occurrences have another obligation or due date (no shared rows);

each with the triggers on and, as the floor, with them disabled. Every transition is put back
afterwards the same way (triggers on: through them; off: past them), so the data and the
tallies stay as they were (``manage.py compliance --check-tally`` agrees after a run).

    DATABASE_URL=postgres://…/qms_bench_full .venv/bin/python bench/contention.py --sessions 1 2 4 8
"""
from __future__ import annotations

import argparse
import threading
import time

from common import machine, setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--per-session", type=int, default=100)
    args = parser.parse_args()
    setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("需要 PostgreSQL(设置 DATABASE_URL)")
    print(machine())
    groups = _groups(max(args.sessions), args.per_session)
    for scenario in ("shared", "spread"):
        for n in args.sessions:
            ids = [groups[scenario][i] for i in range(n)]
            floor = _run(ids, triggers=False)
            ours = _run(ids, triggers=True)
            print(f"{scenario:6s} sessions {n}: {ours['rate']:7.0f} transitions/s, p50 {ours['p50']:.2f} ms, p95 {ours['p95']:.2f} ms "
                  f"— triggers off {floor['rate']:7.0f}/s, p50 {floor['p50']:.2f} ms, p95 {floor['p95']:.2f} ms "
                  f"({ours['rate'] / floor['rate']:.2f}× the throughput)")


def _groups(sessions: int, per: int) -> dict[str, list[list[int]]]:
    """Open occurrences: ``shared`` — one obligation and due date, each session a different
    set of branches; ``spread`` — each session its own (obligation, due date)."""
    from django.db.models import Count

    from workflows.models import Occurrence, State

    open_ = Occurrence.objects.filter(state=State.OPEN, event__isnull=True)
    combos = list(open_.values("obligation_key", "due_date").annotate(n=Count("id")).filter(n__gte=per)
                  .order_by("-n").values_list("obligation_key", "due_date", "n")[:sessions + 1])
    if len(combos) < sessions + 1 or combos[0][2] < sessions * per:
        raise SystemExit("数据不足:需要 bench/generate.py --scale 1 生成的数据")
    key, due, _ = combos[0]
    pool = list(open_.filter(obligation_key=key, due_date=due).order_by("unit__path").values_list("pk", flat=True)[:sessions * per])
    shared = [pool[i::sessions] for i in range(sessions)]  # interleaved: every session all over the tree
    spread = [list(open_.filter(obligation_key=k, due_date=d).order_by("pk").values_list("pk", flat=True)[:per])
              for k, d, _ in combos[1:sessions + 1]]
    return {"shared": shared, "spread": spread}


def _run(ids: list[list[int]], *, triggers: bool) -> dict:
    from django.db import connection, connections

    with connection.cursor() as c:
        if not triggers:
            c.execute("ALTER TABLE workflows_occurrence DISABLE TRIGGER USER")
    connection.close()  # each pass on fresh connections
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(ids) + 1)

    def worker(pks: list[int], state: str, timed: bool) -> None:
        mine: list[float] = []
        try:
            with connections["default"].cursor() as c:
                barrier.wait(60)
                for pk in pks:
                    t = time.perf_counter()
                    c.execute("UPDATE workflows_occurrence SET state = %s WHERE id = %s", [state, pk])
                    mine.append(time.perf_counter() - t)
        finally:
            connections["default"].close()
        if timed:
            with lock:
                latencies.extend(mine)

    def wave(state: str, timed: bool) -> float:
        threads = [threading.Thread(target=worker, args=(pks, state, timed)) for pks in ids]
        for t in threads:
            t.start()
        barrier.wait(60)
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        barrier.reset()
        return time.perf_counter() - t0

    try:
        took = wave("held", True)
        wave("open", False)  # put back the same way
    finally:
        if not triggers:
            with connection.cursor() as c:
                c.execute("ALTER TABLE workflows_occurrence ENABLE TRIGGER USER")
            connection.close()
    latencies.sort()
    total = sum(len(p) for p in ids)
    return {"rate": total / took, "p50": latencies[len(latencies) // 2] * 1000,
            "p95": latencies[int(len(latencies) * 0.95)] * 1000}


if __name__ == "__main__":
    main()
