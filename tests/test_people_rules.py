"""People-level rules (个人履责): each person's 党课 counted from the records whose 主讲人 is that
person (seed 001 三(二)2 党组(党委)成员每年至少讲1次; 三(一)3 支部书记每年不少于2次)."""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from procedures.library_loader import load_library
from qms import services as core
from qms.models import UnitKind
from tests import factories
from workflows import people, services
from workflows.models import Occurrence, State
from workflows.scheduler import schedule

pytestmark = pytest.mark.django_db
D = dt.date
TODAY = timezone.localdate()
YEAR = TODAY.year - 1  # a whole past year: every quarter's 党课 can be held and checked


@pytest.fixture
def org(db):
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b = factories.unit("B", UnitKind.BRANCH, parent=c, name="第一党支部")
    other = factories.unit("B2", UnitKind.BRANCH, parent=c, name="第二党支部")
    members = [factories.member(b, f"党员{i}", start=D(2020, 1, 1)) for i in range(5)]
    sec_user, checker_user = factories.user("sec"), factories.user("checker")
    core.member_update(members[0], actor=None, reason="账号", user=sec_user)
    core.position_assign(actor=None, member=members[0], unit=b, title="secretary", start=D(2020, 1, 1))
    core.position_assign(actor=None, member=members[1], unit=b, title="organization", start=D(2020, 1, 1))
    core.position_assign(actor=None, member=members[2], unit=b, title="propaganda", start=D(2020, 1, 1))
    leader = factories.member(other, "党委委员甲", start=D(2020, 1, 1))
    core.member_update(leader, actor=None, reason="账号", user=checker_user)
    core.position_assign(actor=None, member=leader, unit=c, title="organization", start=D(2020, 1, 1))
    deputy = factories.member(other, "党委副书记乙", start=D(2020, 1, 1))
    core.position_assign(actor=None, member=deputy, unit=c, title="deputy_secretary", start=D(2020, 1, 1))
    x = factories.unit("X", UnitKind.COMMITTEE, name="别的党委")
    outsider = factories.member(factories.unit("XB", UnitKind.BRANCH, parent=x, name="别的支部"), "外单位党员", start=D(2020, 1, 1))
    schedule(today=D(YEAR, 1, 1), through=D(YEAR, 12, 31))
    return {"c": c, "b": b, "other": other, "m": members, "sec": sec_user, "checker": checker_user,
            "leader": leader, "deputy": deputy, "outsider": outsider}


def lectures(org, unit=None):
    return list(Occurrence.objects.filter(unit=unit or org["b"], obligation_key="party_lecture",
                                          period_start__year=YEAR).order_by("period_start"))


def give_lecture(org, occ, lecturer, *, check=True):
    day = occ.period_start + dt.timedelta(days=10)
    services.occurrence_plan(occ, actor=org["sec"], planned_date=day, place="党员活动室", topic="党章学习")
    services.record_save(occ, actor=org["sec"], elements={"lecturer": str(lecturer.pk), "content": "讲授党章总纲"})
    services.attendance_save(occ, actor=org["sec"], marks={m.pk: ("present", "") for m in services.attendees_on(occ, day)})
    services.record_submit(occ, actor=org["sec"], held_on=day)
    if check:
        services.record_check(occ, actor=org["checker"], password="pass-12345")
    occ.refresh_from_db()
    return occ


def duty(org, member, root=None):
    rows = [d for d in people.lecture_duties(root or org["c"], YEAR) if d.member == member]
    assert len(rows) == 1, rows
    return rows[0]


def test_per_person_lectures_are_not_scheduled_per_unit(org):
    """The secretary's and the 党委 members' lectures are counted per person, not laid out as
    extra occurrences of the unit (seed 001 三(一)3 does not put them on top of the quarterly 党课)."""
    keys = set(Occurrence.objects.values_list("obligation_key", flat=True))
    assert "party_lecture" in keys
    assert "secretary_lecture" not in keys and "committee_member_lecture" not in keys


