"""登记党员情况 — the event vocabulary (qms/rules/events.toml) fires: each event a secretary
records on the member's page creates the occurrence its rule calls for, with its deadline, in
the same transaction (六必谈 seed 001 三(二)5, 专题组织生活会 三(二)3, 外出 → 转接 三(二)7);
任前培训 on appointing a 书记 (四(二)); scope and bad input refused with nothing saved."""
from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from procedures import services as doc_services
from procedures.library_loader import load_library
from procedures.models import Document, EventKind
from qms import ledger
from qms import services as core
from qms.models import LedgerEntry, MemberEvent, MemberEventKind, Position, Role, UnitKind
from qms.permissions import NotPermitted
from qms.rules.events import recordable, vocabulary
from tests import factories
from workflows.models import Occurrence

pytestmark = pytest.mark.django_db
D = dt.date
DAY = D(2026, 9, 1)


@pytest.fixture
def org(db):
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b1 = factories.unit("B1", UnitKind.BRANCH, parent=c, name="第一党支部")
    b2 = factories.unit("B2", UnitKind.BRANCH, parent=c, name="第二党支部")
    people = {}
    for key, unit, title in (("sec_b1", b1, "secretary"), ("sec_c", c, "secretary"), ("sec_b2", b2, "secretary"),
                             ("plain", b1, None)):
        m = factories.member(b1 if unit == c else unit, f"{key}党员")
        people[key] = factories.user(key)
        core.member_update(m, actor=None, reason="账号", user=people[key])
        core.member_event_record(m, actor=None, kind="pre_training", date=D(2023, 12, 1), note="任前培训班")
        if title:
            core.position_assign(actor=None, member=m, unit=unit, title=title, start=D(2024, 1, 1))
    people["admin"] = factories.user("admin")
    core.role_grant(actor=None, user=people["admin"], role=Role.ADMIN, unit=c, valid_from=D(2020, 1, 1))
    return {"c": c, "b1": b1, "b2": b2, **people,
            "m1": factories.member(b1, "张一"), "m2": factories.member(b2, "李二")}


def _saved():
    return MemberEvent.objects.count(), Occurrence.objects.count(), LedgerEntry.objects.count()


# (event, the obligation it makes owed, days to the deadline in the shipped library)
FIRES = [
    pytest.param("job_change", "talk_job_change", 30, id="001_64_job_change"),
    pytest.param("commendation", "talk_commendation_discipline", 30, id="001_65_commendation"),
    pytest.param("discipline", "talk_discipline", 15, id="001_65_discipline"),
    pytest.param("hardship", "talk_hardship", 15, id="001_66_hardship"),
    pytest.param("conflict", "talk_conflict", 15, id="001_67_conflict"),
    pytest.param("bad_report", "talk_bad_report", 15, id="001_68_bad_report"),
    pytest.param("away", "membership_transfer_away", 183, id="001_79_away"),
    pytest.param("serious_violation", "special_organization_life_meeting", 30, id="001_54_serious_violation"),
    pytest.param("major_error", "special_organization_life_meeting", 30, id="001_54_major_error"),
    pytest.param("accountability", "special_organization_life_meeting", 30, id="001_54_accountability"),
]


@pytest.mark.parametrize(("kind", "key", "days"), FIRES)
def test_recording_the_event_creates_its_occurrence_with_its_deadline(org, kind, key, days):
    m = org["m1"]
    ev = core.member_event_record(m, actor=org["sec_b1"], kind=kind, date=DAY, note="说明")
    occ = Occurrence.objects.get(event=ev, obligation_key=key)
    assert occ.unit == org["b1"] and occ.period_start == DAY
    assert occ.due_date == DAY + dt.timedelta(days=days) == occ.period_end
    assert sorted(o.pk for o in ev.triggered) == sorted(Occurrence.objects.filter(event=ev).values_list("pk", flat=True))
    assert ev.from_unit == org["b1"] and ev.get_kind_display() == vocabulary()[kind].label
    actions = set(LedgerEntry.objects.filter(seq__gt=0).values_list("action", flat=True))
    assert {"member_event.create", "occurrence.trigger"} <= actions
    assert ledger.verify().ok


def test_away_more_than_six_months_owes_the_transfer(org):
    ev = core.member_event_record(org["m1"], actor=org["sec_b1"], kind="away", date=D(2026, 3, 1), note="外出务工")
    occ = Occurrence.objects.get(event=ev)
    assert occ.obligation_key == "membership_transfer_away" and occ.obligation.title == "外出超过6个月的党员转接组织关系"
    assert occ.due_date == D(2026, 8, 31)  # 6 months, 183 days: the library's count of the seed's 6 months


def test_retirement_recorded_as_a_status_change_owes_its_talk(org):
    ev = core.member_status_change(org["m1"], actor=org["sec_b1"], kind="retire", date=DAY, note="到龄退休")
    occ = Occurrence.objects.get(event=ev, obligation_key="talk_retirement")
    assert occ.due_date == DAY + dt.timedelta(days=30)


