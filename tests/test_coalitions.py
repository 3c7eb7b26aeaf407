"""联系组、协作组与联系点 (seed 002 二/四; seed 003 一2): groups of units across the tree with their
rules, 联席会议 recorded by the committee or the group's 组长, the group's activities against its
yearly number period by period, 联系点 with their tasks and summaries; refusals in Chinese, nothing
saved; the pages."""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from qms import ledger
from qms import services as core
from qms.models import Role, UnitKind
from qms.permissions import NotPermitted
from tests import factories
from workflows import coalitions
from workflows.models import Coalition, CoalitionMeeting

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
D = dt.date


@pytest.fixture
def org():
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    z = factories.unit("Z", UnitKind.GENERAL_BRANCH, parent=c, name="生产党总支")
    bs = [factories.unit(f"B{i}", UnitKind.BRANCH, parent=z if i < 3 else c, name=f"第{i}党支部") for i in range(1, 6)]
    g = factories.unit("B1-G1", UnitKind.GROUP, parent=bs[0], name="第一党小组")
    other = factories.unit("X", UnitKind.COMMITTEE, name="外单位党委")
    admin, sec_c, leader_user, sec_b5 = (factories.user(n) for n in ("admin", "sec_c", "leader", "sec_b5"))
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=c, valid_from=D(2020, 1, 1))
    csec = factories.member(bs[3], "党委书记")
    core.member_update(csec, actor=None, reason="账号", user=sec_c)
    core.position_assign(actor=None, member=csec, unit=c, title="secretary", start=D(2020, 1, 1), past_term=True)
    leader = factories.member(bs[0], "组长甲")
    core.member_update(leader, actor=None, reason="账号", user=leader_user)
    b5sec = factories.member(bs[4], "五支书记")
    core.member_update(b5sec, actor=None, reason="账号", user=sec_b5)
    core.position_assign(actor=None, member=b5sec, unit=bs[4], title="secretary", start=D(2020, 1, 1), past_term=True)
    return {"c": c, "z": z, "bs": bs, "g": g, "other": other, "admin": admin, "sec_c": sec_c, "leader": leader,
            "leader_user": leader_user, "csec": csec, "sec_b5": sec_b5}


def _group(org, **kw):
    args = dict(actor=org["sec_c"], root=org["c"], kind="liaison", name="生产联系组", basis="行政业务工作性质相近",
                units=org["bs"][:3], lead_unit=org["bs"][0], leader=org["leader"], content="交流党建与生产融合的做法",
                form="联席会议、交流观摩")
    return coalitions.coalition_create(**{**args, **kw})


def test_a_group_is_set_up_with_its_rules_and_the_default_number_of_activities(org):
    c = _group(org)
    assert c.meetings_per_year == 4 and c.meetings_source.startswith("seed 002 二")
    assert set(c.units.values_list("code", flat=True)) == {"B1", "B2", "B3"}
    assert ledger.head() is not None
    own = _group(org, kind="cooperation", name="协作一组", units=org["bs"][3:], lead_unit=org["bs"][3], leader=None,
                 meetings_per_year=2, meetings_source="本党委协作组工作办法第三条")
    assert own.meetings_per_year == 2 and own.get_kind_display() == "协作组"


@pytest.mark.parametrize(("change", "message"), [
    ({"units": []}, "请选择成员单位"),
    ({"units": "outside"}, "不是“测试党委”的下级组织"),
    ({"units": "group"}, "不能作为成员单位"),
    ({"lead_unit": "B5"}, "组长单位应是成员单位之一"),
    ({"content": ""}, "请填写主要内容"),
    ({"meetings_per_year": 6}, "另定活动次数时请写明依据"),
    ({"meetings_per_year": 20, "meetings_source": "x"}, "每年活动次数应在 1 至 12 之间"),
])
def test_bad_groups_are_refused_with_nothing_saved(org, change, message):
    resolved = {}
    for k, v in change.items():
        if v == "outside":
            v = [org["other"]]
        elif v == "group":
            v = [org["bs"][0], org["g"]]
        elif v == "B5":
            v = org["bs"][4]
        resolved[k] = v
    with pytest.raises(ValidationError, match=message):
        _group(org, **resolved)
    assert Coalition.objects.count() == 0


def test_a_unit_is_in_one_group_of_each_kind(org):
    _group(org)
    with pytest.raises(ValidationError, match="每个单位只编入一个联系组:第2党支部"):
        _group(org, name="另一组", units=org["bs"][1:4], lead_unit=org["bs"][3])
    _group(org, kind="cooperation", name="协作组", units=org["bs"][1:4], lead_unit=org["bs"][3])  # another kind: fine


def test_only_the_committee_sets_up_a_group(org):
    with pytest.raises(NotPermitted):
        _group(org, actor=org["sec_b5"])


