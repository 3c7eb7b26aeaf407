"""manage.py restore DIR — check a backup against its manifest, load it, verify the ledger."""
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from qms import backup


class Command(BaseCommand):
    help = ("从 backup 写出的目录恢复:先按清单核对每个文件的校验和(不符则拒绝、不做任何改动),"
            "再恢复数据库和上传的文件,最后校验留痕台账并核对链头与备份时一致;不一致时退出码为1")

    def add_arguments(self, parser):
        parser.add_argument("folder", help="备份目录")
        parser.add_argument("--yes", action="store_true", help="不再询问,直接覆盖当前数据")

    def handle(self, *args, folder: str, yes: bool, **options):
        try:
            manifest = backup.check(Path(folder))
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError("恢复会覆盖当前数据,请加 --yes 确认")
            answer = input(f"将用 {manifest['created_at']} 的备份覆盖当前数据库和上传的文件,输入 yes 继续:")
            if answer.strip().lower() != "yes":
                raise CommandError("已取消恢复")
        try:
            result = backup.restore(Path(folder))
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        if result.media_set_aside:
            self.stdout.write(f"原有的上传文件已移到 {result.media_set_aside}")
        if not result.verify.ok:
            self.stderr.write(self.style.ERROR(f"恢复后留痕台账校验失败:第一个出错的序号 {result.verify.first_bad_seq}"))
            for p in result.verify.problems[:50]:
                self.stderr.write(f"[{p.seq}] {p.message}")
            raise SystemExit(1)
        if result.head != result.expected:
            self.stderr.write(self.style.ERROR(
                f"恢复后的留痕链头(序号 {result.head[0]},哈希 {result.head[1]})与备份时记录的"
                f"(序号 {result.expected[0]},哈希 {result.expected[1]})不一致"))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(
            f"恢复完成,留痕台账校验通过;链头序号 {result.head[0]},链头哈希 {result.head[1]},与备份时一致"))
