"""manage.py demo — load the deterministic demo committee (idempotent) and print the logins.

``--background-history`` (what ``make run`` uses) builds the committee and its people, then
leaves the year of executions to a separate process (``--history-only``) so the site can be
served at once; the pages show its progress until it is done (qms/demo.py)."""
import os
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from qms import demo


class Command(BaseCommand):
    help = "载入演示党委(可重复运行:已载入则只打印演示账号)"

    def add_arguments(self, parser):
        parser.add_argument("--no-history", action="store_true", help="只建组织和人员,不生成过去一年的执行记录")
        parser.add_argument("--background-history", action="store_true",
                            help="建好组织和人员后立即返回,过去一年的执行记录由后台进程生成(页面顶部显示进度)")
        parser.add_argument("--history-only", action="store_true", help=OPTIONS_HELP)

    def handle(self, *args, no_history: bool = False, background_history: bool = False, history_only: bool = False,
               **options):
        demo.fast_demo_writes()
        if history_only:
            return self._history(background=True)
        fresh = not demo.exists()
        if not fresh:
            self.stdout.write("演示数据已存在,未作改动。")
            state = demo.history_progress()
            if state and state["state"] == "stopped":
                self.stdout.write(self.style.WARNING(
                    f"上次后台生成执行记录未完成(停在:{state['message'] or '开始'})。如需完整演示数据,"
                    f"请删除 {settings.VAR_DIR} 后重新运行。"))
        else:
            t = time.perf_counter()
            counts = demo.build()
            self.stdout.write(self.style.SUCCESS(
                f"已载入演示党委:党组织 {counts['units']} 个(党支部 {counts['branches']} 个、党小组 {counts['groups']} 个),"
                f"人员 {counts['members']} 名,用时 {time.perf_counter() - t:.1f} 秒"
            ))
            if background_history:
                self._start_background()
            elif not no_history:
                self._history(background=False)
        self.stdout.write("\n演示账号:\n" + demo.logins_table())
        host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
        self.stdout.write(f"\n根组织编码:{demo.ROOT_CODE}\n打开 http://{host}:{port}/ 登录。")

    def _start_background(self) -> None:
        log = settings.VAR_DIR / "demo-history.log"
        with open(log, "w", encoding="utf-8") as out:
            proc = subprocess.Popen(  # its own session: stopping the web server does not stop it
                [sys.executable, str(settings.BASE_DIR / "manage.py"), "demo", "--history-only"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                cwd=settings.BASE_DIR, env=os.environ.copy())
        demo.write_progress("running", "准备中", pid=proc.pid)
        self.stdout.write(f"过去一年的执行记录正在后台生成(约几分钟),网页顶部显示进度;日志:{log}")

    def _history(self, *, background: bool) -> None:
        from django.contrib.auth import get_user_model

        from qms.models import Unit

        root = Unit.objects.get(code=demo.ROOT_CODE)
        admin = get_user_model().objects.get(username="admin")

        def say(msg: str) -> None:
            self.stdout.write(msg)
            if background:
                demo.write_progress("running", msg.strip())

        if background:
            demo.write_progress("running", "开始生成")
        try:
            demo.run_steps(root, admin, say)
        except BaseException as e:
            if background:
                demo.write_progress("stopped", f"出错:{e}")
            raise
        if background:
            demo.write_progress("done", "已完成")


OPTIONS_HELP = "只生成过去一年的执行记录(由 --background-history 启动的后台进程使用)"