def test_secretary_fulfils_two_lectures_by_giving_quarterly_lectures(org):
    q1, q2, q3, _q4 = lectures(org)
    sec = org["m"][0]
    give_lecture(org, q1, sec)
    d = duty(org, sec)
    assert (d.owed, d.done, d.fulfilled, d.short) == (2, 1, False, 1)
    assert "seed 001 三(一)3" in d.source
    give_lecture(org, q2, org["m"][1])  # someone else's lecture does not count for the secretary
    assert duty(org, sec).done == 1
    give_lecture(org, q3, sec)
    d = duty(org, sec)
    assert (d.done, d.fulfilled) == (2, True)
    assert [o.pk for o in d.lectures] == [q1.pk, q3.pk]


def test_a_lecture_counts_only_once_checked(org):
    q1 = lectures(org)[0]
    occ = give_lecture(org, q1, org["m"][0], check=False)
    assert occ.state == State.HELD
    assert duty(org, org["m"][0]).done == 0
    services.record_check(occ, actor=org["checker"], password="pass-12345")
    assert duty(org, org["m"][0]).done == 1


def test_each_committee_member_owes_one_lecture_given_in_any_branch(org):
    leader, deputy = org["leader"], org["deputy"]
    assert (duty(org, leader).owed, duty(org, leader).fulfilled) == (1, False)
    give_lecture(org, lectures(org)[0], leader)  # the 党委 member lectures in 第一党支部, not their own branch
    assert duty(org, leader).fulfilled and "seed 001 三(二)2" in duty(org, leader).source
    assert not duty(org, deputy).fulfilled  # one member's lecture does not discharge another's


def test_lecturer_must_be_on_the_roll(org):
    occ = lectures(org)[0]
    day = occ.period_start + dt.timedelta(days=10)
    services.occurrence_plan(occ, actor=org["sec"], planned_date=day, place="党员活动室", topic="党章学习")
    before = dict(occ.record.elements)
    for bad in (org["outsider"].pk, "张三", 999999):
        with pytest.raises(ValidationError, match="主讲人.*须从本组织名册或上级党委"):
            services.record_save(occ, actor=org["sec"], elements={"lecturer": bad, "content": "讲授"})
    occ.record.refresh_from_db()
    assert occ.record.elements == before  # nothing saved
    # a member of a branch beside this one is not on its roll either (unless on the 党委)
    stranger = factories.member(org["other"], "第二支部党员", start=D(2020, 1, 1))
    with pytest.raises(ValidationError):
        services.record_save(occ, actor=org["sec"], elements={"lecturer": stranger.pk})
    services.record_save(occ, actor=org["sec"], elements={"lecturer": org["leader"].pk})
    occ.record.refresh_from_db()
    assert occ.record.elements["lecturer"] == org["leader"].pk


def test_a_typed_name_is_not_a_lecturer_at_the_check(org):
    """A record whose 主讲人 is not a person from the roll (a name typed in before) is incomplete."""
    occ = lectures(org)[0]
    day = occ.period_start + dt.timedelta(days=10)
    services.occurrence_plan(occ, actor=org["sec"], planned_date=day, place="党员活动室", topic="党章学习")
    services.record_save(occ, actor=org["sec"], elements={"content": "讲授党章总纲"})
    rec = occ.record
    rec.elements = {**rec.elements, "lecturer": "张三"}
    rec.save()
    assert "主讲人" in services.missing_elements(rec)


def test_people_page_shows_who_owes(org, client):
    give_lecture(org, lectures(org)[0], org["m"][0])
    client.force_login(org["checker"])
    page = client.get(f"/work/people/?unit=C&year={YEAR}").content.decode()
    assert "讲党课(按人计数)" in page
    assert "党员0" in page and "还差 1 次" in page and "党委委员甲" in page and "党委副书记乙" in page


# ------------------------------------------------------------------ 民主评议党员: a grade per member

