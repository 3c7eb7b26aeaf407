"""Benchmark: pages under load on loopback (issue 7 §3). gunicorn with 2 workers serves the
product on the benchmark database; wrk (Debian package ``wrk``; keep-alive connections, one
logged-in session per page) hits each page for a fixed time and reports p50/p95 latency and
requests/s, against /healthz (a trivial Django view served the same way: the floor). Without
wrk installed, or with ``--client python``, a Python client (threads + http.client) does the
same. Non-2xx answers are counted as errors.

    apt-get install wrk; .venv/bin/pip install -e '.[bench]'
    DATABASE_URL=postgres://…/qms_bench .venv/bin/python bench/web.py --seconds 20 --connections 4
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import machine, setup

ROOT = Path(__file__).resolve().parent.parent
PORT = 8765


def _users() -> dict[str, str]:
    """A branch secretary and the 体系管理员 of the benchmark tree (created once)."""
    import datetime as dt

    from django.contrib.auth import get_user_model

    from qms import services
    from qms.models import Membership, Role, Unit

    User = get_user_model()
    root = Unit.objects.get(code="BIG")
    branch = Unit.objects.filter(path__startswith=root.path, kind="branch").order_by("path").first()
    if not User.objects.filter(username="bench_admin").exists():
        admin = User.objects.create_user("bench_admin", password="bench-pass-2026")
        services.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=root, valid_from=dt.date(2020, 1, 1))
        sec = User.objects.create_user("bench_sec", password="bench-pass-2026")
        member = Membership.objects.filter(unit=branch, end__isnull=True).order_by("pk").first().member
        services.member_update(member, actor=None, reason="基准测试账号", user=sec)
        services.position_assign(actor=None, member=member, unit=branch, title="secretary", start=dt.date(2024, 1, 1))
    return {"secretary": "bench_sec", "admin": "bench_admin"}


def _login(user: str) -> str:
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    c.request("GET", "/login/")
    r = c.getresponse()
    body = r.read().decode()
    cookie = re.search(r"csrftoken=([^;]+)", r.getheader("Set-Cookie") or "").group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
    form = f"csrfmiddlewaretoken={token}&username={user}&password=bench-pass-2026"
    c.request("POST", "/login/", body=form, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                    "Cookie": f"csrftoken={cookie}", "Referer": f"http://127.0.0.1:{PORT}/login/"})
    r = c.getresponse()
    r.read()
    session = re.search(r"sessionid=([^;]+)", r.getheader("Set-Cookie") or "")
    if not session:
        raise SystemExit(f"无法以 {user} 登录")
    return f"csrftoken={cookie}; sessionid={session.group(1)}"


def _load(path: str, cookie: str, seconds: float, threads: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker():
        nonlocal errors
        c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        mine, bad = [], 0
        while time.monotonic() < stop:
            t = time.perf_counter()
            c.request("GET", path, headers={"Cookie": cookie})
            r = c.getresponse()
            r.read()
            mine.append(time.perf_counter() - t)
            bad += r.status != 200
        c.close()
        with lock:
            latencies.extend(mine)
            errors += bad

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return latencies, errors


def _wrk(path: str, cookie: str, seconds: float, connections: int) -> dict:
    """p50/p95 and requests/s measured by wrk (C, epoll: the client costs far less CPU than the
    server it measures, which matters on a 2-core machine)."""
    cmd = ["wrk", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "60s",
           "-s", str(ROOT / "bench" / "wrk_report.lua"), f"http://127.0.0.1:{PORT}{path}"]
    if cookie:
        cmd[1:1] = ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    secs = r["duration_us"] / 1e6
    return {"n": r["requests"], "p50": r["p50_us"] / 1e3, "p95": r["p95_us"] / 1e3, "rps": r["requests"] / secs, "errors": r["errors"]}


def _python(path: str, cookie: str, seconds: float, connections: int) -> dict:
    lat, errors = _load(path, cookie, seconds, connections)
    lat.sort()
    p95 = lat[int(len(lat) * 0.95) - 1] if lat else float("nan")
    return {"n": len(lat), "p50": statistics.median(lat) * 1000, "p95": p95 * 1000, "rps": len(lat) / seconds, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", "--threads", type=int, default=4, help="concurrent keep-alive connections")
    parser.add_argument("--client", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    args = parser.parse_args()
    setup()
    print(machine())
    users = _users()
    env = {**os.environ, "QMS_ENV": "", "ALLOWED_HOSTS": "127.0.0.1"}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "qms.wsgi", "-w", "2", "-b", f"127.0.0.1:{PORT}",
                               "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", PORT, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.2)
        sec, admin = _login(users["secretary"]), _login(users["admin"])
        pages = [("floor: /healthz", "/healthz", ""), ("支部书记首页 /", "/", sec),
                 ("党委执行情况热力图", "/work/compliance/?unit=BIG", admin), ("问题清单", "/audits/problems/", admin)]
        measure = _wrk if args.client == "wrk" else _python
        print(f"client {args.client}, {args.connections} connections, {args.seconds:g} s per page, gunicorn 2 workers")
        for label, path, cookie in pages:
            _load(path, cookie, 2, 1)  # warm up
            r = measure(path, cookie, args.seconds, args.connections)
            print(f"{label:<22} n={r['n']:>6}  p50 {r['p50']:7.1f} ms  p95 {r['p95']:7.1f} ms  {r['rps']:7.1f} req/s  "
                  f"errors {r['errors']}  p95 target < 300 ms {'met' if r['p95'] < 300 else 'MISSED'}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
