"""manage.py campaign_summary --campaign ID --format json|csv — the campaign's roll-up (per
kind of unit, per 党总支, in total; JSON also lists every unit)."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from audits.campaign import summary
from audits.campaign.models import Campaign


class Command(BaseCommand):
    help = "检查活动汇总:按单位类别、按党总支统计自查、抽查、得分差值和检查发现"

    def add_arguments(self, parser):
        parser.add_argument("--campaign", required=True, type=int, help="检查活动编号")
        parser.add_argument("--format", choices=("json", "csv"), default="json")

    def handle(self, *args, campaign: int, format: str, **options):
        c = Campaign.objects.filter(pk=campaign).select_related("root").first()
        if c is None:
            raise CommandError(f"没有编号为 {campaign} 的检查活动")
        s = summary.summarise(c)
        self.stdout.write(summary.as_json(s) if format == "json" else summary.as_csv(s), ending="" if format == "csv" else "\n")
