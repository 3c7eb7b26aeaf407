"""Benchmark: the evidence pack (issue 7 §4) — pages per second and peak memory for a series of
pack sizes up to ~500 pages, against bare WeasyPrint rendering the same chapters' HTML (default
``HTML(string=…).render()`` per chapter, pages joined, ``write_pdf()``: no data gathering, no
PDF/A, no attachments, no ZIP) in the same process — and (``--bare-gc``) once more with the
garbage-collector thresholds the pack uses while it lays out (``_collect_per_part``). The pack is
built as the builder chooses (worker processes for a large pack, ``parts.py``; ``--processes N``
to choose), and once more in one process. Each size runs in its own child process, so
peak RSS is that build's own; the bare baseline runs after the pack, so it does not count in it.

A size is ``UNIT:MONTHS`` — the subtree of ``UNIT`` for the last ``MONTHS`` months of the current
year. On ``bench/generate.py --scale 0.1`` (20 党总支 × 25 党支部 × 3 党小组) a 党总支-year
(``BIG-Z000:12``) is ~90 pages and the whole tree (``BIG``) ~100 pages a month plus the fixed
chapters, so the default series is ~100, ~250 and ~500 pages:

    DATABASE_URL=postgres://…/qms_bench_pack .venv/bin/python bench/pack.py
    DATABASE_URL=… .venv/bin/python bench/pack.py --sizes BIG-Z000:12 BIG:3 --runs 3
"""
from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

from common import machine, setup

