"""manage.py permissions_doc — write docs/permissions.md from the permission matrix."""
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from qms import permissions


class Command(BaseCommand):
    help = "由权限矩阵生成 docs/permissions.md"

    def handle(self, *args, **options):
        target = Path(settings.BASE_DIR) / "docs" / "permissions.md"
        target.write_text(permissions.markdown(), encoding="utf-8")
        self.stdout.write(f"已写入 {target}(共 {len(permissions.matrix())} 项操作)")
