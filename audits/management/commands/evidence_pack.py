"""manage.py evidence_pack --unit CODE --from YYYY-MM-DD --to YYYY-MM-DD --out PATH"""
from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audits.evidence.builder import build_pack
from qms.models import Unit


def _date(value: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{what}“{value}”无效,应为 YYYY-MM-DD") from None


class Command(BaseCommand):
    help = "生成认证证据包(PDF/A-3b 与附件 ZIP),显示进度"

    def add_arguments(self, parser):
        parser.add_argument("--unit", required=True, help="党组织编码")
        parser.add_argument("--from", dest="start", required=True, help="期间开始 YYYY-MM-DD")
        parser.add_argument("--to", dest="end", required=True, help="期间结束 YYYY-MM-DD")
        parser.add_argument("--out", required=True, help="输出路径:目录,或以 .pdf/.zip 结尾的文件名(两者都会写出)")

    def handle(self, *args, unit: str, start: str, end: str, out: str, **options):
        root = Unit.objects.filter(code=unit).first()
        if root is None:
            raise CommandError(f"党组织编码“{unit}”不存在")
        first, last = _date(start, "期间开始"), _date(end, "期间结束")
        if first > last:
            raise CommandError("期间开始不能晚于期间结束")
        target = Path(out)
        stem = target.with_suffix("") if target.suffix.lower() in (".pdf", ".zip") else target / f"pack-{root.code}-{first:%Y%m%d}-{last:%Y%m%d}"
        stem.parent.mkdir(parents=True, exist_ok=True)

        def bar(percent: int, chapter: str) -> None:
            filled = percent * 30 // 100
            self.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {percent:3d}% {chapter[:40]:<40}", ending="")
            self.stderr.flush()

        work = Path(tempfile.mkdtemp(prefix="pack-"))
        try:
            result = build_pack(root, first, last, out_dir=work, generated_by="命令行 evidence_pack", progress=bar)
            self.stderr.write("")
            pdf, zipf = stem.with_suffix(".pdf"), stem.with_suffix(".zip")
            shutil.move(result.pdf_path, pdf)
            shutil.move(result.zip_path, zipf)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self.stdout.write(f"PDF  {pdf}  {result.pages} 页  SHA-256 {result.pdf_sha256}")
        self.stdout.write(f"ZIP  {zipf}  SHA-256 {result.zip_sha256}")
        self.stdout.write(f"留痕链头 序号 {result.ledger_head[0]} {result.ledger_head[1]}")
        if result.missing_attachments:
            self.stdout.write(self.style.WARNING(f"缺失附件 {len(result.missing_attachments)} 个(已在证据包中列明):"
                                                 + ";".join(result.missing_attachments)))