DEFAULT_SIZES = ["BIG-Z000:12", "BIG:1", "BIG:4"]


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(unit: str, months: int, processes: int | None, baseline: bool) -> dict:
    setup()
    import datetime as dt

    from django.utils import timezone
    from weasyprint import HTML

    from audits.evidence.builder import _collect_per_part, build_pack
    from qms.models import Unit

    root = Unit.objects.get(code=unit)
    end = timezone.localdate()
    start = max(dt.date(end.year, 1, 1), end - dt.timedelta(days=30 * months))
    html: list[str] = []
    phases: dict[str, float] = {}
    rss_before = _rss_mib()

    def progress(percent: int, label: str) -> None:  # the builder's own progress steps, timed
        phases.setdefault({1: "data"}.get(percent, "write" if percent == 92 else "zip" if percent == 96 else
                                           "done" if percent == 100 else "layout"), time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        r = build_pack(root, start, end, out_dir=Path(tmp), generated_by="bench", keep_html=html, progress=progress,
                       processes=processes)
        ours = time.perf_counter() - t
        rss_ours = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rss_workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        pdf_mib = r.pdf_path.stat().st_size / 2**20
        if not baseline:
            html = []
        bare = bare_gc = None
        if html:
            t = time.perf_counter()
            docs = [HTML(string=h).render() for h in html]
            docs[0].copy([p for d in docs for p in d.pages]).write_pdf(Path(tmp) / "bare.pdf")
            bare = time.perf_counter() - t
            del docs
            gc.collect()
        if html and baseline == "gc":
            t = time.perf_counter()  # the same, with the garbage-collector thresholds the pack uses
            with _collect_per_part():
                docs = [HTML(string=h).render() for h in html]
                docs[0].copy([p for d in docs for p in d.pages]).write_pdf(Path(tmp) / "bare.pdf")
            bare_gc = time.perf_counter() - t
            del docs
    split = {"data": phases["layout"] - phases["data"], "layout": phases["write"] - phases["layout"],
             "write": phases["zip"] - phases["write"], "zip": phases["done"] - phases["zip"]}
    firsts = [first for _, first in r.chapters] + [r.pages + 1]
    return {"size": f"{unit}:{months}", "start": start.isoformat(), "end": end.isoformat(), "pages": r.pages,
            "chapters": len(r.chapters), "largest_chapter": max(b - a for a, b in pairwise(firsts)), "ours": ours, "bare": bare, "bare_gc": bare_gc, "rss_mib": rss_ours, "rss_before_mib": rss_before,
            "rss_workers_mib": rss_workers, "processes": r.layout.processes, "parts": r.layout.parts,
            "parts_here": r.layout.parts_here,
            "pdf_mib": pdf_mib, "split": split}


def _run_child(size: str, processes: int | None, baseline: str) -> dict:
    cmd = [sys.executable, __file__, "--child", size, "--baseline", baseline]
    if processes:
        cmd += ["--processes", str(processes)]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES, metavar="UNIT:MONTHS")
    parser.add_argument("--runs", type=int, default=1, help="runs per size (median, min and max are printed)")
    parser.add_argument("--processes", type=int, help="worker processes for the pack (default: the builder's own choice)")
    parser.add_argument("--bare-gc", action="store_true", help="also time bare WeasyPrint with the pack's GC thresholds")
    parser.add_argument("--no-single", action="store_true", help="skip the one-process build of each size")
    parser.add_argument("--child")
    parser.add_argument("--baseline", default="bare")
    parser.add_argument("--json", action="store_true", help="also print each run as a JSON line")
    args = parser.parse_args()
    if args.child:
        unit, months = args.child.rsplit(":", 1)
        print(json.dumps(child(unit, int(months), args.processes, {"none": False}.get(args.baseline, args.baseline))))
        return
    setup()
    print(machine())
    import weasyprint

    print(f"WeasyPrint {weasyprint.__version__}")
    med = statistics.median
    rows = []
    for size in args.sizes:
        runs, singles = [], []
        for _ in range(args.runs):  # the pack as the builder lays it out (with its bare baseline), then in one process
            runs.append(_run_child(size, args.processes, "gc" if args.bare_gc else "bare"))
            if not args.no_single:
                singles.append(_run_child(size, 1, "none"))
            if args.json:
                print(json.dumps(runs[-1]), json.dumps(singles[-1]) if singles else "")
        r = runs[0]
        ours, bare = [x["ours"] for x in runs], [x["bare"] for x in runs]
        rss, workers = [x["rss_mib"] for x in runs], [x["rss_workers_mib"] for x in runs]
        s = {k: med(x["split"][k] for x in runs) for k in r["split"]}
        spread = f" (min {min(ours):.1f}, max {max(ours):.1f}, n={len(runs)})" if len(runs) > 1 else ""
        line = (f"{size} {r['start']}–{r['end']}: {r['pages']} pages, {r['chapters']} chapters (largest {r['largest_chapter']} pages), "
                f"{r['parts']} parts, PDF {r['pdf_mib']:.1f} MiB; "
                f"pack with {r['processes']} process{'es' if r['processes'] > 1 else ''} ({r['parts_here']} parts laid out by the builder) "
                f"{med(ours):.1f}s{spread} = {r['pages'] / med(ours):.1f} pages/s "
                f"[data {s['data']:.1f}s, layout {s['layout']:.1f}s, PDF/A write {s['write']:.1f}s, ZIP {s['zip']:.1f}s]; "
                f"bare WeasyPrint (one process) {med(bare):.1f}s = {r['pages'] / med(bare):.1f} pages/s; ratio {med(ours) / med(bare):.2f}×; ")
        if args.bare_gc:
            bare_gc = med(x["bare_gc"] for x in runs)
            line += f"bare with the pack's GC thresholds {bare_gc:.1f}s = {r['pages'] / bare_gc:.1f} pages/s; "
        line += f"peak RSS builder {med(rss):.0f} MiB (after Django set-up {r['rss_before_mib']:.0f} MiB)"
        if r["processes"] > 1:
            line += f", largest worker {med(workers):.0f} MiB (pages shared with the builder counted in both)"
        if singles:
            one = [x["ours"] for x in singles]
            line += (f"; one process {med(one):.1f}s = {r['pages'] / med(one):.1f} pages/s, ratio {med(one) / med(bare):.2f}×, "
                     f"peak RSS {med(x['rss_mib'] for x in singles):.0f} MiB")
        print(line, flush=True)
        rows.append((r["pages"], med(rss), med(workers) if r["processes"] > 1 else 0))
    if len(rows) > 1:
        (p0, m0, w0), (p1, m1, w1) = rows[0], rows[-1]
        if p1 != p0:
            print(f"peak RSS of the builder from {p0} to {p1} pages: ×{m1 / m0:.2f} for ×{p1 / p0:.2f} the pages "
                  f"({(m1 - m0) / (p1 - p0):.2f} MiB per extra page)" + (f"; largest worker ×{w1 / w0:.2f}" if w0 and w1 else ""))


if __name__ == "__main__":
    main()