def test_001_54_the_three_special_meeting_situations_each_owe_a_meeting_of_the_branch(org):
    for kind in ("serious_violation", "major_error", "accountability"):
        core.member_event_record(org["m1"], actor=org["sec_b1"], kind=kind, date=DAY)
    occ = Occurrence.objects.filter(obligation_key="special_organization_life_meeting", unit=org["b1"])
    assert occ.count() == 3 and {o.event.kind for o in occ} == {"serious_violation", "major_error", "accountability"}


def test_001_13_a_serious_violation_owes_a_report_to_the_higher_organisation(org):
    """001-13 (seed 001 三(一)3): 问题严重的及时向上级党组织报告 — recording 严重违纪违法 makes the branch owe
    the report (checked at the level above) as well as the 专题组织生活会; the other two situations do not."""
    ev = core.member_event_record(org["m1"], actor=org["sec_b1"], kind="serious_violation", date=DAY)
    report = Occurrence.objects.get(event=ev, obligation_key="serious_case_report")
    assert report.unit == org["b1"] and report.due_date == DAY + dt.timedelta(days=7)
    assert report.obligation.checker_level == "parent" and "三(一)3" in report.obligation.source
    assert set(Occurrence.objects.filter(event=ev).values_list("obligation_key", flat=True)) == {
        "serious_case_report", "special_organization_life_meeting"}
    other = core.member_event_record(org["m1"], actor=org["sec_b1"], kind="major_error", date=DAY)
    assert not Occurrence.objects.filter(event=other, obligation_key="serious_case_report").exists()


def test_the_vocabulary_is_the_one_list_and_every_event_rule_can_fire(org):
    from procedures.models import Obligation

    voc = vocabulary()
    assert set(voc) == set(MemberEventKind.values)
    assert all(e.source.strip() for e in voc.values())
    triggered = {t for e in voc.values() for t in e.triggers}
    assert triggered <= set(EventKind.values)
    library_events = set(Obligation.objects.filter(version__document__owner__isnull=True).exclude(event="")
                         .values_list("event", flat=True))
    # every event-driven rule of the library is triggered by some event (换届 comes from the term)
    assert library_events - {"term_expiry"} <= triggered
    assert {e.key for e in recordable()} == {"job_change", "commendation", "discipline", "hardship", "conflict",
                                             "bad_report", "away", "serious_violation", "major_error",
                                             "accountability", "pre_training"}
    raw = tomllib.loads((Path(core.__file__).parent / "rules" / "events.toml").read_text(encoding="utf-8"))
    assert list(raw["events"]) == list(voc)


def test_an_organisations_own_procedure_sets_the_deadline(org):
    """The deadline is the procedure's data: a 党委's own version of DJ-CX-08 (7 days for a
    hardship talk) rules its branches."""
    people = {n: factories.user(n) for n in ("d", "r", "a")}
    for u in people.values():
        core.role_grant(actor=None, user=u, role="admin", unit=org["c"], valid_from=D(2020, 1, 1))
    lib = Document.objects.get(owner=None, library_key="heart_to_heart_talks")
    v = doc_services.document_adopt(lib, unit=org["c"], actor=people["d"], label="C-1", change_reason="困难谈话提前")
    doc_services.obligation_update(v.obligations.get(key="talk_hardship"), actor=people["d"], reason="本委制度",
                                   grace_days=7, source="本委谈心谈话办法第5条")
    doc_services.version_submit(v, actor=people["d"])
    doc_services.version_review(v, actor=people["r"], password="pass-12345")
    doc_services.version_approve(v, actor=people["a"], effective_on=timezone.localdate(), password="pass-12345")
    ev = core.member_event_record(org["m1"], actor=org["sec_b1"], kind="hardship", date=DAY)
    assert Occurrence.objects.get(event=ev).due_date == DAY + dt.timedelta(days=7)


def test_an_event_for_someone_outside_the_recorders_scope_is_refused_and_nothing_saved(org, client):
    before = _saved()
    with pytest.raises(NotPermitted):
        core.member_event_record(org["m2"], actor=org["sec_b1"], kind="job_change", date=DAY, note="调岗")
    assert _saved() == before
    client.force_login(org["sec_b1"])
    url = f"/members/{org['m2'].pk}/events/new/"
    assert client.get(url).status_code == 404
    r = client.post(url, {"kind": "job_change", "date": DAY.isoformat(), "note": "调岗"})
    assert r.status_code == 404 and _saved() == before
    client.force_login(org["plain"])  # a 党员 of the same branch sees the page, manages nobody
    url = f"/members/{org['m1'].pk}/events/new/"
    r = client.post(url, {"kind": "job_change", "date": DAY.isoformat(), "note": "调岗"})
    assert r.status_code == 403 and _saved() == before