def test_the_leader_records_activities_and_the_year_is_counted_period_by_period(org):
    c = _group(org)
    year = TODAY.year
    first_q = D(year, 2, 10) if D(year, 3, 31) < TODAY else TODAY
    coalitions.meeting_record(c, actor=org["leader_user"], held_on=first_q, topic="融合经验交流", place="一号会议室",
                              units_present=org["bs"][:3], attendance=12, minutes="各支部交流做法,议定下季度联合主题党日")
    with pytest.raises(NotPermitted):  # a branch secretary outside the group's leadership
        coalitions.meeting_record(c, actor=org["sec_b5"], held_on=first_q, topic="x", place="x",
                                  units_present=org["bs"][:1], attendance=3, minutes="x")
    with pytest.raises(ValidationError, match="第5党支部 不是“生产联系组”的成员单位"):
        coalitions.meeting_record(c, actor=org["sec_c"], held_on=first_q, topic="x", place="x",
                                  units_present=[org["bs"][4]], attendance=3, minutes="x")
    with pytest.raises(ValidationError, match="日期不能晚于今天"):
        coalitions.meeting_record(c, actor=org["sec_c"], held_on=TODAY + dt.timedelta(days=1), topic="x", place="x",
                                  units_present=org["bs"][:1], attendance=3, minutes="x")
    assert CoalitionMeeting.objects.count() == 1
    ps = coalitions.periods(c, year, today=D(year, 12, 31))
    assert [p.status for p in ps] == ["on_time", "missed", "missed", "open"]
    ps = coalitions.periods(c, year, today=D(year, 5, 1))
    assert [p.status for p in ps] == ["on_time", "open", "not_due", "not_due"]
    line = coalitions.compliance(org["c"], year, today=D(year, 12, 31))[0]
    assert (line.done, line.due) == (1, 3)


def test_a_liaison_point_gets_a_theme_and_tasks_and_its_summary(org):
    p = coalitions.point_create(actor=org["sec_c"], root=org["c"], unit=org["bs"][1], leader=org["csec"],
                                theme="党建与业务融合", tasks="形成可推广的做法", due_on=D(TODAY.year, 12, 31))
    with pytest.raises(ValidationError, match="不是“测试党委”的班子成员"):
        coalitions.point_create(actor=org["sec_c"], root=org["c"], unit=org["bs"][2], leader=org["leader"],
                                theme="x", tasks="x", due_on=TODAY)
    p = coalitions.point_summarise(p, actor=org["sec_c"], summary="“党建+生产”清单制")
    assert p.summarized_on == TODAY
    with pytest.raises(ValidationError, match="已总结"):
        coalitions.point_summarise(p, actor=org["sec_c"], summary="再")


def test_the_pages(client, org):
    from tests.test_crawl import foreign_words

    c = _group(org)
    client.force_login(org["sec_c"])
    body = client.get("/work/coalitions/").content.decode()
    assert "生产联系组" in body and "设立联系组或协作组" in body and foreign_words(body) == set()
    r = client.post(f"/work/coalitions/{c.pk}/", {"held_on": TODAY.isoformat(), "topic": "季度联席会议", "place": "会议室",
                                                  "units_present": [u.pk for u in org["bs"][:2]], "attendance": "9",
                                                  "minutes": "议定事项"}, follow=True)
    body = r.content.decode()
    assert "已登记活动" in body and "季度联席会议" in body and foreign_words(body) == set()
    client.force_login(org["leader_user"])  # the 组长, a plain member of 第1党支部: their group's page and its form
    assert "登记活动" in client.get(f"/work/coalitions/{c.pk}/").content.decode()
    client.force_login(org["sec_b5"])  # someone else below the committee: not found
    assert client.get(f"/work/coalitions/{c.pk}/").status_code == 404


def test_the_demo_has_two_liaison_groups_and_a_cooperation_group():
    import io

    from django.core.management import call_command

    from qms.models import Unit
    from workflows.coalition_demo import coalition_step

    call_command("demo", "--no-history", stdout=io.StringIO())
    root = Unit.objects.get(code="HX")
    summary = coalition_step(root, None)
    kinds = sorted(Coalition.objects.values_list("kind", flat=True))
    assert kinds == ["cooperation", "liaison", "liaison"], summary
    assert CoalitionMeeting.objects.exists()
    lines = coalitions.compliance(root, TODAY.year)
    assert len(lines) == 3
    assert coalition_step(root, None).startswith("联系组:已有")


def test_the_cooperation_groups_leader_scores_its_units(client, org):
    """统一考核验收 (seed 003 一2): the 协作组's 组长 scores its member units on the committee's scheme,
    never a unit outside the group nor his or her own (回避)."""
    from decimal import Decimal

    from audits.performance import scoring
    from audits.performance.models import Score
    from procedures.library_loader import load_library

    load_library()
    coop = _group(org, kind="cooperation", name="协作一组", units=org["bs"][:3], lead_unit=org["bs"][0])
    scheme = scoring.scheme_seed(org["c"], TODAY.year, actor=org["sec_c"])
    item = scheme.items.filter(indicator="").first()
    s = scoring.score_enter(item, org["bs"][1], "Y", actor=org["leader_user"], value=Decimal(10), note="验收:资料齐全")
    assert s.entered_by == org["leader_user"]
    with pytest.raises(NotPermitted, match="回避"):  # the 组长 belongs to 第1党支部
        scoring.score_enter(item, org["bs"][0], "Y", actor=org["leader_user"], value=Decimal(10), note="x")
    with pytest.raises(NotPermitted):  # 第5党支部 is not in the group
        scoring.score_enter(item, org["bs"][4], "Y", actor=org["leader_user"], value=Decimal(10), note="x")
    client.force_login(org["leader_user"])
    page = client.get(f"/work/coalitions/{coop.pk}/").content.decode()
    assert "统一考核验收" in page
    body = client.get(f"/audits/scoring/cooperation/{coop.pk}/").content.decode()
    assert "第2党支部" in body and "验收:资料齐全" in body
    client.post(f"/audits/scoring/cooperation/{coop.pk}/", {"unit": org["bs"][2].pk, "item": item.pk, "value": "8",
                                                           "note": "验收:记录不全", "period": "Y"})
    assert Score.objects.get(unit=org["bs"][2], item=item).value == Decimal(8)
    client.force_login(org["sec_b5"])
    assert client.get(f"/audits/scoring/cooperation/{coop.pk}/").status_code == 404