def review_occ(org):
    return Occurrence.objects.get(unit=org["b"], obligation_key="member_democratic_review", period_start__year=YEAR)


def start_review(org):
    occ = review_occ(org)
    day = occ.due_date - dt.timedelta(days=20)
    services.occurrence_plan(occ, actor=org["sec"], planned_date=day, place="党员活动室", topic="民主评议党员")
    services.attendance_save(occ, actor=org["sec"], marks={m.pk: ("present", "") for m in services.attendees_on(occ, day)})
    return occ, day


def all_rows(org, grade="合格", **special):
    return {m.pk: {"self": "对照党章作了党性分析", "mutual": "提出意见建议", "poll": {grade: 5},
                   "grade": special.get(m.name, grade)} for m in org["m"]}


def test_the_grade_vocabulary_is_cited_data(org):
    from workflows.review import rules

    r = rules()
    assert r.grade_labels == ["优秀", "合格", "基本合格", "不合格"]
    assert r.disposal_grades == {"不合格"}
    by_label = {g.label: g.source for g in r.grades}
    assert "seed 001 三(二)4" in by_label["不合格"]
    assert all("本系统默认" in by_label[g] for g in ("优秀", "合格", "基本合格"))  # the seed names only 不合格
    assert r.measure_labels == ["限期改正", "劝其退党", "除名"] and all("党章" in m.source for m in r.measures)


def test_001_59_each_member_needs_a_grade_by_the_committee_or_the_general_meeting(org):
    occ, day = start_review(org)
    rec = occ.record
    assert any(m.startswith("逐人评议结果") and "5 名党员尚无评定意见" in m for m in services.missing_elements(rec))
    rows = all_rows(org)
    rows.pop(org["m"][4].pk)
    services.review_save(occ, actor=org["sec"], decided_by="branch_committee", rows=rows)
    assert any("1 名党员尚无评定意见:党员4" in m for m in services.missing_elements(rec))
    services.review_save(occ, actor=org["sec"], decided_by="branch_committee", rows=all_rows(org))
    assert services.missing_elements(rec) == []
    r = rec.reviews.get(member=org["m"][0])
    assert (r.grade, r.decided_by, r.poll, r.self_review) == ("合格", "branch_committee", {"合格": 5}, "对照党章作了党性分析")
    with pytest.raises(ValidationError, match="支部委员会还是党员大会"):
        services.review_save(occ, actor=org["sec"], decided_by="", rows=all_rows(org))


def test_a_grade_outside_the_set_is_refused_and_nothing_saved(org):
    from qms.models import LedgerEntry
    from workflows.models import MemberReview

    occ, _day = start_review(org)
    entries = LedgerEntry.objects.count()
    for rows, message in ((all_rows(org, 党员2="较差"), "评定意见“较差”不在规定的等次中"),
                          ({**all_rows(org), org["m"][1].pk: {"grade": "合格", "poll": {"良好": 3}}}, "民主测评等次“良好”不在规定的等次中"),
                          ({**all_rows(org), org["m"][1].pk: {"grade": "合格", "poll": {"合格": -2}}}, "票数应为非负整数"),
                          ({**all_rows(org), org["outsider"].pk: {"grade": "合格"}}, "不在本次评议当日的党员名册中")):
        with pytest.raises(ValidationError, match=message):
            services.review_save(occ, actor=org["sec"], decided_by="general_meeting", rows=rows)
    assert MemberReview.objects.count() == 0 and LedgerEntry.objects.count() == entries


