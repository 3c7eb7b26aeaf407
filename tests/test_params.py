"""Bad query and path parameters get a 400 page in the product's layout (or a 404), never a 500."""
from __future__ import annotations

import datetime as dt
import inspect
import itertools
import re

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from qms import services
from qms.models import Role
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(tree):
    admin = factories.user("office")
    services.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=tree["committee"], valid_from=dt.date(2020, 1, 1))
    c = Client(raise_request_exception=False)
    c.force_login(admin)
    return c


@pytest.mark.parametrize("url", ["/audits/annual.pdf?year=0", "/work/compliance.xlsx?year=-1", "/audits/annual.xlsx?year=10000"])
def test_a_year_out_of_range_gets_a_400_page_in_chinese(admin_client, url):
    r = admin_client.get(url)
    assert r.status_code == 400
    page = r.content.decode()
    assert "年份应在2000至2100之间" in page and "党建质量管理体系" in page


def test_with_debug_on_a_bad_parameter_still_gets_the_400_page_not_the_technical_one(admin_client, settings):
    settings.DEBUG = True
    r = admin_client.get("/audits/annual.pdf?year=0")
    page = r.content.decode()
    assert r.status_code == 400 and "年份应在2000至2100之间" in page
    assert "Traceback" not in page and "DATABASE" not in page and "Local vars" not in page
    assert 'href="/audits/annual.pdf"' in page and 'href="/"' in page  # the way back: this page with defaults, the home page


# ---------------------------------------------------------------- every URL, every parameter


_PATH_PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
#: How views read the query string: the helpers of qms/params.py (``page_param(request)`` reads "page")
#: and any direct read that may be left.
_READS = (re.compile(r'request\.(?:GET|POST)(?:\.get\(|\[|\.getlist\()\s*"(\w+)"'),
          re.compile(r'\b\w+_param\(\s*request\s*,\s*"(\w+)"'))
QUERY_VALUES = ("0", "-1", "1999", "10000", "99999999999999999999", "abc", "1.5", "\x00", "2026-13-01", "0001-01-01",
                "9999-12-31", "x" * 300, "中文", "'; --")
INT_PATH_VALUES = ("0", "99999999999999999999", "9223372036854775808", "-1", "abc")
STR_PATH_VALUES = ("99999999999999999999", "-1", "%00", "x" * 300, "%E4%B8%AD%E6%96%87", "..", "abc", "pack.exe")
GOOD = {"int": ("1", "2", "3"), "id": ("1", "2", "3")}
GOOD_STR = ("C", "B1", "pdf", "zip")


def _routes(patterns=None, prefix=""):
    """(route, view) for every URL pattern of the project, includes followed."""
    for p in get_resolver().url_patterns if patterns is None else patterns:
        assert isinstance(p.pattern, RoutePattern), f"{p.pattern}: a regular-expression URL — teach this test its parameters"
        if isinstance(p, URLResolver):
            yield from _routes(p.url_patterns, prefix + str(p.pattern))
        else:
            yield prefix + str(p.pattern), p.callback


def _query_params(view) -> set[str]:
    """The query parameters a view reads: found in its source and in the helpers it passes the
    request to (``_filtered(request)``, ``qms.pages.asked_year(request)`` …)."""
    fn = inspect.unwrap(view)
    module = inspect.getmodule(fn)
    if module.__name__.split(".")[0] not in ("qms", "procedures", "workflows", "audits"):
        return {"next"}  # Django's own views (login, logout, set_language) read "next"
    names, seen, todo = set(), {fn}, [fn]
    while todo:
        src = inspect.getsource(todo.pop())
        names |= {m for rx in _READS for m in rx.findall(src)}
        if re.search(r"\bpage_param\(request\)", src):
            names.add("page")
        for called in re.findall(r"\b(\w+)\(request\b", src):
            helper = getattr(module, called, None)
            ours = inspect.isfunction(helper) and helper.__module__.split(".")[0] in ("qms", "procedures", "workflows", "audits")
            if ours and helper not in seen:  # the module's own helpers and the shared ones (qms.pages.asked_year …)
                seen.add(helper)
                todo.append(helper)
    return names


def _fill(route: str, values: dict[str, str]) -> str:
    return "/" + _PATH_PARAM.sub(lambda m: values[m["name"]], route)


def _good_values(client, route: str) -> dict[str, str]:
    """Path values that reach the view's body (a record that exists), so its query parameters are read."""
    params = [(m["conv"] or "str", m["name"]) for m in _PATH_PARAM.finditer(route)]
    options = [[(name, v) for v in GOOD.get(conv, GOOD_STR)] for conv, name in params]
    first = dict(o[0] for o in options)
    for combo in itertools.product(*options):
        if client.get(_fill(route, dict(combo))).status_code < 400:
            return dict(combo)
    return first


@pytest.fixture
def demo_like(tree):
    """The factories' tree with the library, a year of occurrences, a problem and an audit's data."""
    from audits.capa import services as capa
    from procedures.library_loader import load_library
    from workflows.scheduler import schedule

    load_library()
    schedule(today=dt.date(2026, 6, 30))
    admin = factories.user("office")
    services.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=tree["committee"], valid_from=dt.date(2020, 1, 1))
    capa.nc_raise(actor=admin, unit=tree["b1"], source="spot_check", grade="minor", clause="7.5",
                  requirement="按期召开支部党员大会", evidence="第二季度未召开")
    return {**tree, "admin": admin}


def _probe(client) -> tuple[list[str], int]:
    failures, sent = [], 0
    for route, view in _routes():
        good = _good_values(client, route)
        variants = []
        for m in _PATH_PARAM.finditer(route):
            bad = INT_PATH_VALUES if m["conv"] in ("int", "id") else STR_PATH_VALUES
            variants += [(_fill(route, {**good, m["name"]: v}), {}) for v in bad]
        variants += [(_fill(route, good), {name: v}) for name in sorted(_query_params(view)) for v in QUERY_VALUES]
        for url, query in variants:
            r = client.get(url, query)
            sent += 1
            if r.status_code >= 500 or (r.status_code == 400 and "请求有误" not in r.content.decode()):
                failures.append(f"{url} {query!r:.60} → {r.status_code}")
    return failures, sent


def test_no_url_answers_a_bad_parameter_with_a_server_error_for_the_admin(demo_like):
    client = Client(raise_request_exception=False)
    client.force_login(demo_like["admin"])
    failures, sent = _probe(client)
    assert sent > 500 and failures == []


def test_no_url_answers_a_bad_parameter_with_a_server_error_for_an_anonymous_visitor(demo_like):
    failures, sent = _probe(Client(raise_request_exception=False))
    assert sent > 500 and failures == []


def test_the_probe_finds_the_parameters_views_read():
    """The source scan is what makes the probe above mean something: it must see the year of
    the annual report (read through a helper), the register's filters and the period of the
    records export."""
    views = dict(_routes())
    assert "year" in _query_params(views["audits/annual.pdf"])
    assert {"unit", "state", "grade", "source", "overdue", "page"} <= _query_params(views["audits/problems/"])
    assert {"from", "to", "unit"} <= _query_params(views["work/records.xlsx"])
    assert {"status", "kind"} <= _query_params(views["procedures/"])


def test_djangos_own_bad_requests_get_the_same_page(admin_client):
    """``handler400``: a request Django itself refuses (here a host name not served) gets the page
    in the site's layout with a plain sentence, not Django's bare "Bad Request"."""
    r = admin_client.get("/units/", HTTP_HOST="evil.example")
    assert r.status_code == 400 and "请求有误" in r.content.decode() and "evil.example" not in r.content.decode()
