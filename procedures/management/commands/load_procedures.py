"""manage.py load_procedures — load the shipped standard library (idempotent)."""
from pathlib import Path

from django.core.management.base import BaseCommand

from procedures.library_loader import LIBRARY_DIR, load_library


class Command(BaseCommand):
    help = "载入标准文件库(程序文件、规定、记录表格);全部校验通过才载入,可重复运行"

    def add_arguments(self, parser):
        parser.add_argument("--dir", default=str(LIBRARY_DIR), help="文件库目录(默认为内置标准文件库)")

    def handle(self, *args, dir: str, **options):
        report = load_library(Path(dir))
        if report.problems:
            self.stderr.write(self.style.ERROR(f"文件库有 {len(report.problems)} 处问题,未载入任何内容:"))
            for p in report.problems:
                self.stderr.write(f"- {p}")
            raise SystemExit(1)
        for label, items in (("新增", report.created), ("更新", report.updated), ("向已采用的组织提供草稿", report.offered)):
            for item in items:
                self.stdout.write(f"{label}:{item}")
        self.stdout.write(self.style.SUCCESS(f"标准文件库载入完成:{report.changes} 项变化,{report.unchanged} 项未变"))
