"""Attendance in one step: the roster of the meeting day as one form (全部出席 with
exceptions), saved in one submit, each changed row ledgered, nothing saved on a bad row."""
from __future__ import annotations

import pytest
from django.urls import reverse

from qms import ledger
from tests.test_workflows_records import _occ, org  # noqa: F401  (the fixture: a branch of six, scheduled)
from workflows import services
from workflows.models import Attendance, FollowUpKind

pytestmark = pytest.mark.django_db


def _planned(org):  # noqa: F811
    occ = _occ(org)
    day = services.meeting_day(occ)
    services.occurrence_plan(occ, actor=org["sec"], planned_date=day, place="党员活动室", topic="学习党章")
    return occ


def _post(client, occ, data):
    return client.post(reverse("occurrence_action", args=[occ.pk, "attend_all"]), data, follow=True)


def test_one_submit_marks_the_whole_roster_with_its_exceptions(org, client):  # noqa: F811
    occ = _planned(org)
    client.force_login(org["sec"])
    page = client.get(reverse("occurrence_detail", args=[occ.pk])).content.decode()
    assert page.count('<option value="present" selected>') == 6  # 全部出席 by default
    m = org["m"]
    data = {f"p_{x.pk}": "present" for x in m}
    data |= {f"p_{m[4].pk}": "absent", f"r_{m[4].pk}": "值班", f"p_{m[5].pk}": "leave", f"r_{m[5].pk}": "出差"}
    head = ledger.head()[0]
    r = _post(client, occ, data)
    assert "已保存出席情况(更新 6 人)" in r.content.decode()
    rows = {a.member_id: a for a in Attendance.objects.filter(record__occurrence=occ)}
    assert len(rows) == 6 and rows[m[4].pk].presence == "absent" and not rows[m[4].pk].on_leave
    assert rows[m[5].pk].on_leave and rows[m[5].pk].reason == "出差"
    assert ledger.head()[0] - head >= 6
    head = ledger.head()[0]
    r = _post(client, occ, data)  # the same again: nothing changes, nothing is ledgered
    assert "出席情况没有变化" in r.content.decode() and ledger.head()[0] == head
    services.record_save(occ, actor=org["sec"], elements={"time": f"{services.meeting_day(occ).isoformat()}T09:00", "speeches": "学习",
                                                          "votes": {"for": 4, "against": 0, "abstain": 0}})
    services.followup_add(occ, actor=org["sec"], text="学习安排", owner=m[1], due_date=services.meeting_day(occ))
    services.record_submit(occ, actor=org["sec"], held_on=services.meeting_day(occ))
    makeups = occ.record.followups.filter(kind=FollowUpKind.MAKEUP)
    assert [f.owner for f in makeups] == [m[5]]  # 请假 gives a 补课


def test_a_missing_reason_or_a_stranger_saves_nothing(org, client):  # noqa: F811
    from tests import factories

    occ = _planned(org)
    client.force_login(org["sec"])
    m = org["m"]
    head = ledger.head()
    r = _post(client, occ, {f"p_{m[0].pk}": "present", f"p_{m[1].pk}": "absent", f"r_{m[1].pk}": ""})
    assert f"{m[1].name}缺席,须填写原因" in r.content.decode() and ledger.head() == head
    stranger = factories.member(factories.unit("X", parent=org["c"], name="别的支部"), "外人甲")
    head = ledger.head()
    r = _post(client, occ, {f"p_{m[0].pk}": "present", f"p_{stranger.pk}": "present"})
    body = r.content.decode()
    assert "不在本次会议当日的党员名册中" in body and "外人甲" not in body
    assert ledger.head() == head and not Attendance.objects.filter(record__occurrence=occ).exists()


