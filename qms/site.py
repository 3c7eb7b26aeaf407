"""Site menu and scope context (context processor). The composition root for navigation:
later packages add their entries here."""
from __future__ import annotations

import contextlib

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from qms.notify import unread_count
from qms.scoping import is_admin

#: The menu in groups that follow the loop (策划 → 执行 → 检查与改进 → 认证): (group label or None
#: for a link of its own, [(url name, label, who sees it: "all" | "manage" | "admin")]). A group of
#: which a user sees one entry only is shown as that entry.
MENU = [
    (None, [("home", _("首页"), "all")]),
    (_("组织与党员"), [
        ("unit_tree", _("组织架构"), "all"),
        ("member_list", _("党员"), "all"),
        ("coalition_list", _("联系组"), "all"),
        ("org_check", _("组织设置检查"), "all"),
        ("roster_import", _("花名册导入"), "manage"),
        ("account_list", _("账号管理"), "manage"),
    ]),
    (_("体系与规则"), [
        ("procedure_register", _("体系文件"), "all"),
        ("system_home", _("体系策划"), "all"),
        ("objectives", _("目标与考核"), "all"),
        ("rule_catalogue", _("规则目录"), "all"),
    ]),
    (_("执行"), [
        ("occurrence_list", _("应开展事项"), "all"),
        ("compliance", _("执行情况"), "all"),
        ("dues_page", _("党费"), "all"),
        ("annual", _("年度统计"), "all"),
    ]),
    (_("检查与改进"), [
        ("audit_list", _("内部审核"), "all"),
        ("campaign_list", _("自查与抽查"), "all"),
        ("nc_register", _("问题清单"), "all"),
        ("review_list", _("管理评审"), "manage"),
    ]),
    (_("认证"), [
        ("pack_list", _("认证证据包"), "manage"),
        ("certificate_list", _("认证证书"), "manage"),
    ]),
    (_("系统"), [
        ("ledger", _("留痕台账"), "admin"),
        ("permissions", _("权限矩阵"), "admin"),
        ("api_tokens", _("数据接口令牌"), "admin"),
    ]),
]
#: 通知 and 我的账号 sit beside the user's name at the right of the bar (base.html).

#: Pages that belong to a menu entry though their address lies elsewhere (the 考核评分 page is
#: under /audits/ but is part of 目标与考核): URL names, or a path prefix where the page's
#: address takes an argument (年度考核等次 is /audits/grades/<year>/).
ALSO = {"objectives": ("scoring", "targets", "/audits/grades/")}


#: Panels other packages add to the home page (registered in their AppConfig.ready, so
#: this lower package never imports them). Each takes the request and returns None or
#: {"title": str, "rows": [(text, url, note[, post_url])], "empty": str}: with a post_url the note
#: is a button that POSTs there (never a link to a URL that refuses GET).
HOME_PANELS: list = []


def register_home_panel(fn) -> None:
    if fn not in HOME_PANELS:
        HOME_PANELS.append(fn)


def home_panels(request) -> list[dict]:
    return [p for p in (fn(request) for fn in HOME_PANELS) if p]


def menu(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    scopes = list(request.scopes)
    manages = any(s.can_manage for s in scopes)
    admin = is_admin(user)
    groups = []
    for group, entries in MENU:
        items = []
        for name, label, who in entries:
            if (who == "manage" and not manages) or (who == "admin" and not admin):
                continue
            try:
                url = reverse(name)
            except NoReverseMatch:
                continue
            items.append({"url": url, "label": label, "match": _match(request.path, name, url)})
        if items:
            groups.append({"label": group if len(items) > 1 else None, "items": items})
    longest = max((i["match"] for g in groups for i in g["items"]), default=0)
    for g in groups:  # only the most specific entry is highlighted (/audits/packs/ is not 内部审核)
        for i in g["items"]:
            i["active"] = i["match"] > 0 and i["match"] == longest
        g["active"] = any(i["active"] for i in g["items"])
    return {"site_menu": groups, "site_scopes": scopes, "site_scope": request.scope or None,
            "site_unread": unread_count(user)}


def _match(path: str, name: str, url: str) -> int:
    """How specifically ``path`` belongs to the entry (the length of its longest matching address; 0: not)."""
    prefixes = [url]
    for other in ALSO.get(name, ()):
        if other.startswith("/"):
            prefixes.append(other)
            continue
        with contextlib.suppress(NoReverseMatch):
            prefixes.append(reverse(other))
    exact = name in ("home", "occurrence_list")
    return max((len(p) for p in prefixes if (path == p if exact else path.startswith(p))), default=0)


def demo_progress(request):
    """While the demo's year of executions is being built in the background, every page says so
    (with the builder's last progress line); nothing once it is done or was never started."""
    from qms.demo import history_progress

    state = history_progress()
    if not state or state["state"] == "done":
        return {}
    return {"demo_progress": state}

