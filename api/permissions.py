"""Who may use the API at all: a live token; a read-only token only reads. Everything finer is
the web pages' own rule: scope (qms/scoping.py) and the permission matrix (``@act`` on every
service function), which the viewsets reach by calling the same services."""
from __future__ import annotations

from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission


class ReadOnlyToken(exceptions.PermissionDenied):
    default_code = "token_read_only"
    default_detail = "该令牌只读,不能修改数据;如需写入请创建可写令牌"


class LiveToken(BasePermission):
    def has_permission(self, request, view) -> bool:
        if request.auth is None or not request.user or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated("请在请求头中提供数据接口令牌:Authorization: Bearer 令牌")
        if request.method not in SAFE_METHODS and not request.auth.write:
            raise ReadOnlyToken()
        return True