def test_the_sign_in_sheet_round_trip(org, client):  # noqa: F811
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from openpyxl import load_workbook

    occ = _planned(org)
    client.force_login(org["sec"])
    r = client.get(reverse("signin_sheet", args=[occ.pk]))
    assert r.status_code == 200 and r["Content-Disposition"].startswith("attachment")
    wb = load_workbook(io.BytesIO(r.content))
    ws = wb.active
    assert "签到表" in ws["A1"].value and [c.value for c in ws[2]][:4] == ["编号", "姓名", "所在党小组", "出席情况"]
    rows = {ws.cell(row=i, column=2).value: i for i in range(3, ws.max_row + 1)}
    m = org["m"]
    assert set(rows) == {x.name for x in m}
    ws.cell(row=rows[m[2].name], column=4, value="请假")
    ws.cell(row=rows[m[2].name], column=5, value="外出培训")
    ws.cell(row=rows[m[3].name], column=4, value="缺席")  # no reason: the whole file is refused

    def upload(book):
        buf = io.BytesIO()
        book.save(buf)
        f = SimpleUploadedFile("签到表.xlsx", buf.getvalue())
        return client.post(reverse("occurrence_action", args=[occ.pk, "signin"]), {"file": f}, follow=True).content.decode()

    head = ledger.head()
    body = upload(wb)
    assert f"第{rows[m[3].name]}行 {m[3].name}:缺席须填写原因" in body
    assert ledger.head() == head and not Attendance.objects.filter(record__occurrence=occ).exists()
    ws.cell(row=rows[m[3].name], column=5, value="值班")
    body = upload(wb)
    assert "已按签到表保存出席情况(更新 6 人)" in body
    marks = {a.member_id: (a.presence, a.on_leave, a.reason) for a in Attendance.objects.filter(record__occurrence=occ)}
    assert marks[m[2].pk] == ("absent", True, "外出培训") and marks[m[3].pk] == ("absent", False, "值班")
    assert marks[m[0].pk] == ("present", False, "")


def _held(org, occ, marked):  # noqa: F811
    """A 党员大会 record complete but for attendance: ``marked`` members present, submitted."""
    day = services.meeting_day(occ)
    services.occurrence_plan(occ, actor=org["sec"], planned_date=day, place="党员活动室", topic="学习党章")
    services.record_save(occ, actor=org["sec"], elements={"time": f"{day.isoformat()}T09:00", "speeches": "学习",
                                                          "votes": {"for": len(marked), "against": 0, "abstain": 0}})
    services.attendance_save(occ, actor=org["sec"], marks={m.pk: ("present", "") for m in marked})
    services.followup_add(occ, actor=org["sec"], text="学习安排", owner=marked[0], due_date=day)
    services.record_submit(occ, actor=org["sec"], held_on=day)
    return occ


def test_a_record_is_complete_only_when_everyone_expected_is_accounted_for(org, client):  # noqa: F811
    """seed 001 三(二)2: 出席、缺席、列席人员 are elements — a 党员大会 whose record leaves two
    members of the day's roster unmarked cannot pass the check; marking them (缺席 with a
    reason) lets it pass. The page says who is missing before anyone tries."""
    from django.core.exceptions import ValidationError

    m = org["m"]
    occ = _held(org, _occ(org), m[:4])
    assert [x.name for x in services.unaccounted(occ.record)] == [m[4].name, m[5].name]
    with pytest.raises(ValidationError) as e:
        services.record_check(occ, actor=org["checker"], password="pass-12345")
    assert f"2 名应到人员未登记出席、缺席或请假:{m[4].name}、{m[5].name}" in str(e.value)
    client.force_login(org["sec"])
    page = client.get(reverse("occurrence_detail", args=[occ.pk])).content.decode()
    assert "2 名应到人员未登记出席、缺席或请假" in page
    services.attendance_save(occ, actor=org["sec"], marks={m[4].pk: ("absent", "值班"), m[5].pk: ("leave", "出差")})
    assert services.unaccounted(occ.record) == []
    services.record_check(occ, actor=org["checker"], password="pass-12345")
    occ.refresh_from_db()
    assert occ.state == "checked"


def test_a_committee_meeting_expects_its_members_only_and_the_rule_can_be_turned_off(org, client):  # noqa: F811
    """支委会: the 委员 are expected (three of the six here), not the whole branch; and an
    organisation may turn the rule off for its subtree (a PolicyOverride, like every rule)."""
    from qms.rules import rule_value

    m = org["m"]
    occ = _occ(org, "branch_committee_meeting")
    services.occurrence_plan(occ, actor=org["sec"], planned_date=services.meeting_day(occ), place="支部活动室", topic="研究工作")
    assert sorted(x.pk for x in services.attendees_on(occ, services.meeting_day(occ))) == sorted(x.pk for x in m[:3])
    services.record_save(occ, actor=org["sec"], elements={"speeches": "研究"})
    services.attendance_save(occ, actor=org["sec"], marks={m[0].pk: ("present", "")})
    assert [x.name for x in services.unaccounted(occ.record)] == sorted([m[1].name, m[2].name])
    client.force_login(org["sec"])
    page = client.get(reverse("occurrence_detail", args=[occ.pk])).content.decode()
    assert "应到委员 3 人" in page
    from qms import services as core

    core.policy_override_set(actor=None, unit=org["c"], key="attendance_all_accounted", value=0, source="本党委另有规定")
    assert rule_value(org["b"], "attendance_all_accounted") == 0 and services.unaccounted(occ.record) == []
