"""工作日历 entered in the product: the 体系管理员 enters a year's 法定节假日 and 调休 from the State
Council's notice (the shipped file cannot know a year published after the release); an entered
year counts at once (公示期 of 发展党员), corrections need a reason, bad input is refused with
nothing saved, and the admin's home says when this (or, from November, next) year is missing."""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from qms import ledger, workdays
from qms import services as core
from qms.models import Role, WorkCalendarYear
from qms.permissions import NotPermitted
from tests import factories
from tests.test_crawl import foreign_words

pytestmark = pytest.mark.django_db
D = dt.date
NOTICE = "《国务院办公厅关于2027年部分节假日安排的通知》(2026年11月)"


@pytest.fixture
def people(tree):
    admin = factories.user("cal-admin", first_name="王体系")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=tree["committee"], valid_from=D(2020, 1, 1))
    secretary = factories.user("cal-sec")
    member = tree["m1"][0]
    member.user = secretary
    member.save()
    core.position_assign(actor=None, member=member, unit=tree["b1"], title="secretary", start=D(2024, 1, 1))
    return {"admin": admin, "secretary": secretary}


def test_an_entered_year_counts_at_once_and_is_ledgered(client, people):
    assert not workdays.known(2027)
    assert workdays.count(D(2027, 2, 15), D(2027, 2, 19)) == 5  # not entered: Monday–Friday
    client.force_login(people["admin"])
    r = client.post("/rules/calendar/", {"year": "2027", "source": NOTICE, "off": "1月1日\n2月15日至23日、2027-10-01~2027-10-07",
                                        "on": "2月14日, 2月27日"})
    assert r.status_code == 302 and r["Location"].endswith("?year=2027")
    row = WorkCalendarYear.objects.get(year=2027)
    assert len(row.off) == 17 and row.on == ["2027-02-14", "2027-02-27"] and row.entered_by == people["admin"]
    assert ledger.history(row).get().action == "work_calendar.create"
    assert workdays.known(2027)
    assert workdays.count(D(2027, 2, 15), D(2027, 2, 19)) == 0 and workdays.is_workday(D(2027, 2, 14))
    assert workdays.add(D(2027, 2, 22), 5) == D(2027, 3, 1)  # 02-22/23 off; 24, 25, 26, 27 (调休上班), 03-01
    page = client.get("/rules/calendar/?year=2027").content.decode()
    assert NOTICE in page and "体系管理员录入" in page and 'class="cal-off">15<' in page and 'class="cal-on">14<' in page
    assert foreign_words(page) == set()


def test_bad_input_is_refused_with_nothing_saved(client, people):
    client.force_login(people["admin"])
    cases = [
        ({"source": "", "off": "1月1日"}, "请填写依据的通知"),
        ({"off": "2月30日"}, "“2月30日”不是有效的日期"),
        ({"off": "一月一日"}, "无法识别"),
        ({"off": "2026-12-31"}, "以下日期不属于2027年:2026-12-31"),
        ({"off": "1月1日", "on": "2月15日"}, "调休上班日应为周六或周日:2027-02-15"),
        ({"off": "2月14日", "on": "2月14日"}, "既填为放假又填为上班"),
        ({"off": ""}, "请填写放假日期"),
        ({"year": "1999"}, "请填写年度"),
    ]
    for change, message in cases:
        data = {"year": "2027", "source": NOTICE, "off": "1月1日", "on": "", **change}
        r = client.post("/rules/calendar/", data)
        assert r.status_code == 400 and message in r.content.decode(), (change, message)
    assert not WorkCalendarYear.objects.exists()
    assert 'value="1999"' in r.content.decode()  # what was typed stays in the form


def test_a_correction_needs_a_reason_and_keeps_what_was_there(people):
    admin = people["admin"]
    workdays.calendar_year_save(actor=admin, year=2027, source=NOTICE, off="1月1日", on="")
    with pytest.raises(ValidationError, match="更正须说明原因"):
        workdays.calendar_year_save(actor=admin, year=2027, source=NOTICE, off="1月1日、1月2日", on="")
    row = workdays.calendar_year_save(actor=admin, year=2027, source=NOTICE, off="1月1日、1月2日", on="", reason="漏录元旦调休")
    entry = ledger.history(row).last()
    assert entry.action == "work_calendar.amend" and entry.reason == "漏录元旦调休"
    assert entry.before["off"] == ["2027-01-01"] and row.off == ["2027-01-01", "2027-01-02"]
    # a year shipped with the product is corrected the same way, and the entry takes its place
    with pytest.raises(ValidationError, match="2026年的工作日历已有"):
        workdays.calendar_year_save(actor=admin, year=2026, source="更正", off="1月1日", on="")
    workdays.calendar_year_save(actor=admin, year=2026, source="更正后的通知", off="1月1日", on="", reason="核对通知")
    assert workdays.is_workday(D(2026, 10, 1)) and workdays.calendar()[2026].source == "更正后的通知"


def test_only_the_system_administrator_enters_a_year(client, people):
    with pytest.raises(NotPermitted):
        workdays.calendar_year_save(actor=people["secretary"], year=2027, source=NOTICE, off="1月1日", on="")
    client.force_login(people["secretary"])
    page = client.get("/rules/calendar/").content.decode()
    assert "录入或更正一个年度" not in page and "工作日历" in page
    client.post("/rules/calendar/", {"year": "2027", "source": NOTICE, "off": "1月1日", "on": ""})
    assert not WorkCalendarYear.objects.exists()


def test_the_admin_home_says_when_next_year_is_missing(client, people, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a, **k: D(2026, 12, 7))
    client.force_login(people["admin"])
    home = client.get("/").content.decode()
    assert "2027年的法定节假日安排尚未录入" in home and "/rules/calendar/?year=2027" in home
    client.force_login(people["secretary"])
    assert "法定节假日安排尚未录入" not in client.get("/").content.decode()
    workdays.calendar_year_save(actor=people["admin"], year=2027, source=NOTICE, off="1月1日", on="")
    client.force_login(people["admin"])
    assert "法定节假日安排尚未录入" not in client.get("/").content.decode()


def test_the_notice_step_names_the_calendar_and_a_missing_year(client):
    """The 公示 of 发展党员 counts working days: its form links the calendar and says which year is
    not entered (counted Monday–Friday); once entered, the count uses it."""
    import tests.test_recruitment as tr
    from tests.test_recruitment import _apply, _walk

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("django.utils.timezone.localdate", lambda *a, **k: D(2026, 6, 1))
        o = tr.org.__wrapped__(None, {"day": D(2026, 6, 1)})  # the recruitment tests' organisation
        a = _walk(o, _apply(o), until="pre_review")
        client.force_login(o["upper"])
        page = client.get(f"/work/recruitment/{a.pk}/").content.decode()
        assert "公示期按工作日计算" in page and "2027年的节假日安排尚未录入,暂按周一至周五计算" in page
        assert "/rules/calendar/" in page
