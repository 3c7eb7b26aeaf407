"""python manage.py check_pdf FILE [FILE …] [--margins T,R,B,L] — the layout check of every page
(qms/pdfcheck.py); prints each fault and exits 1 when there is one."""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from qms.pdfcheck import Margins, check_pdf


class Command(BaseCommand):
    help = "逐页检查 PDF 版面:内容不超出页边距、不压页眉页脚,文字不重叠,无几乎空白的页和孤立的标题"

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", help="PDF 文件")
        parser.add_argument("--margins", default="18,16,18,16", help="页边距(毫米):上,右,下,左")

    def handle(self, *args, files, margins, **options):
        try:
            m = Margins.parse(margins)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        bad = 0
        for name in files:
            path = Path(name)
            if not path.is_file():
                raise CommandError(f"找不到文件:{name}")
            faults = check_pdf(path, m)
            if faults:
                bad += 1
                self.stdout.write(f"{name}:{len(faults)} 处版面问题")
                for f in faults:
                    self.stdout.write(f"  {f}")
            else:
                self.stdout.write(f"{name}:版面检查通过")
        if bad:
            raise SystemExit(1)
