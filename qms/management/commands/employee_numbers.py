"""manage.py employee_numbers FILE.csv — 登记工号 from a table of 身份证号,工号 (qms/employee_numbers.py);
all or nothing: any bad row and nothing is saved."""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from qms.employee_numbers import import_file


class Command(BaseCommand):
    help = "按“身份证号,工号”的表格登记党员工号(企业目录登录按工号对应党员)"

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, **options):
        changed, problems = import_file(options["file"])
        if problems:
            raise CommandError("未登记任何工号:\n" + "\n".join(problems))
        self.stdout.write(f"已登记 {changed} 名党员的工号")
