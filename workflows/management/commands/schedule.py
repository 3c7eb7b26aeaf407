"""manage.py schedule — create the occurrences owed up to a date (idempotent)."""
import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from workflows.scheduler import schedule


class Command(BaseCommand):
    help = "按现行规定为各党组织生成应开展事项(可重复运行,不会重复生成)"

    def add_arguments(self, parser):
        parser.add_argument("--through", help="生成到该日期(YYYY-MM-DD),默认到下一季度末")

    def handle(self, *args, through=None, **options):
        day = None
        if through:
            try:
                day = dt.date.fromisoformat(through)
            except ValueError as exc:
                raise CommandError(f"日期格式应为 YYYY-MM-DD:{through}") from exc
        r = schedule(through=day)
        self.stdout.write(self.style.SUCCESS(f"排期完成:{r.units} 个党组织,新增 {r.created} 项,因规则变化取消 {r.cancelled} 项"))
