"""Benchmark: the compliance matrix for the whole tree and year (issue 7 §1), against the
floor — one hand-written SQL ``GROUP BY`` over the occurrences counting the same cells (the
same five statuses per unit × obligation) — measured in the same run. Also: the cell-by-cell
listing against a plain SELECT of the same rows; the query count for the whole tree and for
one 党总支 (it must not depend on how many units there are); and what the tally's triggers
cost the writes (bulk insert and state updates with the triggers on and off, in a
transaction that is rolled back). Run on the data of ``bench/generate.py``:

    DATABASE_URL=postgres://…/qms_bench .venv/bin/python bench/compliance.py --runs 5
"""
from __future__ import annotations

import argparse
import statistics

from common import machine, peak_memory, queries, setup, summary, timed

FLOOR_SQL = """
SELECT o.unit_id, o.obligation_key,
       count(*) FILTER (WHERE o.state IN ('held','checked','closed') AND NOT o.late),
       count(*) FILTER (WHERE o.state IN ('held','checked','closed') AND o.late),
       count(*) FILTER (WHERE o.state = 'missed' OR (o.state IN ('open','planned') AND o.due_date < %(today)s)),
       count(*) FILTER (WHERE o.state IN ('open','planned') AND o.due_date >= %(today)s),
       count(*) FILTER (WHERE o.state = 'cancelled')
FROM workflows_occurrence o JOIN qms_unit u ON u.id = o.unit_id
WHERE u.path LIKE %(path)s AND o.period_start >= %(start)s AND o.period_start < %(end)s
GROUP BY o.unit_id, o.obligation_key
"""
CELLS_FLOOR_SQL = """
SELECT o.id, u.code, u.name, o.obligation_key, b.title, o.period_start, o.period_end, o.seq, o.due_date, o.state, o.late, o.event_id
FROM workflows_occurrence o JOIN qms_unit u ON u.id = o.unit_id JOIN procedures_obligation b ON b.id = o.obligation_id
WHERE u.path LIKE %(path)s AND o.period_start >= %(start)s AND o.period_start < %(end)s
ORDER BY u.path, o.obligation_key, o.period_start, o.seq
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--unit", default="BIG")
    parser.add_argument("--year", type=int, default=None)
    parser.add_argument("--write-cost", type=int, default=20000, help="occurrences for the trigger write-cost pass (0: skip)")
    args = parser.parse_args()
    setup()
    import datetime as dt

    from django.db import connection
    from django.utils import timezone

    from qms.models import Unit
    from workflows.compliance import compliance

    today = timezone.localdate()
    year = args.year or today.year
    root = Unit.objects.get(code=args.unit)
    units = Unit.objects.filter(path__startswith=root.path).count()
    print(machine())

    params = {"today": today, "path": root.path + "%", "start": dt.date(year, 1, 1), "end": dt.date(year + 1, 1, 1)}

    def sql(statement):
        def run():
            with connection.cursor() as c:
                c.execute(statement, params)
                return c.fetchall()
        return run

    sql(FLOOR_SQL)()  # warm the caches
    sql(CELLS_FLOOR_SQL)()
    floors, groups = timed(sql(FLOOR_SQL), args.runs)
    rates_t, rates = timed(lambda: compliance(root, year, today=today, cells=False), args.runs)
    cells_floor, rows = timed(sql(CELLS_FLOOR_SQL), args.runs)
    cells_t, matrix = timed(lambda: compliance(root, year, today=today), args.runs)
    one = Unit.objects.filter(path__startswith=root.path, kind="general_branch").order_by("path").first()
    n_q = queries(lambda: compliance(root, year, today=today, cells=False))
    n_q_one = queries(lambda: compliance(one, year, today=today, cells=False)) if one else n_q
    n_q_cells, n_q_cells_one = queries(lambda: compliance(root, year, today=today)), queries(lambda: compliance(one, year, today=today))
    mem_rates = peak_memory(lambda: compliance(root, year, today=today, cells=False))
    mem_cells = peak_memory(lambda: compliance(root, year, today=today))
    ratio = statistics.median(rates_t) / statistics.median(floors)
    cells_ratio = statistics.median(cells_t) / statistics.median(cells_floor)
    total = sum(g[2] + g[3] + g[4] for g in groups)
    assert total == rates.overall.due, (total, rates.overall.due)  # the floor and ours count the same cells
    print(f"units {units:,}; occurrences {len(matrix.cells):,}; unit × obligation cells {len(groups):,} (floor) = "
          f"{len(rates.by_unit_obligation):,} (ours); due {total:,} in both")
    print(f"floor: SQL GROUP BY over the occurrences   {summary(floors)}")
    print(f"compliance(cells=False) from the tally     {summary(rates_t)} — {ratio:.2f}× the floor; queries {n_q} (whole tree) "
          f"vs {n_q_one} (one 党总支); peak Python memory {mem_rates / 2**20:.0f} MiB")
    print(f"floor: SQL SELECT of every cell's row      {summary(cells_floor)}")
    print(f"compliance() every cell with its label     {summary(cells_t)} — {cells_ratio:.2f}× its floor; queries {n_q_cells} "
          f"vs {n_q_cells_one}; peak Python memory {mem_cells / 2**20:.0f} MiB")
    print(f"targets (matrix): ≤ 3× floor {'met' if ratio <= 3 else 'MISSED'}, ≤ 5 s {'met' if statistics.median(rates_t) <= 5 else 'MISSED'}, "
          f"queries independent of units {'met' if n_q == n_q_one and n_q_cells == n_q_cells_one else 'MISSED'}")
    if connection.vendor == "postgresql" and args.write_cost:
        write_cost(args.write_cost)


def write_cost(n: int) -> None:
    """What the tallies' triggers add to writes, triggers enabled vs disabled: ``n``
    occurrences bulk-inserted in one statement (in a transaction rolled back), and ``n // 10``
    single transitions open → held, each in its own transaction as the services make them
    (then put back, so the data is as it was; with the triggers disabled both the change and
    its undo bypass the tallies, which therefore stay exact)."""
    import time

    from django.db import connection, transaction

    from workflows.models import Occurrence, State

    src = list(Occurrence.objects.filter(event__isnull=True).order_by("pk")[:n])

    def bulk(enabled: bool) -> float:
        with transaction.atomic():
            with connection.cursor() as c:
                if not enabled:
                    c.execute("ALTER TABLE workflows_occurrence DISABLE TRIGGER USER")
            new = [Occurrence(unit_id=o.unit_id, obligation_id=o.obligation_id, obligation_key=o.obligation_key,
                              period_start=o.period_start, period_end=o.period_end, seq=o.seq + 100, due_date=o.due_date)
                   for o in src]
            t = time.perf_counter()
            Occurrence.objects.bulk_create(new, batch_size=len(new))
            took = time.perf_counter() - t
            transaction.set_rollback(True)
        return took

    pks = list(Occurrence.objects.filter(state=State.OPEN).order_by("pk").values_list("pk", flat=True)[:max(1, n // 10)])

    def singles(enabled: bool) -> float:
        with connection.cursor() as c:
            if not enabled:
                c.execute("ALTER TABLE workflows_occurrence DISABLE TRIGGER USER")
            try:
                t = time.perf_counter()
                for pk in pks:  # autocommit: one transaction each
                    c.execute("UPDATE workflows_occurrence SET state = 'held' WHERE id = %s", [pk])
                took = time.perf_counter() - t
                for pk in pks:
                    c.execute("UPDATE workflows_occurrence SET state = 'open' WHERE id = %s", [pk])
            finally:
                if not enabled:
                    c.execute("ALTER TABLE workflows_occurrence ENABLE TRIGGER USER")
        return took

    # Singles first, each on a fresh connection (a DISABLE/ENABLE TRIGGER earlier on the same
    # connection, or the rolled-back bulk inserts' dead counter versions, made the singles with
    # triggers look ~5 ms slower each than they are: 0.85 ms per update alone, as in psql).
    connection.close()
    singles(True)  # warm up
    s_on = singles(True)
    connection.close()
    s_off = singles(False)
    connection.close()
    bulk(True)  # warm up
    b_off, b_on = bulk(False), bulk(True)
    print(f"write cost of the tally triggers: bulk insert of {n:,} in one statement {b_off:.2f}s → {b_on:.2f}s "
          f"({b_on / b_off:.2f}×); {len(pks):,} transitions open → held, one transaction each, {s_off:.2f}s → {s_on:.2f}s "
          f"({(s_on - s_off) / len(pks) * 1e6:.0f} µs more per transition)")


if __name__ == "__main__":
    main()
