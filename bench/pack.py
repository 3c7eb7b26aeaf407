"""Benchmark: the evidence pack (issue 7 §4) — pages per second and peak memory for packs of
growing periods, against bare WeasyPrint rendering the same chapters' HTML (no data
gathering, no PDF/A, no attachments, no ZIP) in the same process. Each size runs in its own
child process so peak RSS is that build's own.

    DATABASE_URL=postgres://…/qms_bench .venv/bin/python bench/pack.py --unit BIG-Z000 --months 3 6 12
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine, setup


def child(unit: str, months: int) -> dict:
    setup()
    import datetime as dt

    from django.utils import timezone
    from weasyprint import HTML

    from audits.evidence.builder import build_pack
    from qms.models import Unit

    root = Unit.objects.get(code=unit)
    end = timezone.localdate()
    start = max(dt.date(end.year, 1, 1), end - dt.timedelta(days=30 * months))
    html: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        r = build_pack(root, start, end, out_dir=Path(tmp), generated_by="bench", keep_html=html)
        ours = time.perf_counter() - t
        rss_ours = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        docs = [HTML(string=h).render() for h in html]
        docs[0].copy([p for d in docs for p in d.pages]).write_pdf(Path(tmp) / "bare.pdf")
        bare = time.perf_counter() - t
    return {"months": months, "start": start.isoformat(), "pages": r.pages, "ours": ours, "bare": bare,
            "rss_mib": rss_ours / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--unit", default="BIG-Z000")
    parser.add_argument("--months", type=int, nargs="+", default=[3, 6, 12])
    parser.add_argument("--child", type=int)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.unit, args.child)))
        return
    setup()
    print(machine())
    for m in args.months:
        out = subprocess.run([sys.executable, __file__, "--unit", args.unit, "--child", str(m)], capture_output=True, text=True,
                             check=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        print(f"{r['months']:>2} months from {r['start']}: {r['pages']} pages; pack {r['ours']:.1f}s "
              f"({r['pages'] / r['ours']:.1f} pages/s); bare WeasyPrint {r['bare']:.1f}s; ratio {r['ours'] / r['bare']:.2f}×; "
              f"peak RSS {r['rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
