"""Annual statistics (seed 004 篇5) whole — its 61 items in the form's order — and the 台账 export:
counted from the records where the data exists, entered by hand and marked so (by name) where
not; the two items not on the form in a supplement; Excel and PDF."""
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

from audits.models import AnnualReport
from audits.performance import annual
from procedures.library_loader import load_library
from procedures.models import Obligation
from qms import services as core
from qms.models import LedgerEntry, Member, Position, Role, UnitKind
from qms.pdfcheck import check_pdf
from qms.permissions import NotPermitted
from tests import factories
from tests.conftest import IN_CI
from workflows.models import Attendance, DuesPayment, Occurrence, Presence, Record, State

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

    occ(b1, "安排党课", State.CLOSED, topic="学习党章")
    occ(b2, "安排党课", State.HELD, topic="党史")
    by_leader = occ(b1, "安排党课", State.CHECKED, seq=2, topic="全面从严治党")  # given by a 党委 member
    Position.objects.create(member=m[2], unit=c, title="organization", start=dt.date(YEAR - 1, 1, 1))
    Record.objects.create(occurrence=by_leader, form=by_leader.obligation.form, elements={"lecturer": m[2].pk})
    occ(b1, "任期届满按期换届", State.MISSED)
    occ(b2, "任期届满按期换届", State.CLOSED)
    admin = factories.user("admin")
    admin.first_name = "管理员甲"
    admin.save()
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=c, valid_from=dt.date(2020, 1, 1))
    return {"c": c, "b1": b1, "admin": admin, "member_user": factories.user("plain")}


def _cells(org, root=None):
    return {c.key: c for r in annual.rows(root or org["c"], YEAR) for c in r.cells}


SEED_IDS = ["5-一1(1)", "5-一1(2)", "5-一2(1)", "5-一2(2)", "5-一2(3)", "5-一3(1)", "5-一3(2)", "5-一4", "5-二1(1)", "5-二1(2)", "5-二2(1)", "5-二2(2)", "5-二3", "5-二4", "5-二5", "5-二5(1)", "5-二5(2)", "5-二5(3)", "5-二5(4)", "5-二6", "5-三1(1)", "5-三1(2)", "5-三1(3)", "5-三2(1)", "5-三2(2)", "5-三2(3)", "5-三3(1)", "5-三3(2)", "5-三3(3)", "5-三3(4)", "5-四1(1)", "5-四1(2)", "5-四1(3)", "5-四2(1)", "5-四2(2)", "5-四3(1)", "5-四3(2)", "5-四4(1)", "5-四4(2)", "5-四5(1)", "5-四5(2)", "5-四5(3)", "5-四6(1)", "5-四6(2)", "5-五1(1)", "5-五1(2)", "5-五1(3)", "5-五2(1)", "5-五2(2)", "5-五2(3)", "5-五3", "5-五4(1)", "5-五4(2)", "5-五4(3)", "5-六1(1)", "5-六1(2)", "5-六1(3)", "5-六2(1)", "5-六2(2)", "5-六2(3)", "5-六3"]


def test_the_form_whole_in_the_seeds_order(org):
    rows = annual.rows(org["c"], YEAR)
    form = [r for r in rows if not r.supplement]
    assert len(SEED_IDS) == 61 and [r.id for r in form] == SEED_IDS
    sections = list(dict.fromkeys(r.section for r in form))
    assert sections == ["一、思想政治建设", "二、组织建设", "三、作风建设", "四、党风廉政建设", "五、精神文明建设", "六、领导责任制"]
    # the two items that are not on the seed's form are a supplement, each with its own source
    extra = [r for r in rows if r.supplement]
    assert [c.key for r in extra for c in r.cells] == ["democratic_life", "dues_collected"]
    assert all(r.source and r.section.startswith("附") for r in extra)
    assert "六、经费" not in {r.section for r in rows}


def test_counts_from_the_records_and_marks_hand_entries(org):
    c = _cells(org)
    assert c["lectures"].value == 3 and not c["lectures"].manual
    assert c["leader_lectures"].value == 1
    assert (c["terms_due"].value, c["terms_done"].value) == (2, 1)
    assert c["dues_collected"].value == Decimal("42.50")
    assert c["ledger_entries"].value == 4  # held/checked/closed executions of any procedure
    assert c["central_study"].manual and c["central_study"].value is None and c["central_study"].how == "待填报"
    only_b1 = _cells(org, org["b1"])
    assert only_b1["lectures"].value == 2 and only_b1["dues_collected"].value == Decimal("12.50")