def test_an_event_kind_outside_the_vocabulary_is_refused_in_chinese(org, client):
    before = _saved()
    with pytest.raises(ValidationError, match="请从列表中选择党员情况的类型"):
        core.member_event_record(org["m1"], actor=org["sec_b1"], kind="promotion", date=DAY)
    with pytest.raises(ValidationError, match="不在此登记"):  # in the vocabulary, but written by its own page
        core.member_event_record(org["m1"], actor=org["sec_b1"], kind="death", date=DAY)
    assert _saved() == before
    client.force_login(org["sec_b1"])
    r = client.post(f"/members/{org['m1'].pk}/events/new/", {"kind": "promotion", "date": DAY.isoformat(), "note": ""})
    assert r.status_code == 200 and "请从列表中选择党员情况的类型" in r.content.decode()
    assert "promotion" not in r.content.decode()
    assert _saved() == before


@pytest.mark.parametrize("who", ["sec_b1", "sec_c", "admin"])
def test_recording_on_the_members_page_as_the_allowed_roles(org, client, who):
    client.force_login(org[who])
    page = client.get(f"/members/{org['m1'].pk}/").content.decode()
    assert f"/members/{org['m1'].pk}/events/new/" in page and "登记情况" in page
    form = client.get(f"/members/{org['m1'].pk}/events/new/").content.decode()
    assert "工作岗位变动" in form and "受到上级党组织问责" in form and "外出" in form
    r = client.post(f"/members/{org['m1'].pk}/events/new/", {"kind": "conflict", "date": DAY.isoformat(), "note": "邻里纠纷"},
                    follow=True)
    text = r.content.decode()
    assert r.status_code == 200 and "已登记 张一:出现矛盾纠纷" in text
    assert "出现矛盾和意见分歧时必谈(截止 2026-09-16)" in text
    ev = MemberEvent.objects.get(member=org["m1"], kind="conflict")
    assert ev.note == "邻里纠纷" and Occurrence.objects.filter(event=ev, due_date=D(2026, 9, 16)).count() == 1
    assert "出现矛盾纠纷" in client.get(f"/members/{org['m1'].pk}/").content.decode()


# ---------------------------------------------------------------------------- 任前培训


def test_001_100_appointing_an_untrained_secretary_warns_and_owes_the_training(org, client):
    u = factories.unit("B3", UnitKind.BRANCH, parent=org["c"], name="第三党支部")
    m = factories.member(u, "赵三")
    client.force_login(org["sec_c"])
    r = client.post(f"/units/{u.code}/positions/new/", {"member_id_number": m.id_number, "title": "secretary",
                                                         "start": DAY.isoformat()}, follow=True)
    text = r.content.decode()
    assert "赵三 没有任前培训记录:新任党组织书记必须进行任前培训" in text
    assert "已列入应开展事项:新任书记补行任前培训(截止 2026-10-01)" in text
    assert Position.objects.filter(member=m, unit=u, title="secretary", end__isnull=True).exists()
    occ = Occurrence.objects.get(unit=u, obligation_key="new_secretary_training")
    assert occ.due_date == DAY + dt.timedelta(days=30) and occ.event.kind == "untrained_secretary"


def test_a_trained_secretary_or_another_office_gives_no_warning(org, client):
    u = factories.unit("B3", UnitKind.BRANCH, parent=org["c"], name="第三党支部")
    trained, other = factories.member(u, "钱四"), factories.member(u, "孙五")
    core.member_event_record(trained, actor=org["sec_c"], kind="pre_training", date=DAY - dt.timedelta(days=10))
    client.force_login(org["sec_c"])
    for m, title in ((trained, "secretary"), (other, "organization")):
        r = client.post(f"/units/{u.code}/positions/new/", {"member_id_number": m.id_number, "title": title,
                                                             "start": DAY.isoformat()}, follow=True)
        assert "任前培训记录" not in r.content.decode().split("<form", 1)[0]
    assert not Occurrence.objects.filter(obligation_key="new_secretary_training").exists()


def test_the_training_rule_as_a_guard_refuses_and_saves_nothing(org):
    core.policy_override_set(actor=None, unit=org["c"], key="secretary_pre_training_required", value=2,
                             source="本委规定:未经任前培训不得任命书记")
    u = factories.unit("B3", UnitKind.BRANCH, parent=org["c"], name="第三党支部")
    m = factories.member(u, "周六")
    before = (*_saved(), Position.objects.count())
    with pytest.raises(ValidationError, match="本组织规定未培训不得任命"):
        core.position_assign(actor=org["sec_c"], member=m, unit=u, title="secretary", start=DAY)
    assert (*_saved(), Position.objects.count()) == before
    core.member_event_record(m, actor=org["sec_c"], kind="pre_training", date=DAY)
    core.position_assign(actor=org["sec_c"], member=m, unit=u, title="secretary", start=DAY)


def test_the_training_rule_switched_off(org):
    core.policy_override_set(actor=None, unit=org["c"], key="secretary_pre_training_required", value=0, source="本委规定")
    u = factories.unit("B3", UnitKind.BRANCH, parent=org["c"], name="第三党支部")
    m = factories.member(u, "吴七")
    assert core.secretary_training_warning(member=m, unit=u, title="secretary", start=DAY) is None
    core.position_assign(actor=org["sec_c"], member=m, unit=u, title="secretary", start=DAY)
    assert not MemberEvent.objects.filter(member=m, kind="untrained_secretary").exists()
