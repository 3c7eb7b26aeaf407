"""manage.py verify_ledger — recompute the ledger's hash chain and compare ledgered rows; then,
unless only the chain is asked for, the electronic signatures (``verify_signatures``)."""
from django.core.management.base import BaseCommand, CommandError

from qms import checkpoint as _checkpoint
from qms import ledger
from qms.management.commands.verify_signatures import report as signature_report


class Command(BaseCommand):
    help = "校验留痕台账:重算哈希链,核对每个受控对象的当前数据与其最后一条留痕;发现问题时退出码为1"

    def add_arguments(self, parser):
        parser.add_argument("--from-seq", type=int, default=1, help="从该序号开始校验哈希链(此时不核对对象)")
        parser.add_argument("--chain-only", action="store_true", help="只校验哈希链,不核对对象数据")
        parser.add_argument("--processes", type=int, default=None,
                            help="并行校验的进程数(默认:PostgreSQL 上记录达5万条时每个CPU一个;1 为单进程)")
        parser.add_argument("--checkpoint", default=None, metavar="FILE",
                            help="再与 ledger_checkpoint 写出的外部校验点文件核对(发现在数据库内被整体改写的链)")

    def handle(self, *args, from_seq: int, chain_only: bool, processes: int | None, checkpoint: str | None, **options):
        if processes is not None and processes < 1:
            raise CommandError("--processes 须为正整数")
        external = None
        if checkpoint:
            try:
                external = _checkpoint.load(checkpoint)
            except _checkpoint.CheckpointError as exc:
                self.stderr.write(self.style.ERROR(f"外部校验点无法使用:{exc}"))
                raise SystemExit(1) from exc
        result = ledger.verify(from_seq=from_seq, check_objects=not chain_only, processes=processes)
        if external is not None:
            result.problems.extend(_checkpoint.compare(external))
            result.problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
        # 电子签名: each digest recomputed against what it signed (qms/signatures.py)
        signed_ok = True if chain_only or from_seq > 1 else signature_report(self.stdout, self.stderr, self.style)
        if result.ok:
            self.stdout.write(self.style.SUCCESS(
                f"留痕台账校验通过:{result.entries} 条记录,核对对象 {result.objects} 个,"
                f"链头序号 {result.head_seq},链头哈希 {result.head_hash}"
            ))
            if external is not None:
                self.stdout.write(self.style.SUCCESS(
                    f"与外部校验点({external.get('created_at', '')},链头序号 {external['head_seq']})核对一致"))
            if not signed_ok:
                raise SystemExit(1)
            return
        self.stderr.write(self.style.ERROR(f"留痕台账校验失败:发现 {len(result.problems)} 个问题"))
        if result.first_bad_seq is not None:
            self.stderr.write(f"第一个出错的序号:{result.first_bad_seq}")
        for p in result.problems[:200]:
            where = f"[序号 {p.seq}]" if p.seq is not None else "[无留痕]"
            self.stderr.write(f"{where} {p.kind}: {p.message}")
        if len(result.problems) > 200:
            self.stderr.write(f"……另有 {len(result.problems) - 200} 个问题未列出")
        raise SystemExit(1)
