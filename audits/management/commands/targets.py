"""manage.py targets --unit CODE --year YYYY [--format json|text] — the cascaded targets of a
党组织 and everything below it (down to each member), with progress rolled up."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from audits.performance import targets as tsvc
from qms.models import Unit


class Command(BaseCommand):
    help = "输出某党组织某年度的分解目标树(含进度,直到每名党员)"

    def add_arguments(self, parser):
        parser.add_argument("--unit", required=True, help="党组织编码")
        parser.add_argument("--year", required=True, type=int, help="年度")
        parser.add_argument("--format", choices=("json", "text"), default="json", help="输出格式")

    def handle(self, *args, unit: str, year: int, format: str, **options):
        u = Unit.objects.filter(code=unit).first()
        if u is None:
            raise CommandError(f"没有编码为 {unit} 的党组织")
        roots = tsvc.tree(u, year)
        if format == "json":
            out = {"unit": u.code, "unit_name": u.name, "year": year, "targets": [tsvc.to_dict(n) for n in roots]}
            self.stdout.write(json.dumps(out, ensure_ascii=False, indent=2))
            return
        for n in tsvc.flat(roots):
            self.stdout.write(f"{'  ' * n.depth}{n.target.owner_name} · {n.target.title}:目标 {n.target_text},"
                              f"完成 {n.progress_text}({n.how}){n.status}")
