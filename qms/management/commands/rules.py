"""manage.py rules — the rule catalogue of an organisation (规则目录); exit 1 when a rule is inert."""
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from qms import catalogue
from qms.models import Unit


class Command(BaseCommand):
    help = "列出某组织及其下级现行的全部规则(依据、来源、生效方式);有无法生效的规则时退出码为 1"

    def add_arguments(self, parser):
        parser.add_argument("--unit", help="组织编码(默认:顶层组织)")
        parser.add_argument("--format", choices=["json", "csv", "md"], default="md", help="输出格式")
        parser.add_argument("--write-doc", action="store_true", help="写入 docs/rules.md 和 docs/fidelity.md")

    def handle(self, *args, unit=None, format="md", write_doc=False, **options):
        if unit:
            root = Unit.objects.filter(code=unit).first()
            if root is None:
                raise CommandError(f"没有编码为“{unit}”的组织")
        else:
            root = Unit.objects.filter(parent__isnull=True).order_by("pk").first()
            if root is None:
                raise CommandError("还没有任何组织:先建立组织(或运行 manage.py demo)")
        entries = catalogue.catalogue(root)
        if write_doc:
            target = Path(settings.BASE_DIR) / "docs" / "rules.md"
            target.write_text(catalogue.as_markdown(root, entries) + "\n", encoding="utf-8")
            fid = target.with_name("fidelity.md")
            fid.write_text(catalogue.fidelity_markdown(root, entries) + "\n", encoding="utf-8")
            self.stdout.write(f"已写入 {target}(共 {len(entries)} 条规则)和 {fid}")
        elif format == "json":
            self.stdout.write(catalogue.as_json(entries))
        elif format == "csv":
            self.stdout.write(catalogue.as_csv(entries), ending="")
        else:
            self.stdout.write(catalogue.as_markdown(root, entries))
        bad = catalogue.inert(entries)
        for e in bad:
            self.stderr.write(f"无法生效的规则:{e.key}({e.title}):{e.inert}")
        if bad:
            sys.exit(1)