def test_5_yi_3_1_trained_cadres_are_people_by_rank_not_training_sessions(org):
    """5-一3(1) counts trained cadres (人, by rank), not training sessions (fidelity audit: wrong → fixed)."""
    c = _cells(org)
    assert [c[k].unit for k in ("trained_cadres", "trained_county", "trained_section", "trained_deputy_section")] == ["人"] * 4
    assert [c[k].label for k in ("trained_county", "trained_section", "trained_deputy_section")] == ["县级干部", "科级干部", "副科级干部"]
    assert c["trained_cadres"].manual
    assert "trainings" not in c


def test_5_si_4_1_decisions_studied_and_made_public_not_openness_executions(org):
    """5-四4(1) counts decisions studied and made public (项), not 党务公开 executions (wrong → fixed)."""
    c = _cells(org)
    assert c["decisions_studied"].unit == c["decisions_public"].unit == "项"
    assert c["decisions_studied"].manual and c["decisions_public"].manual
    assert "openness" not in c


def test_members_joined_and_made_full_are_split_by_hand_against_the_roll(org):
    """The roll cannot tell 机关 from 所属企事业单位: both rows are entered, beside the roll's total."""
    c = _cells(org)
    for key, total in (("new_probationary_organ", 1), ("new_probationary_affiliated", 1), ("made_full_organ", 2),
                       ("made_full_affiliated", 2)):
        assert c[key].manual and c[key].check == total and f"共 {total} 人" in c[key].how


def test_cadre_changes_talks_and_theme_days_counted(org):
    b1, c_unit = org["b1"], org["c"]
    people = list(Member.objects.order_by("pk"))
    core.position_assign(actor=None, member=people[0], unit=b1, title="secretary", start=dt.date(YEAR, 3, 1))
    core.position_assign(actor=None, member=people[1], unit=c_unit, title="organization", start=dt.date(YEAR - 2, 3, 1))
    Position.objects.create(member=people[2], unit=c_unit, title="propaganda", start=dt.date(YEAR - 3, 1, 1),
                            end=dt.date(YEAR, 4, 1))
    day = dt.date(YEAR, 5, 20)
    theme = Obligation.objects.get(key="theme_party_day", version__status="effective", version__document__owner__isnull=True)
    occ = Occurrence.objects.create(unit=b1, obligation=theme, obligation_key=theme.key, period_start=day.replace(day=1),
                                    period_end=day, due_date=day, seq=1, state=State.HELD, held_on=day, topic="主题党日")
    rec = Record.objects.create(occurrence=occ, form=theme.form, elements={})
    Attendance.objects.create(record=rec, member=people[0], presence=Presence.PRESENT)
    Attendance.objects.create(record=rec, member=people[1], presence=Presence.PRESENT)
    Attendance.objects.create(record=rec, member=people[2], presence=Presence.ABSENT, reason="出差")
    c = _cells(org)
    assert c["cadre_changes"].value == 2  # 书记 appointed in B1, 宣传委员 left the 党委; the 2-year-old post is no change
    assert c["cadre_changes_branches"].value == 1
    assert (c["theme_activities"].value, c["theme_activities_people"].value) == (1, 2)
    assert c["heart_talks"].value == 0 and not c["heart_talks"].manual


