"""manage.py verify_signatures — recompute the digest of every electronic signature in force."""
from django.core.management.base import BaseCommand

from qms import signatures


class Command(BaseCommand):
    help = "校验电子签名:重算每个有效签名所签内容的摘要(SHA-256),签名后被修改或被移到其他对象的逐一列出;发现问题时退出码为1"

    def handle(self, *args, **options):
        if not report(self.stdout, self.stderr, self.style):
            raise SystemExit(1)


def report(stdout, stderr, style) -> bool:
    """Verify every signature and write the outcome; True when all hold (also used by verify_ledger)."""
    checked, problems = signatures.verify()
    if not problems:
        stdout.write(style.SUCCESS(f"电子签名校验通过:{checked} 个有效签名与所签内容一致"))
        return True
    stderr.write(style.ERROR(f"电子签名校验失败:{checked} 个有效签名中 {len(problems)} 个与所签内容不符"))
    for p in problems[:200]:
        stderr.write(f"[签名 {p.signature_id}] {p.message}")
    if len(problems) > 200:
        stderr.write(f"……另有 {len(problems) - 200} 个问题未列出")
    return False
