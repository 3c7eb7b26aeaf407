"""错误 — every refusal of the API as ``{"code": "...", "message": "中文…", "errors": {...}}``.

``code`` is stable (programs branch on it), ``message`` is for people, ``errors`` names the
fields at fault. The statuses: 400 bad input, 401 no or bad token, 403 not allowed (the
permission matrix's sentence, a read-only token, an act that needs an electronic signature),
404 not found or outside the token's scope (existence is not disclosed, as on the web pages),
405, 409 a transition the object's state or rules refuse (the service's own sentence), 413 a
body too large, 415 a body of another type.
"""
from __future__ import annotations

from typing import Any

from django.core import exceptions as dj
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from qms.params import BadParameter
from qms.permissions import NotPermitted

NOT_FOUND = "无权访问或对象不存在"


class ApiError(exceptions.APIException):
    """An error with its stable code, Chinese message and field errors."""

    def __init__(self, status_code: int, code: str, message: str, errors: dict | None = None):
        super().__init__(message, code=code)
        self.status_code, self.stable_code, self.message, self.errors = status_code, code, message, errors or {}


class SignatureRequired(ApiError):
    def __init__(self, what: str):
        super().__init__(status.HTTP_403_FORBIDDEN, "signature_required",
                         f"{what}须由本人在浏览器中登录后电子签名办理(重新输入登录密码),不能通过数据接口令牌办理")


def refused(exc: dj.ValidationError, *, transition: bool) -> ApiError:
    """A service's refusal: 409 for a transition (its state or rules say no), else 400."""
    errors: dict[str, Any] = {}
    if hasattr(exc, "error_dict"):
        errors = {k: [str(m) for e in v for m in e.messages] for k, v in exc.error_dict.items()}
        message = ";".join(m for msgs in errors.values() for m in msgs)
    else:
        message = ";".join(exc.messages)
    if transition:
        return ApiError(status.HTTP_409_CONFLICT, "transition_refused", message, errors)
    return ApiError(status.HTTP_400_BAD_REQUEST, "invalid", message, errors)


def _flatten(detail) -> dict:
    if isinstance(detail, dict):
        return {str(k): _flatten(v) if isinstance(v, dict) else [str(x) for x in (v if isinstance(v, list) else [v])]
                for k, v in detail.items()}
    return {"non_field_errors": [str(x) for x in (detail if isinstance(detail, list) else [detail])]}


def _first(errors: dict) -> str:
    for k, v in errors.items():
        if isinstance(v, dict):
            inner = _first(v)
            if inner:
                return inner
        elif v:
            return v[0] if k == "non_field_errors" else f"{k}:{v[0]}"
    return ""


def _body(code: str, message: str, errors: dict | None = None) -> dict:
    return {"code": code, "message": message, "errors": errors or {}}


def handler(exc, context):
    """DRF's ``EXCEPTION_HANDLER``: every error as the JSON above; nothing becomes a 500 that a
    request's content could cause."""
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, ApiError):
        return Response(_body(exc.stable_code, exc.message, exc.errors), status=exc.status_code, headers=headers)
    if isinstance(exc, Http404 | dj.ObjectDoesNotExist | exceptions.NotFound):
        return Response(_body("not_found", NOT_FOUND), status=404)
    if isinstance(exc, NotPermitted):
        return Response(_body("not_permitted", exc.message), status=403)
    if isinstance(exc, dj.RequestDataTooBig):
        return Response(_body("body_too_large", "请求体过大"), status=413)
    if isinstance(exc, BadParameter):
        return Response(_body("bad_parameter", str(exc)), status=400)
    if isinstance(exc, dj.ValidationError):
        e = refused(exc, transition=False)
        return Response(_body(e.stable_code, e.message, e.errors), status=e.status_code)
    if isinstance(exc, dj.PermissionDenied):
        return Response(_body("forbidden", str(exc) or "无权办理"), status=403)
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        return Response(_body("invalid", _first(errors) or "请求数据有误", errors), status=400)
    if isinstance(exc, exceptions.ParseError):
        return Response(_body("malformed", "请求体不是有效的数据(JSON 格式有误或编码不对)"), status=400)
    if isinstance(exc, exceptions.AuthenticationFailed):
        code = getattr(exc, "stable_code", "token_invalid")
        return Response(_body(code, str(exc.detail)), status=401, headers=headers)
    if isinstance(exc, exceptions.NotAuthenticated):
        return Response(_body("not_authenticated", "请在请求头中提供数据接口令牌:Authorization: Bearer 令牌"),
                        status=401, headers=headers)
    if isinstance(exc, exceptions.PermissionDenied):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "forbidden"
        return Response(_body(code if code != "permission_denied" else "forbidden", str(exc.detail)), status=403)
    if isinstance(exc, exceptions.MethodNotAllowed):
        return Response(_body("method_not_allowed", "不支持此请求方法"), status=405)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return Response(_body("unsupported_media_type", "请求体类型不支持:请用 application/json(上传附件用 multipart/form-data)"),
                        status=415)
    if isinstance(exc, exceptions.NotAcceptable):
        return Response(_body("not_acceptable", "只能返回 JSON"), status=406)
    if isinstance(exc, exceptions.Throttled):
        return Response(_body("throttled", "请求过于频繁,请稍后再试"), status=429)
    if isinstance(exc, exceptions.APIException):
        return Response(_body(str(exc.get_codes()) if isinstance(exc.get_codes(), str) else "error", str(exc.detail)),
                        status=exc.status_code)
    return None
