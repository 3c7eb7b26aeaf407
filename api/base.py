"""What every viewset of the API shares: the token check, the body limit, strict input, the
filters (unit, period, status) and the call into a service with its refusal turned into JSON."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers, status, viewsets

from api import errors
from qms import params
from qms.models import Unit
from qms.scoping import restrict


class Strict(serializers.Serializer):
    """Input: unknown fields are refused (a misspelt field must not be silently ignored)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({k: ["不认识的字段"] for k in unknown})
        return super().to_internal_value(data)


def body_limit(request, *, import_: bool = False) -> None:
    """413 before the body is read: JSON up to ``QMS_API_MAX_BODY_BYTES`` (a bulk import's up to
    ``QMS_API_MAX_IMPORT_BYTES``), an upload up to the upload limit (``QMS_MAX_UPLOAD_BYTES``)
    plus its form's envelope."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    multipart = (request.META.get("CONTENT_TYPE") or "").startswith("multipart/")
    most = (settings.QMS_MAX_UPLOAD_BYTES + 64 * 1024 if multipart else
            settings.QMS_API_MAX_IMPORT_BYTES if import_ else settings.QMS_API_MAX_BODY_BYTES)
    if length > most:
        raise errors.ApiError(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "body_too_large",
                              f"请求体过大:最多{most // 1024}KB")


class Base:
    """Mixin for the viewsets: body limit first."""

    def initial(self, request, *args, **kwargs):
        body_limit(request)
        super().initial(request, *args, **kwargs)


class ReadViewSet(Base, viewsets.ReadOnlyModelViewSet):
    """A scoped list and detail: ``restrict`` (qms/scoping.py) before anything else; an id outside
    the scope is a 404, as on the web pages."""

    lookup_value_converter = "id"

    def scoped(self) -> QuerySet:
        return restrict(self.request.user, self.base_queryset()).distinct()

    def base_queryset(self) -> QuerySet:  # pragma: no cover - each viewset names its own
        raise NotImplementedError

    def get_queryset(self):
        qs = self.scoped()
        if self.action == "list":
            qs = self.filtered(qs)
        return qs

    def filtered(self, qs: QuerySet) -> QuerySet:
        return qs


def call(fn: Callable, *args, transition: bool = True, **kwargs) -> Any:
    """Run a service function (its ``@act`` check, guards, ledger entry and transaction); its
    refusal becomes a 409 (a transition) or a 400 (bad input), and nothing is stored."""
    try:
        return fn(*args, **kwargs)
    except ValidationError as exc:
        raise errors.refused(exc, transition=transition) from exc


# ------------------------------------------------------------------------------ filters

UNIT_PARAM = OpenApiParameter("unit", OpenApiTypes.STR, description="党组织编码:只看该组织及其下级")
FROM_PARAM = OpenApiParameter("from", OpenApiTypes.DATE, description="期间开始(年-月-日)")
TO_PARAM = OpenApiParameter("to", OpenApiTypes.DATE, description="期间结束(年-月-日)")


def status_param(choices) -> OpenApiParameter:
    return OpenApiParameter("status", OpenApiTypes.STR, enum=[c for c, _ in choices], description="状态")


def unit_filter(request, qs: QuerySet, lookup: str) -> QuerySet:
    """``?unit=CODE``: that unit and its subtree (within the scope already applied)."""
    code = params.text_param(request._request, "unit", label="党组织编码", max_length=32)
    if not code:
        return qs
    unit = restrict(request.user, Unit.objects.all()).filter(code=code).first()
    if unit is None:
        return qs.none()
    return qs.filter(**{f"{lookup}__path__startswith" if lookup else "path__startswith": unit.path})


def period_filter(request, qs: QuerySet, start: str, end: str | None = None) -> QuerySet:
    """``?from=…&to=…``: rows whose period (``start``…``end``) meets the one asked for."""
    lo = params.date_param(request._request, "from", default=dt.date.min, label="期间开始")
    hi = params.date_param(request._request, "to", default=dt.date.max, label="期间结束")
    if lo > hi:
        raise params.BadParameter("期间开始不能晚于期间结束")
    cond = Q()
    if lo != dt.date.min:
        cond &= Q(**{f"{end or start}__gte": lo})
    if hi != dt.date.max:
        cond &= Q(**{f"{start}__lte": hi})
    return qs.filter(cond)


def choice_filter(request, qs: QuerySet, field: str, choices, name: str = "status") -> QuerySet:
    value = params.choice_param(request._request, name, [c for c, _ in choices], default="", label="状态")
    return qs.filter(**{field: value}) if value else qs
