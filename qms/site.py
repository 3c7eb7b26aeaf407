"""Site menu and scope context (context processor)."""
from __future__ import annotations

from django.urls import NoReverseMatch, reverse


def menu(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    items = []
    for name, label in (("home", "首页"),):
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        items.append({"url": url, "label": label, "active": request.path == url})
    return {"site_menu": items, "site_scopes": list(request.scopes), "site_scope": request.scope}
