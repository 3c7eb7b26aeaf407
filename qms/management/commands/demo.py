"""manage.py demo — load the deterministic demo committee (idempotent) and print the logins."""
import time

from django.core.management.base import BaseCommand

from qms import demo


class Command(BaseCommand):
    help = "载入演示党委(可重复运行:已载入则只打印演示账号)"

    def handle(self, *args, **options):
        if demo.exists():
            self.stdout.write("演示数据已存在,未作改动。")
        else:
            t = time.perf_counter()
            counts = demo.build()
            self.stdout.write(self.style.SUCCESS(
                f"已载入演示党委:党组织 {counts['units']} 个(党支部 {counts['branches']} 个、党小组 {counts['groups']} 个),"
                f"人员 {counts['members']} 名,用时 {time.perf_counter() - t:.1f} 秒"
            ))
        self.stdout.write("\n演示账号:\n" + demo.logins_table())
        self.stdout.write(f"\n根组织编码:{demo.ROOT_CODE}\n打开 http://127.0.0.1:8000/ 登录。")
