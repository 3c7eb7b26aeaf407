"""Benchmark: ``verify_ledger`` throughput against its physical floor (issue 7 §5).

Builds N chained ledger entries in a scratch database (bulk insert, hashes computed the
same way ``qms.ledger.record`` does), then measures in the same run:
- the floor: SHA-256 over the same canonical bytes in a plain loop (no database);
- ``ledger.verify(check_objects=False)``: read + decode + canonicalise + hash + link checks,
  in one forked process per CPU (the default for large ledgers), then in one process, then
  inside a transaction (one connection, no read-ahead).
Prints entries/s and the ratio. Usage (PostgreSQL recommended, SQLite works):

    DATABASE_URL=postgres://… .venv/bin/python bench/ledger_verify.py --entries 1000000 --runs 3
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qms.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one verify run")
    args = parser.parse_args()

    import django
    from django.test.utils import get_runner, setup_test_environment  # noqa: F401

    django.setup()
    from common import machine
    from django.conf import settings
    from django.db import connection, transaction
    from django.test.utils import setup_databases, teardown_databases

    from qms import ledger
    from qms.models import LedgerEntry

    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False)
    try:
        if connection.vendor == "postgresql":
            with connection.cursor() as c:
                c.execute("SET qms.ledger_truncate = 'on'")
        t0 = time.perf_counter()
        prev = ledger.GENESIS_HASH
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        payloads: list[bytes] = []
        batch: list[LedgerEntry] = []
        for seq in range(1, args.entries + 1):
            ts = start + dt.timedelta(microseconds=seq * 1000)
            after = {"id": seq, "name": f"党员{seq}", "category": "full", "phone": "13900000000"}
            payload = ledger.canonical(seq=seq, ts=ts, actor_id=1, actor_name="bench", action="member.update",
                                       obj_type="qms.member", obj_id=str(seq), before=None, after=after, reason="基准测试")
            h = ledger.chain_hash(prev, payload)
            payloads.append(payload)
            batch.append(LedgerEntry(seq=seq, ts=ts, actor_id=1, actor_name="bench", action="member.update",
                                     obj_type="qms.member", obj_id=str(seq), before=None, after=after,
                                     reason="基准测试", prev_hash=prev, hash=h))
            prev = h
            if len(batch) == 10_000:
                LedgerEntry.objects.bulk_create(batch)
                batch.clear()
        LedgerEntry.objects.bulk_create(batch)
        build = time.perf_counter() - t0

        floors, verifies, singles, plains = [], [], [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            p = ledger.GENESIS_HASH
            for payload in payloads:
                p = hashlib.sha256(bytes.fromhex(p) + payload).hexdigest()
            floors.append(time.perf_counter() - t)
            t = time.perf_counter()
            result = ledger.verify(check_objects=False)
            verifies.append(time.perf_counter() - t)
            assert result.ok and result.entries == args.entries, result.problems[:3]
            t = time.perf_counter()
            assert ledger.verify(check_objects=False, processes=1).ok
            singles.append(time.perf_counter() - t)
            t = time.perf_counter()
            with transaction.atomic():  # inside a transaction: one connection, no read-ahead thread
                assert ledger.verify(check_objects=False).ok
            plains.append(time.perf_counter() - t)
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.runcall(ledger.verify, check_objects=False, processes=1)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(18)
        print(machine())
        n = args.entries
        f_med, v_med = statistics.median(floors), statistics.median(verifies)
        print(f"database: {connection.vendor}  entries: {n:,}  build: {build:.1f} s")
        print(f"floor  (hashlib loop): median {n / f_med:,.0f} entries/s  (min {min(floors):.2f} s, max {max(floors):.2f} s)")
        procs = len(ledger._parallel_bounds(1, None) or [None])
        print(f"verify_ledger        : median {n / v_med:,.0f} entries/s  (min {min(verifies):.2f} s, max {max(verifies):.2f} s)"
              f" — {procs} process(es), one per CPU")
        print(f"verify, one process  : median {n / statistics.median(singles):,.0f} entries/s  "
              f"(min {min(singles):.2f} s, max {max(singles):.2f} s) — with the read-ahead thread")
        print(f"verify, one connection: median {n / statistics.median(plains):,.0f} entries/s  "
              f"(min {min(plains):.2f} s, max {max(plains):.2f} s) — the same check without the read-ahead thread")
        print(f"ratio verify/floor   : {v_med / f_med:.1f}x   target ≥ 50,000 entries/s: {'met' if n / v_med >= 50_000 else 'MISSED'}")
        import resource

        print(f"peak RSS of this process (holds the floor's {n:,} payloads too): "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
        _ = settings
    finally:
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
