"""Token authentication — ``Authorization: Bearer qms_…`` (or ``Token qms_…``).

The token's owner becomes ``request.user``, with the scopes narrowed to the token's units put in
``scopes_for``'s per-request cache: every scope check and the permission matrix then see only
what the token may see (qms/scoping.py and qms/permissions.py, unchanged)."""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from api import tokens


class TokenFailed(exceptions.AuthenticationFailed):
    def __init__(self, code: str, message: str):
        super().__init__(message, code=code)
        self.stable_code = code


class ApiTokenAuthentication(BaseAuthentication):
    keywords = (b"bearer", b"token")

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise TokenFailed("token_invalid", "令牌格式不正确:应为 Authorization: Bearer 令牌")
        try:
            secret = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise TokenFailed("token_invalid", "令牌无效") from exc
        try:
            token = tokens.recognise(secret)
        except tokens.TokenRefused as refused:
            raise TokenFailed(refused.code, refused.message) from refused
        user = token.owner
        user._qms_scopes = tokens.narrowed_scopes(token)
        return user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.ApiTokenAuthentication"
    name = "token"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "数据接口令牌(qms_ 开头)"}
