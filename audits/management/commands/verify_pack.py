"""manage.py verify_pack PATH.zip — exit 1 on any mismatch."""
from __future__ import annotations

import json
import zipfile

from django.core.management.base import BaseCommand

from audits.evidence.verify import verify_pack


class Command(BaseCommand):
    help = "核验认证证据包:文件与清单一致、清单与留痕台账一致"

    def add_arguments(self, parser):
        parser.add_argument("path", help="证据包 ZIP 文件")

    def handle(self, *args, path: str, **options):
        problems = verify_pack(path)
        if problems:
            for p in problems:
                self.stderr.write(f"不符:{p}")
            self.stderr.write(f"核验未通过:{len(problems)} 处不符")
            raise SystemExit(1)
        with zipfile.ZipFile(path) as z:
            m = json.loads(z.read("manifest.json"))
        self.stdout.write(f"校验通过:PDF 1 个、附件 {len(m['files'])} 个与清单一致;留痕链至序号 {m['ledger_head']['seq']} 完整")
