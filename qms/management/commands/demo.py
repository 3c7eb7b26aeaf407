"""manage.py demo — load the deterministic demo committee (idempotent) and print the logins."""
import os
import time

from django.core.management.base import BaseCommand

from qms import demo


class Command(BaseCommand):
    help = "载入演示党委(可重复运行:已载入则只打印演示账号)"

    def add_arguments(self, parser):
        parser.add_argument("--no-history", action="store_true", help="只建组织和人员,不生成过去一年的执行记录")

    def handle(self, *args, no_history: bool = False, **options):
        if demo.exists():
            self.stdout.write("演示数据已存在,未作改动。")
        else:
            t = time.perf_counter()
            counts = demo.build()
            self.stdout.write(self.style.SUCCESS(
                f"已载入演示党委:党组织 {counts['units']} 个(党支部 {counts['branches']} 个、党小组 {counts['groups']} 个),"
                f"人员 {counts['members']} 名,用时 {time.perf_counter() - t:.1f} 秒"
            ))
            if not no_history:
                from django.contrib.auth import get_user_model

                from qms.models import Unit

                root = Unit.objects.get(code=demo.ROOT_CODE)
                admin = get_user_model().objects.get(username="admin")
                for name, step in demo.STEPS:
                    t = time.perf_counter()
                    summary = step(root, admin, progress=lambda msg: self.stdout.write(msg))
                    self.stdout.write(f"{name}:{summary}(用时 {time.perf_counter() - t:.1f} 秒)")
        self.stdout.write("\n演示账号:\n" + demo.logins_table())
        host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
        self.stdout.write(f"\n根组织编码:{demo.ROOT_CODE}\n打开 http://{host}:{port}/ 登录。")
