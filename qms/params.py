"""Query parameters (查询参数) read by views, checked in one place.

A year of 0, a date of 2026-13-01, a page of "abc" or a filter nobody offered is the visitor's
mistake (or a probe), not a server fault: it gets a 400 page in Chinese in the product's layout
with a way back, never a 500 with a traceback (reliability.md T13, OWASP ASVS 5.1.3 — input is
checked against what is allowed: numbers in a range, dates, one of a fixed list of choices).
Views call these helpers instead of ``int(request.GET.get(...))``; a bad value raises
``BadParameter``, which ``BadParameterMiddleware`` (and ``handler400``) turn into the page.

Path parameters are checked by the URL converters in ``qms.converters`` (a bad one is a 404).
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render

#: Characters no visitor types into a form: control characters (a NUL also makes PostgreSQL
#: refuse the query) and lone surrogates.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
#: in a form's text (a textarea keeps its tabs and line breaks)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

#: 1-based page numbers; Django's paginator shows the last page for anything beyond it.
MAX_PAGE = 1_000_000
#: Database ids (BigAutoField: signed 64-bit).
MAX_ID = 2**63 - 1


class BadParameter(BadRequest):
    """A query parameter that is malformed or out of range; ``message`` is shown to the visitor."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _raw(request: HttpRequest, name: str, data: QueryDict | Sequence[QueryDict] | None) -> str | None:
    """The first non-empty value of ``name`` in ``data`` (default: the query string). Empty
    means absent: forms submit empty fields, and the views treat them as "not chosen"."""
    sources: Iterable[QueryDict] = (request.GET,) if data is None else (data,) if isinstance(data, QueryDict) else data
    for source in sources:
        value = source.get(name)
        if value:
            return value
    return None


def years() -> tuple[int, int]:
    """The years any page can be asked about (``settings.QMS_YEARS``, with its reason there)."""
    lo, hi = settings.QMS_YEARS
    return int(lo), int(hi)


def int_param(request: HttpRequest, name: str, *, default: int | None, min_value: int, max_value: int, label: str,
              data: QueryDict | Sequence[QueryDict] | None = None) -> int | None:
    """An integer between ``min_value`` and ``max_value`` (inclusive); ``default`` when absent."""
    raw = _raw(request, name, data)
    if raw is None:
        return default
    raw = raw.strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,20}", raw) or not min_value <= int(raw) <= max_value:
        raise BadParameter(f"{label}应为{min_value}至{max_value}之间的整数")
    return int(raw)


def id_param(request: HttpRequest, name: str, *, label: str, data: QueryDict | Sequence[QueryDict] | None = None) -> int | None:
    """A record's number (an id chosen from a list on the page); None when absent."""
    raw = _raw(request, name, data)
    if raw is None:
        return None
    if not re.fullmatch(r"[0-9]{1,19}", raw.strip()) or not 1 <= int(raw) <= MAX_ID:
        raise BadParameter(f"所选{label}不存在,请从页面上的列表中选择")
    return int(raw)


def year_param(request: HttpRequest, name: str, *, default: int | None = None,
               data: QueryDict | Sequence[QueryDict] | None = None) -> int:
    """A year within ``settings.QMS_YEARS``; this year when absent."""
    from django.utils import timezone

    lo, hi = years()
    raw = _raw(request, name, data)
    if raw is None:
        return default if default is not None else timezone.localdate().year
    raw = raw.strip()
    if not re.fullmatch(r"[0-9]{4}", raw) or not lo <= int(raw) <= hi:
        raise BadParameter(f"年份应在{lo}至{hi}之间")
    return int(raw)


def date_param(request: HttpRequest, name: str, *, default: dt.date, label: str, message: str = "",
               data: QueryDict | Sequence[QueryDict] | None = None) -> dt.date:
    """A date written 年-月-日 whose year is within ``settings.QMS_YEARS``; ``default`` when absent."""
    lo, hi = years()
    raw = _raw(request, name, data)
    if raw is None:
        return default
    try:
        value = dt.date.fromisoformat(raw.strip()) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw.strip()) else None
    except ValueError:
        value = None
    if value is None:
        raise BadParameter(message or f"{label}格式应为 年-月-日(如 2026-01-01)")
    if not lo <= value.year <= hi:
        raise BadParameter(f"{label}应在{lo}年至{hi}年之间")
    return value


def choice_param(request: HttpRequest, name: str, choices: Iterable[str], *, default: str, label: str,
                 data: QueryDict | Sequence[QueryDict] | None = None) -> str:
    """One of ``choices`` (the options the page offers); ``default`` when absent."""
    raw = _raw(request, name, data)
    if raw is None:
        return default
    if raw not in set(choices):
        raise BadParameter(f"{label}不在可选范围内,请从页面上的选项中选择")
    return raw


def text_param(request: HttpRequest, name: str, *, label: str, max_length: int = 100, default: str = "",
               data: QueryDict | Sequence[QueryDict] | None = None) -> str:
    """Free text (a search word, an organisation's code): bounded, printable, stripped."""
    raw = _raw(request, name, data)
    if raw is None:
        return default
    if len(raw) > max_length or _UNPRINTABLE.search(raw):
        raise BadParameter(f"{label}过长或含有无法识别的字符")
    return raw.strip()


def as_int(value) -> int | None:
    """A posted number as an int, or None when empty or not a number (the service then says what is missing)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def as_date(value) -> dt.date | None:
    """A posted ``YYYY-MM-DD`` as a date, or None when empty or not a date."""
    try:
        return dt.date.fromisoformat(value or "")
    except (TypeError, ValueError):
        return None


def printable_post(request: HttpRequest) -> None:
    """Every field of a POSTed form is text (no NUL or other control characters but tab and line
    breaks — PostgreSQL refuses NUL): else the 400 page, before anything is looked up or saved."""
    for _name, values in request.POST.lists():
        if any(_CONTROL.search(v) for v in values):
            raise BadParameter("提交的内容含有无法识别的字符")


def page_param(request: HttpRequest, name: str = "page") -> int:
    """A list's page number (1 when absent)."""
    return int_param(request, name, default=1, min_value=1, max_value=MAX_PAGE, label="页码")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The 400 page (also ``handler400``): the reason in Chinese, in the site's layout, with the
    same page without its query and the home page as ways back."""
    message = exception.message if isinstance(exception, BadParameter) else "请求有误,请返回上一页后重试"
    return render(request, "400.html", {"message": message}, status=400)


class BadParameterMiddleware:
    """Turns ``BadParameter`` raised by a view into the 400 page — also with DEBUG on, where
    Django would otherwise show its technical page (local variables, settings, environment)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, BadParameter):
            return bad_request(request, exception)
        return None
