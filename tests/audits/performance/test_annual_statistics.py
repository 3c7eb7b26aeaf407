"""Annual statistics (seed 004 篇5) and the 台账 export (issue 6 §4–5): counted from the
records where the data exists, entered by hand and marked so where not; Excel and PDF."""
from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from audits.performance import annual
from procedures.library_loader import load_library
from procedures.models import Obligation
from qms import services as core
from qms.models import LedgerEntry, Member, Role, UnitKind
from qms.permissions import NotPermitted
from tests import factories
from tests.conftest import IN_CI
from workflows.models import DuesPayment, Occurrence, State

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
YEAR = TODAY.year


@pytest.fixture
def org():
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b1 = factories.unit("B1", UnitKind.BRANCH, parent=c, name="第一党支部")
    b2 = factories.unit("B2", UnitKind.BRANCH, parent=c, name="第二党支部")
    m = [factories.member(b1, f"一支{i}") for i in range(3)] + [factories.member(b2, "二支0")]
    Member.objects.filter(pk=m[0].pk).update(joined_on=dt.date(YEAR, 1, 10))
    Member.objects.filter(pk__in=[m[1].pk, m[3].pk]).update(full_on=dt.date(YEAR, 2, 1))
    Member.objects.filter(pk=m[2].pk).update(full_on=dt.date(YEAR - 1, 2, 1))
    DuesPayment.objects.create(member=m[1], month=dt.date(YEAR, 1, 1), amount=Decimal("12.50"), paid_on=dt.date(YEAR, 1, 5), way="cash")
    DuesPayment.objects.create(member=m[3], month=dt.date(YEAR, 1, 1), amount=Decimal("30.00"), paid_on=dt.date(YEAR, 1, 6), way="cash")
    day = dt.date(YEAR, 1, 20)

    def occ(unit, title, state, seq=1, topic=""):
        ob = Obligation.objects.get(title=title, version__status="effective", version__document__owner__isnull=True)
        return Occurrence.objects.create(unit=unit, obligation=ob, obligation_key=ob.key, period_start=day.replace(day=1), period_end=day,
                                         due_date=day, seq=seq, state=state, held_on=day if state != State.MISSED else None, topic=topic)

    occ(b1, "支部书记讲党课", State.CLOSED, topic="学习党章")
    occ(b2, "支部书记讲党课", State.HELD, topic="党史")
    occ(b1, "党委(党组)成员讲党课", State.CHECKED)
    occ(b1, "任期届满按期换届", State.MISSED)
    occ(b2, "任期届满按期换届", State.CLOSED)
    admin = factories.user("admin")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=c, valid_from=dt.date(2020, 1, 1))
    return {"c": c, "b1": b1, "admin": admin, "member_user": factories.user("plain")}


def _rows(org):
    return {r.key: r for r in annual.rows(org["c"], YEAR)}


def test_counts_from_the_records_and_marks_hand_entries(org):
    r = _rows(org)
    assert r["lectures"].value == 3 and not r["lectures"].manual
    assert r["leader_lectures"].value == 1
    assert (r["terms_due"].value, r["terms_done"].value) == (2, 1)
    assert (r["new_probationary"].value, r["made_full"].value) == (1, 2)
    assert r["dues_collected"].value == Decimal("42.50")
    assert r["ledger_entries"].value == 4  # held/checked/closed executions of any procedure
    assert r["central_study"].manual and r["central_study"].value is None and r["central_study"].how == "待填报"
    only_b1 = {x.key: x for x in annual.rows(org["b1"], YEAR)}
    assert only_b1["lectures"].value == 2 and only_b1["dues_collected"].value == Decimal("12.50")


def test_hand_entry_rules(org):
    with pytest.raises(ValidationError, match="由系统按记录统计"):
        annual.enter(org["c"], YEAR, "lectures", actor=org["admin"], value="9")
    with pytest.raises(ValidationError, match="应填写数字"):
        annual.enter(org["c"], YEAR, "central_study", actor=org["admin"], value="十二")
    with pytest.raises(ValidationError, match="非负"):
        annual.enter(org["c"], YEAR, "central_study", actor=org["admin"], value="-1")
    with pytest.raises(NotPermitted, match="您无权填报年度统计"):
        annual.enter(org["c"], YEAR, "central_study", actor=org["member_user"], value="3")
    annual.enter(org["c"], YEAR, "central_study", actor=org["admin"], value="12")
    with pytest.raises(ValidationError, match="须说明原因"):
        annual.enter(org["c"], YEAR, "central_study", actor=org["admin"], value="13")
    annual.enter(org["c"], YEAR, "central_study", actor=org["admin"], value="13", note="漏记一次")
    r = _rows(org)["central_study"]
    assert r.value == Decimal("13") and r.how.startswith("手工填报(admin") and "漏记一次" in r.how
    assert LedgerEntry.objects.filter(action="annual.amend", reason="漏记一次").exists()


def test_excel_and_pdf(org, client, tmp_path):
    annual.enter(org["c"], YEAR, "funds_budget", actor=org["admin"], value="50000")
    client.force_login(org["admin"])
    wb = load_workbook(io.BytesIO(client.get(reverse("annual_xlsx") + f"?year={YEAR}").content))
    ws = wb.active
    assert [c.value for c in ws[2]] == ["类别", "项目", "数量", "单位", "来源"]
    values = {row[1]: (row[2], row[4]) for row in ws.iter_rows(min_row=3, values_only=True)}
    assert values["全年上党课"][0] == 3 and values["全年上党课"][1].startswith("系统统计")
    assert values["党建工作经费预算"][0] == 50000 and values["党建工作经费预算"][1].startswith("手工填报")
    page = client.get(reverse("annual") + f"?year={YEAR}").content.decode()
    assert "手工填报" in page and "系统统计" in page
    if shutil.which("pdftotext") is None:
        if IN_CI:
            pytest.fail("CI 必须安装 poppler-utils")
        pytest.skip("需要 pdftotext")
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(client.get(reverse("annual_pdf") + f"?year={YEAR}").content)
    text = "".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split())
    for s in ("测试党委", f"{YEAR}年党建工作统计表", "全年上党课", "待填报", "手工填报"):
        assert s in text, s


def test_records_ledger_export(org, client):
    client.force_login(org["admin"])
    r = client.get(reverse("records_xlsx") + f"?unit=C&from={YEAR}-01-01&to={YEAR}-12-31")
    ws = load_workbook(io.BytesIO(r.content)).active
    header = [c.value for c in ws[2]]
    assert header[:4] == ["组织编码", "组织名称", "程序文件", "规定"] and "出席" in header
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    assert len(rows) == 5 and {"学习党章", "党史"} <= {row[8] for row in rows}
    bad = client.get(reverse("records_xlsx") + "?unit=C&from=2026-13-01")
    assert bad.status_code == 400 and "期间格式" in bad.content.decode()
    client.force_login(org["member_user"])  # no scope there
    assert client.get(reverse("records_xlsx") + "?unit=C").status_code == 404