def test_unqualified_member_gets_a_disposal_with_its_deadline_tracked_to_completion(org):
    from workflows.models import FollowUpKind

    occ, day = start_review(org)
    services.review_save(occ, actor=org["sec"], decided_by="general_meeting", rows=all_rows(org, 党员3="不合格"))
    services.record_submit(occ, actor=org["sec"], held_on=day)
    rec = occ.record
    disposals = list(rec.followups.filter(kind=FollowUpKind.DISPOSAL))
    assert [(f.owner.name, f.due_date) for f in disposals] == [("党员3", day + dt.timedelta(days=30))]
    assert "组织处置" in disposals[0].text
    services.record_check(occ, actor=org["checker"], password="pass-12345")
    with pytest.raises(ValidationError, match="还有 1 项决议落实、补课或组织处置未完成"):
        services.occurrence_close(occ, actor=org["sec"])
    from workflows.nextstep import occurrence_next_step

    occ.refresh_from_db()
    step = occurrence_next_step(occ)
    assert "督促落实 1 项决议、补课或组织处置(党员3)" in step.what and step.due == day + dt.timedelta(days=30)
    fu = disposals[0]
    with pytest.raises(ValidationError, match="请选择处置方式:限期改正、劝其退党、除名"):
        services.followup_done(fu, actor=org["sec"], done_on=day + dt.timedelta(days=10), outcome="支部大会决定", measure="警告")
    fu.refresh_from_db()
    assert fu.done_on is None
    services.followup_done(fu, actor=org["sec"], done_on=day + dt.timedelta(days=10), outcome="支部大会决定,限期三个月改正",
                           measure="限期改正")
    services.occurrence_close(occ, actor=org["sec"])
    occ.refresh_from_db()
    fu.refresh_from_db()
    assert occ.state == State.CLOSED and fu.measure == "限期改正"


def test_disposal_deadline_is_an_organisation_rule(org):
    from qms.models import PolicyOverride
    from workflows.models import FollowUpKind

    PolicyOverride.objects.create(unit=org["c"], key="review_disposal_days", value=15, source="本党委民主评议实施办法第八条")
    occ, day = start_review(org)
    services.review_save(occ, actor=org["sec"], decided_by="general_meeting", rows=all_rows(org, 党员1="不合格"))
    services.record_submit(occ, actor=org["sec"], held_on=day)
    fu = occ.record.followups.get(kind=FollowUpKind.DISPOSAL)
    assert fu.due_date == day + dt.timedelta(days=15)


def test_the_review_page_offers_the_grades(org, client):
    occ, _day = start_review(org)
    client.force_login(org["sec"])
    page = client.get(f"/work/{occ.pk}/").content.decode()
    assert "逐人评议" in page and "基本合格" in page and "本系统默认" in page
    r = client.post(f"/work/{occ.pk}/grades/", {"decided_by": "general_meeting", f"g_{org['m'][0].pk}_row": "1",
                                                f"g_{org['m'][0].pk}": "不存在的等次"}, follow=True)
    assert "不在规定的等次中" in r.content.decode() and not occ.record.reviews.exists()
    r = client.post(f"/work/{occ.pk}/grades/", {"decided_by": "general_meeting", f"g_{org['m'][0].pk}_row": "1",
                                                f"g_{org['m'][0].pk}": "优秀", f"v_{org['m'][0].pk}_0": "4"}, follow=True)
    assert "已保存评议结果" in r.content.decode()
    assert occ.record.reviews.get().poll == {"优秀": 4}


# ------------------------------------------------------------------ 双重组织生活: leaders at their own branch

def hold_in_other_branch(org, occ, marks_by_member, lecturer):
    day = occ.period_start + dt.timedelta(days=10)
    services.occurrence_plan(occ, actor=None, planned_date=day, place="会议室", topic="党章学习")
    services.record_save(occ, actor=None, elements={"lecturer": lecturer.pk, "content": "讲授"})
    marks = {m.pk: ("present", "") for m in services.attendees_on(occ, day)}
    marks.update({m.pk: v for m, v in marks_by_member.items()})
    services.attendance_save(occ, actor=None, marks=marks)
    services.record_submit(occ, actor=None, held_on=day)
    return occ


