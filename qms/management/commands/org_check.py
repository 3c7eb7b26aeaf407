"""manage.py org_check — the structural warnings report (seed 001 三(二)1, 三(二)8)."""
from django.core.management.base import BaseCommand, CommandError

from qms.models import Unit
from qms.structure import tree_warnings


class Command(BaseCommand):
    help = "检查组织设置:应设未设支委会、委员会人数、联合党支部覆盖范围、支部规模、任期届满"

    def add_arguments(self, parser):
        parser.add_argument("--unit", help="只检查该组织编码及其下级(默认整棵树)")

    def handle(self, *args, unit=None, **options):
        root = None
        if unit:
            root = Unit.objects.filter(code=unit).first()
            if root is None:
                raise CommandError(f"找不到组织编码 {unit}")
        warnings = tree_warnings(root)
        if not warnings:
            self.stdout.write(self.style.SUCCESS("组织设置检查:未发现问题"))
            return
        self.stdout.write(f"组织设置检查:发现 {len(warnings)} 条提示")
        for w in warnings:
            self.stdout.write(f"- {w.unit_code} {w.unit_name}:{w.message}(依据:{w.source})")
