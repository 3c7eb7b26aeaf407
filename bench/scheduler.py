"""Benchmark: the scheduler (issue 7 §2) — materialising the occurrences of the next months for
the whole tree, then re-running it (the idempotent pass, which should be cheap). Runs inside a
transaction that is rolled back, so the generated data stays as it was.

    DATABASE_URL=postgres://…/qms_bench .venv/bin/python bench/scheduler.py [--profile]
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from common import machine, queries, setup


class _Rollback(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--unit", default="BIG")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    setup()
    import datetime as dt

    from django.db import connection, transaction
    from django.utils import timezone

    from qms.models import Unit
    from workflows.scheduler import schedule

    root = Unit.objects.get(code=args.unit)
    units = Unit.objects.filter(path__startswith=root.path, is_active=True).count()
    today = timezone.localdate()
    through = (today.replace(day=1) + dt.timedelta(days=62)).replace(day=1) - dt.timedelta(days=1)
    print(machine())
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as c:
                    c.execute("SET LOCAL qms.ledger_truncate = 'on'")
            t = time.perf_counter()
            n_first = queries(lambda: schedule(today=today, through=through, root=root))
            first = time.perf_counter() - t
            t = time.perf_counter()
            if args.profile:
                prof = cProfile.Profile()
                prof.enable()
            n_again = queries(lambda: schedule(today=today, through=through, root=root))
            again = time.perf_counter() - t
            if args.profile:
                prof.disable()
                pstats.Stats(prof).sort_stats("cumulative").print_stats(15)
            raise _Rollback
    except _Rollback:
        pass
    print(f"units {units:,}; first pass {first:.1f}s, {n_first:,} queries; re-run {again:.1f}s, {n_again:,} queries "
          f"({n_again / units:.1f} per unit)")
    print(f"target: re-run without per-unit queries {'met' if n_again < units else 'MISSED'}")


if __name__ == "__main__":
    main()
