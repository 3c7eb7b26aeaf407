"""Benchmark: the compliance matrix for the whole tree and year (issue 7 §1), against the
floor — one hand-written SQL ``GROUP BY`` counting the same cells — measured in the same run.
Also the query count for the whole tree and for one 党总支 (it must not depend on how many
units there are). Run on the data of ``bench/generate.py``:

    DATABASE_URL=postgres://…/qms_bench .venv/bin/python bench/compliance.py --runs 5
"""
from __future__ import annotations

import argparse
import statistics

from common import machine, peak_memory, queries, setup, summary, timed

FLOOR_SQL = """
SELECT o.unit_id, o.obligation_key,
       sum(CASE WHEN o.state IN ('held','checked','closed') AND NOT o.late THEN 1 ELSE 0 END),
       sum(CASE WHEN o.state IN ('held','checked','closed') AND o.late THEN 1 ELSE 0 END),
       sum(CASE WHEN o.state = 'missed' OR (o.state NOT IN ('held','checked','closed','cancelled') AND o.due_date < %s) THEN 1 ELSE 0 END)
FROM workflows_occurrence o JOIN qms_unit u ON u.id = o.unit_id
WHERE u.path LIKE %s AND o.period_start >= %s AND o.period_start < %s
GROUP BY o.unit_id, o.obligation_key
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--unit", default="BIG")
    parser.add_argument("--year", type=int, default=None)
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

    def floor():
        with connection.cursor() as c:
            c.execute(FLOOR_SQL, [today, root.path + "%", dt.date(year, 1, 1), dt.date(year + 1, 1, 1)])
            return c.fetchall()

    floor()  # warm the cache for both
    floors, cells = timed(floor, args.runs)
    ours, matrix = timed(lambda: compliance(root, year, today=today), args.runs)
    rates_t, _ = timed(lambda: compliance(root, year, today=today, cells=False), args.runs)
    n_q = queries(lambda: compliance(root, year, today=today))
    one = Unit.objects.filter(path__startswith=root.path, kind="general_branch").order_by("path").first()
    n_q_one = queries(lambda: compliance(one, year, today=today)) if one else n_q
    mem = peak_memory(lambda: compliance(root, year, today=today))
    ratio = statistics.median(ours) / statistics.median(floors)
    print(f"units {units:,}, occurrences {len(matrix.cells):,}, groups in floor {len(cells):,}")
    print(f"floor (SQL GROUP BY): {summary(floors)}")
    print(f"compliance():          {summary(ours)}")
    rates_ratio = statistics.median(rates_t) / statistics.median(floors)
    print(f"compliance(cells=False): {summary(rates_t)} — {rates_ratio:.2f}× the floor (rates only, counted by the database)")
    print(f"ratio {ratio:.2f}× the floor; queries {n_q} (whole tree) vs {n_q_one} (one 党总支); peak Python memory {mem / 2**20:.0f} MiB")
    print(f"targets (full matrix): ≤ 3× floor {'met' if ratio <= 3 else 'MISSED'}, ≤ 5 s {'met' if statistics.median(ours) <= 5 else 'MISSED'}, "
          f"queries independent of units {'met' if n_q == n_q_one else 'MISSED'}")


if __name__ == "__main__":
    main()
