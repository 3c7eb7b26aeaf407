"""manage.py compliance — the compliance matrix of a subtree and year as JSON or CSV;
``--check-tally`` / ``--rebuild-tally`` check or rebuild the 执行计数 the rates are read from."""
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from qms import exports
from qms.models import Unit
from workflows.compliance import STATUS_LABELS, compliance, tally_drift, tally_rebuild


class Command(BaseCommand):
    help = "输出执行情况矩阵(党组织 × 规定 × 期间 → 状态)及执行率"

    def add_arguments(self, parser):
        parser.add_argument("--unit", help="组织编码(默认为组织树的根)")
        parser.add_argument("--year", type=int, default=timezone.localdate().year)
        parser.add_argument("--format", choices=["json", "csv"], default="json")
        parser.add_argument("--check-tally", action="store_true", help="核对执行计数与应开展事项是否一致(不一致时退出码为 1)")
        parser.add_argument("--rebuild-tally", action="store_true", help="按应开展事项重新统计执行计数")

    def handle(self, *args, unit=None, year: int, format: str, check_tally=False, rebuild_tally=False, **options):
        if rebuild_tally:
            self.stdout.write(f"执行计数已重建:{tally_rebuild():,} 行")
        if check_tally:
            drift = tally_drift()
            if drift:
                self.stderr.write("执行计数与应开展事项不一致(前 20 处):\n" + "\n".join(drift))
                raise SystemExit(1)
            self.stdout.write("执行计数与应开展事项一致")
        if check_tally or rebuild_tally:
            return
        if unit:
            root = Unit.objects.filter(code=unit).first()
            if root is None:
                raise CommandError(f"找不到组织编码 {unit}")
        else:
            roots = list(Unit.objects.filter(parent__isnull=True)[:2])
            if len(roots) != 1:
                raise CommandError("组织树有多个根,请用 --unit 指定")
            root = roots[0]
        m = compliance(root, year)
        if format == "json":
            self.stdout.write(json.dumps(m.as_dict(), ensure_ascii=False, indent=2))
            return
        w = exports.csv_writer(self.stdout)
        w.writerow(["组织编码", "组织名称", "规定", "期间", "截止日期", "状态"])
        for c in m.cells:
            w.writerow([c["unit"], m.units[c["unit"]], m.obligations[c["obligation"]], c["period"], c["due"], STATUS_LABELS[c["status"]]])
