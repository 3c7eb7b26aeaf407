"""Spreadsheet formula injection (TRUST 4): every export — each page that answers with an .xlsx or a
CSV file, found by walking the URL patterns, and each function or command that writes CSV — is
made with a unit name, a member's name, a meeting topic, a ticket's evidence and a campaign title
that a spreadsheet would run as formulas. Opened with openpyxl (formulas kept, ``data_only=False``)
and the csv module: no cell is a formula, and the text is still there. A module that builds a
workbook or a CSV writer outside ``qms/exports.py`` fails the last test."""
from __future__ import annotations

import csv
import datetime as dt
import inspect
import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from openpyxl import load_workbook

from audits.campaign import services as camp
from audits.campaign import summary
from audits.capa import services as capa
from procedures.library_loader import load_library
from qms import catalogue, exports
from qms import services as core
from qms.models import Role, UnitKind
from tests import factories
from workflows import recruitment_services as rs
from workflows import services as wf
from workflows.models import Occurrence
from workflows.scheduler import schedule

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
LINK = '=HYPERLINK("http://x","y")'
SUM = "@SUM(1)"
HOSTILE = [LINK, SUM, "+1+2", "-2+3", "\t=1", " =1", "＝1", "＠A1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_safe_cell_quotes_what_a_spreadsheet_would_run_and_keeps_the_text(text):
    safe = exports.safe_cell(text)
    assert safe == "'" + text


@pytest.mark.parametrize("value", ["学习党章", "-3", "+2.5", "", 12, -4, 1.5, dt.date(2026, 1, 1), None, "a=b", "张三@单位"])
def test_safe_cell_leaves_plain_text_numbers_and_dates_alone(value):
    assert exports.safe_cell(value) == value


def test_control_characters_are_dropped_not_a_failed_export():
    assert exports.safe_cell("会\x01议\x1f") == "会议"


@pytest.fixture
def org(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name=SUM)
    b1 = factories.unit("B1", UnitKind.BRANCH, parent=c, name=LINK)
    members = [factories.member(b1, n) for n in (SUM, LINK, "张三", "李四")]
    adm = factories.user("adm")
    core.member_update(members[2], actor=None, reason="账号", user=adm)
    core.role_grant(actor=None, user=adm, role=Role.ADMIN, unit=c, valid_from=dt.date(2020, 1, 1))
    core.position_assign(actor=None, member=members[2], unit=b1, title="secretary", start=dt.date(2024, 1, 1))
    schedule(today=TODAY)
    occ = (Occurrence.objects.filter(unit=b1, obligation_key="branch_general_meeting", period_start__lte=TODAY)
           .order_by("-period_start").first())
    wf.occurrence_plan(occ, actor=adm, planned_date=max(occ.period_start, TODAY - dt.timedelta(days=1)), place=SUM, topic=LINK)
    capa.nc_raise(actor=adm, unit=b1, source="spot_check", grade="minor", clause="DJ-CX-02", requirement=SUM, evidence=LINK)
    campaign = camp.campaign_announce(actor=adm, root=c, title=LINK, kinds=["branch"], today=TODAY,
                                      deadline=TODAY + dt.timedelta(days=5))
    rs.applicant_register(actor=None, unit=b1, name=SUM, gender="F", id_number=factories.id_number(birth=dt.date(2000, 3, 1)),
                          birth_date=dt.date(2000, 3, 1), applied_on=TODAY - dt.timedelta(days=3))
    return {"c": c, "b1": b1, "adm": adm, "occ": occ, "campaign": campaign}


def _cells_xlsx(data: bytes) -> list:
    wb = load_workbook(io.BytesIO(data), data_only=False)
    return [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]


def _assert_xlsx_safe(data: bytes, expect: list[str], name: str = "") -> int:
    cells = _cells_xlsx(data)
    formulas = [(c.coordinate, c.value) for c in cells if c.data_type == "f"]
    assert formulas == []
    texts = [str(c.value) for c in cells]
    for text in expect:
        assert any(text in t for t in texts), f"{text!r} is missing from {name}"
    for t in texts:  # nothing leaves that a spreadsheet would read as a formula
        assert exports.safe_cell(t) == t
    return len(cells)


def _assert_csv_safe(text: str, expect: list[str]) -> None:
    fields = [f for row in csv.reader(io.StringIO(text)) for f in row]
    assert fields
    for f in fields:
        assert exports.safe_cell(f) == f, f"{f!r} would run as a formula"
    for e in expect:
        assert any(e in f for f in fields), f"{e!r} is missing from the CSV"


def _export_views() -> set[str]:
    """The names of every URL whose view answers with a spreadsheet or a CSV file."""
    found = set()

    def walk(patterns, ns=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, f"{ns}{p.namespace}:" if p.namespace else ns)
            elif isinstance(p, URLPattern):
                src = inspect.getsource(inspect.unwrap(p.callback)) if inspect.isfunction(inspect.unwrap(p.callback)) else ""
                if re.search(r"spreadsheetml|XLSX_MIME|text/csv", src) and p.name:
                    found.add(ns + p.name)
    walk(get_resolver().url_patterns)
    return found


def _urls(org) -> dict[str, tuple[str, list[str]]]:
    """Each export page with the hostile text it must still carry."""
    y = TODAY.year
    return {
        "member_export": (reverse("member_export") + "?unit=B1", [LINK, SUM]),
        "compliance_xlsx": (reverse("compliance_xlsx") + f"?unit=C&year={y}", [LINK]),
        "records_xlsx": (reverse("records_xlsx") + f"?unit=C&from={y}-01-01&to={y}-12-31", [LINK, SUM]),
        "signin_sheet": (reverse("signin_sheet", args=[org["occ"].pk]), [LINK, SUM]),
        "nc_register_xlsx": (reverse("nc_register_xlsx"), [LINK]),
        "annual_xlsx": (reverse("annual_xlsx") + f"?year={y}", [SUM]),
        "campaign_summary_xlsx": (reverse("campaign_summary_xlsx", args=[org["campaign"].pk]), [LINK]),
        "roster_template": (reverse("roster_template"), []),
    }


def test_every_export_page_and_csv_writer_with_hostile_text_holds_no_formula(client, org):
    urls = _urls(org)
    assert _export_views() <= set(urls), f"an export page not tried here: {_export_views() - set(urls)}"
    client.force_login(org["adm"])
    tried = 0
    for name, (url, expect) in urls.items():
        resp = client.get(url)
        assert resp.status_code == 200, (name, resp.status_code)
        assert resp["Content-Type"] == exports.XLSX_MIME, name
        assert resp["Content-Disposition"].startswith("attachment"), name
        _assert_xlsx_safe(b"".join(resp) if resp.streaming else resp.content, expect, name)
        tried += 1
    assert tried == len(urls)
    _every_csv_writer_quotes_hostile_text(org)


def _every_csv_writer_quotes_hostile_text(org):
    s = summary.summarise(org["campaign"])
    _assert_csv_safe(summary.as_csv(s), [])
    entry = catalogue.Entry(key="rule:x", kind="rule", title=LINK, value="-1+1", source=SUM, where=(LINK,))
    _assert_csv_safe(catalogue.as_csv([entry]), [LINK, SUM, "-1+1"])
    out = io.StringIO()
    call_command("compliance", "--unit", "C", "--year", str(TODAY.year), "--format", "csv", stdout=out)
    _assert_csv_safe(out.getvalue(), [LINK])
    out = io.StringIO()
    call_command("recruitment", "--unit", "C", "--format", "csv", stdout=out)
    _assert_csv_safe(out.getvalue(), [LINK, SUM])


def test_no_module_builds_a_workbook_or_csv_writer_outside_qms_exports():
    pattern = re.compile(r"\bWorkbook\(|csv\.writer\(|csv\.DictWriter\(|\bDictWriter\(|from csv import writer")
    root = Path(settings.BASE_DIR)
    offenders = []
    for package in ("qms", "procedures", "workflows", "audits"):
        for path in (root / package).rglob("*.py"):
            if path == root / "qms" / "exports.py" or "migrations" in path.parts:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if pattern.search(line) and not line.lstrip().startswith("#"):
                    offenders.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert offenders == [], "write spreadsheets and CSV through qms/exports.py:\n" + "\n".join(offenders)
