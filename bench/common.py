"""Shared helpers for the benchmarks: Django setup, timing with median/min/max, query counts,
peak memory, and the machine line printed with every result."""
from __future__ import annotations

import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qms.settings")


def setup() -> None:
    import django

    django.setup()


def machine() -> str:
    from django.db import connection

    mem = ""
    try:
        kb = int(next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")).split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        pass
    with connection.cursor() as c:
        c.execute("SELECT version()" if connection.vendor == "postgresql" else "SELECT sqlite_version()")
        db = c.fetchone()[0].split(" on ")[0]
    import django

    return f"{os.cpu_count()} CPU, {mem}, {platform.platform()}, Python {platform.python_version()}, Django {django.get_version()}, {db}"


def timed(fn: Callable[[], object], runs: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return times, result


def summary(times: list[float]) -> str:
    return f"median {statistics.median(times):.3f}s (min {min(times):.3f}, max {max(times):.3f}, n={len(times)})"


def queries(fn: Callable[[], object]) -> int:
    """How many SQL statements ``fn`` runs (counted by an execute wrapper: no 9,000 cap)."""
    from django.db import connection

    n = 0

    def count(execute, sql, params, many, context):
        nonlocal n
        n += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        fn()
    return n


def peak_memory(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