def test_hand_entry_rules(org):
    with pytest.raises(ValidationError, match="由系统按记录统计"):
        annual.enter(org["c"], YEAR, "lectures", actor=org["admin"], value="9")
    with pytest.raises(ValidationError, match="应填写数字"):
        annual.enter(org["c"], YEAR, "central_study", actor=org["admin"], value="十二")
    with pytest.raises(ValidationError, match="非负"):
        annual.enter(org["c"], YEAR, "central_study", actor=org["admin"], value="-1")
    with pytest.raises(ValidationError, match="百分数"):
        annual.enter(org["c"], YEAR, "central_study_rate", actor=org["admin"], value="120")
    with pytest.raises(ValidationError, match="未知的统计项目"):
        annual.enter(org["c"], YEAR, "trainings", actor=org["admin"], value="1")
    with pytest.raises(NotPermitted, match="您无权填报年度统计"):
        annual.enter(org["c"], YEAR, "central_study", actor=org["member_user"], value="3")
    assert not AnnualReport.objects.exists()
    annual.enter(org["c"], YEAR, "central_study", actor=org["admin"], value="12")
    with pytest.raises(ValidationError, match="须说明原因"):
        annual.enter(org["c"], YEAR, "central_study", actor=org["admin"], value="13")
    annual.enter(org["c"], YEAR, "central_study", actor=org["admin"], value="13", note="漏记一次")
    r = _cells(org)["central_study"]
    assert r.value == Decimal("13") and r.how.startswith("手工填报(管理员甲") and "漏记一次" in r.how
    assert "admin" not in r.how  # the person, never the login
    assert LedgerEntry.objects.filter(action="annual.amend", reason="漏记一次").exists()


def test_the_page_saves_the_whole_form_in_one_submit_all_or_nothing(org, client):
    client.force_login(org["admin"])
    url = reverse("annual") + f"?year={YEAR}"
    r = client.post(url, {"year": YEAR, "v_central_study": "12", "v_central_study_rate": "88.5", "v_visits": "", "note": ""},
                    follow=True)
    page = r.content.decode()
    assert "已填报 2 项" in page and "组织学习" in page
    c = _cells(org)
    assert (c["central_study"].value, c["central_study_rate"].value, c["visits"].value) == (12, Decimal("88.5"), None)
    # one bad box: nothing of this submit is saved, every problem named
    r = client.post(url, {"year": YEAR, "v_central_study": "13", "v_visits": "五", "v_letters_rate": "101", "note": "更正"},
                    follow=True)
    page = r.content.decode()
    assert "“接待来访”应填写数字" in page and "“办结率”是百分数" in page
    c = _cells(org)
    assert c["central_study"].value == 12 and c["visits"].value is None
    # a changed number needs its reason; the same number again is not a change
    r = client.post(url, {"year": YEAR, "v_central_study": "13", "v_central_study_rate": "88.5"}, follow=True)
    assert "须说明原因" in r.content.decode() and _cells(org)["central_study"].value == 12
    r = client.post(url, {"year": YEAR, "v_central_study": "12", "v_central_study_rate": "88.50"}, follow=True)
    assert "没有新填或改动的数字" in r.content.decode()
    assert LedgerEntry.objects.filter(action="annual.enter").count() == 2  # one per item; nothing from the refused submits
    assert not LedgerEntry.objects.filter(action="annual.amend").exists()
    client.force_login(org["member_user"])
    assert client.post(url, {"year": YEAR, "v_central_study": "1"}).status_code in (403, 404)


def test_excel_and_pdf(org, client, tmp_path):
    annual.enter(org["c"], YEAR, "funds_budget", actor=org["admin"], value="50000")
    client.force_login(org["admin"])
    wb = load_workbook(io.BytesIO(client.get(reverse("annual_xlsx") + f"?year={YEAR}").content))
    ws = wb.active
    assert [c.value for c in ws[2]] == ["编号", "类别", "项目", "栏目", "数量", "单位", "来源"]
    data = list(ws.iter_rows(min_row=3, values_only=True))
    assert list(dict.fromkeys(row[0] for row in data))[:61] == SEED_IDS
    values = {row[3]: (row[4], row[6]) for row in data}
    assert values["上党课"][0] == 3 and values["上党课"][1].startswith("系统统计")
    assert values["年活动经费预算"][0] == 50000 and values["年活动经费预算"][1].startswith("手工填报")
    page = client.get(reverse("annual") + f"?year={YEAR}").content.decode()
    assert "手工填报" in page and "系统统计" in page and "5-六3" in page and "本系统补充统计" in page
    if shutil.which("pdftotext") is None:
        if IN_CI:
            pytest.fail("CI 必须安装 poppler-utils")
        pytest.skip("需要 pdftotext")
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(client.get(reverse("annual_pdf") + f"?year={YEAR}").content)
    text = "".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split())
    for s in ("测试党委", f"{YEAR}年党建工作统计表", "全年机关上党课", "待填报", "手工填报", "5-六3", "拨付使用", "六、领导责任制"):
        assert s in text, s
    assert check_pdf(pdf) == []  # every page within its margins, nothing overlapping


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
