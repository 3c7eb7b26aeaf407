"""manage.py api_token — make, list or revoke API tokens from the command line (for set-up
scripts), through the same acts as the page: the person named by ``--as`` must be allowed."""
from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from api import tokens
from api.models import ApiToken
from qms.models import Unit
from qms.permissions import NotPermitted


class Command(BaseCommand):
    help = "创建、列出或吊销数据接口令牌(create / list / revoke)"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="what", required=True)
        c = sub.add_parser("create", help="创建令牌(只显示一次)")
        c.add_argument("--as", dest="username", required=True, help="办理人的用户名(令牌的责任人)")
        c.add_argument("--name", required=True, help="令牌名称,例如 OA系统")
        c.add_argument("--unit", action="append", default=[], help="对接令牌限定的党组织编码(可多次);不填则为个人令牌")
        c.add_argument("--write", action="store_true", help="可写(默认只读)")
        c.add_argument("--expires", help="有效期至(年-月-日)")
        sub.add_parser("list", help="列出令牌")
        r = sub.add_parser("revoke", help="吊销令牌")
        r.add_argument("id", type=int)
        r.add_argument("--as", dest="username", required=True)
        r.add_argument("--reason", required=True)

    def _user(self, username):
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"没有用户名为 {username} 的账号") from exc

    def handle(self, *args, what, **o):
        try:
            if what == "create":
                actor = self._user(o["username"])
                expires = dt.date.fromisoformat(o["expires"]) if o.get("expires") else None
                if o["unit"]:
                    units = list(Unit.objects.filter(code__in=o["unit"]).order_by("path"))
                    if len(units) != len(set(o["unit"])):
                        raise CommandError("有党组织编码不存在")
                    issued = tokens.token_create_integration(actor=actor, name=o["name"], units=units, write=o["write"],
                                                             expires_on=expires)
                else:
                    issued = tokens.token_create_personal(actor=actor, name=o["name"], write=o["write"], expires_on=expires)
                self.stderr.write(f"已创建令牌 #{issued.token.pk}(有效期至 {issued.token.expires_on}),只显示这一次:")
                self.stdout.write(issued.secret)
            elif what == "list":
                for t in ApiToken.objects.select_related("owner").order_by("pk"):
                    self.stdout.write(f"#{t.pk}\t{t.get_kind_display()}\t{t.name}\t{t.prefix}…\t"
                                      f"{'可写' if t.write else '只读'}\t{t.expires_on}\t{t.state_label}")
            else:
                actor = self._user(o["username"])
                t = ApiToken.objects.filter(pk=o["id"]).first()
                if t is None:
                    raise CommandError("没有该令牌")
                tokens.token_revoke(t, actor=actor, reason=o["reason"])
                self.stdout.write(f"已吊销令牌 #{t.pk}")
        except (ValidationError, NotPermitted, ValueError) as exc:
            raise CommandError(";".join(getattr(exc, "messages", [str(exc)]))) from exc
