"""manage.py ledger_checkpoint --out FILE — verify the ledger and write its head, signed (外部校验点)."""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from qms import checkpoint


class Command(BaseCommand):
    help = ("校验留痕台账并把链头(序号、哈希)写入用 HMAC-SHA256 签名的外部校验点文件;"
            "密钥取自环境变量 QMS_CHECKPOINT_KEY 或密钥文件,不存于数据库。台账校验不通过时不写文件,退出码为1")

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="校验点文件的路径(请保存到数据库管理员无法修改的地方)")

    def handle(self, *args, out: str, **options):
        path = Path(out)
        if path.is_dir():
            raise CommandError("--out 须为文件路径,不能是目录")
        if not path.parent.exists():
            raise CommandError(f"目录不存在:{path.parent}")
        try:
            data, cp = checkpoint.make()
        except checkpoint.CheckpointError as exc:
            raise CommandError(str(exc)) from exc
        if data is None:
            self.stderr.write(self.style.ERROR("留痕台账校验未通过,不签发校验点"))
            if cp.first_bad_seq is not None:
                self.stderr.write(f"第一个出错的序号:{cp.first_bad_seq}")
            if cp.problems:
                self.stderr.write(cp.problems)
            raise SystemExit(1)
        checkpoint.write(path, data)
        self.stdout.write(self.style.SUCCESS(
            f"已写入外部校验点 {path}:链头序号 {data['head_seq']},链头哈希 {data['head_hash']},密钥编号 {data['key_id']}"))