def test_participation_counts_match_the_attendance_records(org):
    from qms.models import MemberCategory
    from workflows.models import Attendance

    leader, deputy = org["leader"], org["deputy"]
    activist = factories.member(org["other"], "积极分子丙", category=MemberCategory.ACTIVIST, start=D(2020, 1, 1))
    q = lectures(org, org["other"])
    hold_in_other_branch(org, q[0], {}, deputy)
    hold_in_other_branch(org, q[1], {leader: ("leave", "出差")}, deputy)
    hold_in_other_branch(org, q[2], {leader: ("absent", "未说明")}, deputy)
    hold_in_other_branch(org, q[3], {}, deputy)
    give_lecture(org, lectures(org)[0], leader)  # lecturing in another branch is not their own branch's 组织生活
    rows = {p.member: p for p in people.participation(org["c"], YEAR)}
    p = rows[leader]
    assert (p.due, p.present, p.leave, p.absent, p.unmarked) == (4, 2, 1, 1, 0)
    assert p.percent == 50 and "测试党委组织委员" in p.leader_office and p.unit == org["other"]
    recorded = Attendance.objects.filter(member=leader, record__occurrence__unit=org["other"])
    assert p.present == recorded.filter(presence="present").count() and p.due == recorded.count()
    assert rows[deputy].present == 4 and rows[org["m"][3]].leader_office == ""
    assert rows[org["m"][3]].due == 1  # 党员3 of 第一党支部: the one 党课 held there
    # a branch's page lists only its own members
    assert {p.member for p in people.participation(org["other"], YEAR)} == {leader, deputy}  # 党员 only, not 积极分子
    assert activist not in rows


def test_year_end_report_lists_leaders_below_the_rule_with_its_source(org, client):
    from qms.models import PolicyOverride

    leader, deputy = org["leader"], org["deputy"]
    q = lectures(org, org["other"])
    hold_in_other_branch(org, q[0], {leader: ("absent", "未说明")}, deputy)
    hold_in_other_branch(org, q[1], {}, deputy)
    hold_in_other_branch(org, q[2], {}, deputy)
    hold_in_other_branch(org, q[3], {}, deputy)
    below, threshold, source = people.dual_life_report(org["c"], YEAR)
    assert threshold == 80 and "seed 001 三(二)2" in source and "本系统默认" in source
    assert [(p.member, p.percent) for p in below] == [(leader, 75)]  # 3 of 4 meetings: below 80%; the deputy attended all
    client.force_login(org["checker"])
    page = client.get(f"/work/people/?unit=C&year={YEAR}").content.decode()
    report = page.split("双重组织生活年终通报", 1)[1].split("党员参加组织生活情况", 1)[0]
    assert "党委委员甲" in report and "75%" in report and "党委副书记乙" not in report and "三(二)2" in report
    PolicyOverride.objects.create(unit=org["c"], key="dual_life_min_percent", value=70, source="本党委双重组织生活制度第三条")
    below, threshold, source = people.dual_life_report(org["c"], YEAR)
    assert below == [] and threshold == 70 and source == "本党委双重组织生活制度第三条"
    page = client.get(f"/work/people/?unit=C&year={YEAR}").content.decode()
    assert "没有低于规定的党员领导干部" in page and "本党委双重组织生活制度第三条" in page


def test_an_open_per_unit_lecture_of_an_older_library_is_cancelled_not_missed(org):
    """An installation upgraded from a library that laid the secretary's lectures out per unit:
    the open one of the current period is cancelled with the reason, so it never becomes a gap."""
    from procedures.models import Obligation

    ob = Obligation.objects.get(key="secretary_lecture", version__status="effective", version__document__owner__isnull=True)
    start = D(TODAY.year, 1, 1)
    old = Occurrence.objects.create(unit=org["b"], obligation=ob, obligation_key=ob.key, period_start=start,
                                    period_end=D(TODAY.year, 12, 31), due_date=D(TODAY.year, 12, 31), seq=1)
    schedule(today=TODAY)
    old.refresh_from_db()
    assert old.state == State.CANCELLED and "按人计数" in old.remark
