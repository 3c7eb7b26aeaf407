"""manage.py recruitment — every open applicant of a subtree by stage, with days in stage, the
next step, its deadline and whether it is overdue, then those whose process has ended (已转为
正式党员, 已取消预备党员资格, 不予接收) with the day it ended (JSON or CSV); ``--remind`` sends the day's
reminders and escalations (workflows/recruitment_reminders.py)."""
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from qms import exports
from qms.models import Unit
from workflows.recruitment import process
from workflows.recruitment_views import ended_for, rows_for


class Command(BaseCommand):
    help = "输出发展党员情况(按阶段:本阶段天数、下一步、期限、是否逾期)"

    def add_arguments(self, parser):
        parser.add_argument("--unit", help="组织编码(默认为组织树的根)")
        parser.add_argument("--format", choices=["json", "csv"], default="json")
        parser.add_argument("--remind", action="store_true", help="发送到期前、逾期提醒并向上级报告(每日运行)")

    def handle(self, *args, unit=None, format: str = "json", remind=False, **options):
        if remind:
            from workflows.recruitment_reminders import send_recruitment_reminders

            r = send_recruitment_reminders()
            self.stdout.write(f"发展党员提醒:发送 {r.sent} 条,报告上级 {r.escalated} 条")
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
        today = timezone.localdate()
        rows = [{
            "unit": r["applicant"].unit.code, "unit_name": r["applicant"].unit.name, "name": r["applicant"].name,
            "stage": r["stage"], "stage_label": r["stage_label"], "stage_no": r["stage_n"],
            "days_in_stage": r["days_in_stage"],
            "next_step": r["next"].key if r["next"] else None, "next_step_label": r["next"].label if r["next"] else None,
            "by": r["next"].by_label if r["next"] else None,
            "earliest": r["earliest"].isoformat() if r["earliest"] else None,
            "deadline": r["deadline"].isoformat() if r["deadline"] else None,
            "overdue": bool(r["overdue_days"]), "days_overdue": r["overdue_days"],
        } for r in rows_for(root, today)]
        ends = [{"stage": e["stage"], "label": e["label"], "applicants": [
            {"unit": a.unit.code, "unit_name": a.unit.name, "name": a.name, "ended_on": a.stage_since.isoformat()}
            for a in e["applicants"]]} for e in ended_for(root)]
        if format == "json":
            stages = [{"stage": s.key, "label": s.label, "stage_no": s.n, "applicants": [r for r in rows if r["stage"] == s.key]}
                      for s in process().stages.values()]
            self.stdout.write(json.dumps({"unit": root.code, "date": today.isoformat(), "stages": stages, "ends": ends},
                                         ensure_ascii=False, indent=2))
            return
        w = exports.csv_writer(self.stdout)
        w.writerow(["组织编码", "组织名称", "姓名", "阶段", "本阶段天数", "下一步", "办理方", "最早办理日期", "期限", "逾期天数", "结束日期"])
        for r in rows:
            w.writerow([r["unit"], r["unit_name"], r["name"], r["stage_label"], r["days_in_stage"], r["next_step_label"] or "",
                        r["by"] or "", r["earliest"] or "", r["deadline"] or "", r["days_overdue"], ""])
        for e in ends:  # the ended: their end as the stage, and the day it ended
            for a in e["applicants"]:
                w.writerow([a["unit"], a["unit_name"], a["name"], e["label"], "", "", "", "", "", "", a["ended_on"]])
