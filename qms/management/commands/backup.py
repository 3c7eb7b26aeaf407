"""manage.py backup --out DIR — database dump + uploaded files + manifest with the ledger head."""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from qms import backup


class Command(BaseCommand):
    help = ("备份:数据库(SQLite 在线备份或 PostgreSQL pg_dump)、上传的文件,以及记录留痕链头和"
            "每个文件校验和的清单 manifest.json,写入一个新的空目录")

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="备份目录(不存在或为空)")

    def handle(self, *args, out: str, **options):
        try:
            manifest = backup.backup(Path(out))
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        head = manifest["ledger_head"]
        self.stdout.write(self.style.SUCCESS(
            f"备份完成:{out}({len(manifest['files'])} 个文件);留痕链头序号 {head['seq']},链头哈希 {head['hash']}"))
