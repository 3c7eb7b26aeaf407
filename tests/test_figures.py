"""Numbers that agree: a unit's 党员人数 is one function (``qms.figures``) rolled up the tree and
shown alike on the tree, the home page, the unit page, the evidence pack and the management
review; 平均关闭天数 is written alike everywhere; 逾期 only past the due date."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from qms import services as core
from qms.figures import member_count, member_counts
from qms.models import MemberCategory, Notification, Role, Unit, UnitKind
from tests import factories

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


@pytest.fixture
def org(db):
    """The small tree, plus people who are on the roster but are not (or no longer) counted: an
    入党积极分子 and a 发展对象 in 第一党支部, a member who transferred out of 第二党支部; and a
    预备党员 in 第二党支部, who is."""
    t = factories.small_tree()
    factories.member(t["b1"], "积极分子甲", category=MemberCategory.ACTIVIST, group=t["g1"])
    factories.member(t["b1"], "发展对象乙", category=MemberCategory.CANDIDATE)
    gone = factories.member(t["b2"], "已转出丙")
    core.member_transfer(gone, actor=None, date=TODAY - dt.timedelta(days=3), to_unit=None, note="转出")
    factories.member(t["b2"], "预备丁", category=MemberCategory.PROBATIONARY)
    t["sec"] = factories.user("sec-b1")
    core.member_update(t["m1"][0], actor=None, reason="账号", user=t["sec"])
    core.position_assign(actor=None, member=t["m1"][0], unit=t["b1"], title="secretary", start=dt.date(2024, 1, 1))
    t["admin"] = factories.user("admin")
    core.role_grant(actor=None, user=t["admin"], role=Role.ADMIN, unit=t["committee"], valid_from=dt.date(2020, 1, 1))
    return t


def _tree_counts(client) -> dict[str, int]:
    html = client.get(reverse("unit_tree")).content.decode()
    rows = re.findall(r'<a href="/units/([^/]+)/">[^<]*</a></td>\s*<td>[^<]*</td><td>[^<]*</td><td>(\d+)</td>', html)
    return {code: int(n) for code, n in rows}


def test_counts_roll_up_the_tree_and_a_group_counts_its_assigned_members(org):
    counts = member_counts(Unit.objects.all())
    by_code = {u.code: counts[u.pk].total for u in Unit.objects.all()}
    # 第一党支部: 4 正式 (the activist and candidate are not party members); 第二: 3 正式 + 1 预备 (one
    # transferred out)
    assert by_code["B1"] == 4 and by_code["B2"] == 4
    assert by_code["B1G1"] == 2 and by_code["B1G2"] == 2  # assigned to each group; the activist is not counted
    assert by_code["G"] == by_code["B1"] + by_code["B2"]
    assert by_code["C"] == by_code["G"]  # the 党委's number is the sum of its subtree
    assert member_count(org["general"]).full == 7 and member_count(org["general"]).probationary == 1


def test_the_tree_shows_the_rolled_up_numbers(client, org):
    client.force_login(org["admin"])
    shown = _tree_counts(client)
    assert shown["C"] == shown["G"] == 8, shown
    assert shown["G"] == shown["B1"] + shown["B2"]
    assert shown["B1G1"] == 2 and shown["B1G2"] == 2
    assert shown["C"] != 0 and shown["B1G1"] != 0


def test_the_same_branch_shows_the_same_number_on_every_page_and_in_the_pack(client, org, tmp_path):
    from audits.evidence.builder import build_pack

    b1 = org["b1"]
    expected = member_count(b1).total
    assert expected == 4
    client.force_login(org["sec"])
    home = client.get(reverse("home")).content.decode()
    assert re.search(rf'<div class="n">{expected}</div><div class="l">党员\(正式 4\)', home), home[:2000]
    unit_page = client.get(reverse("unit_detail", args=[b1.code])).content.decode()
    assert re.search(rf'<div class="n">{expected}</div><div class="l">党员\(正式 4', unit_page)
    client.force_login(org["admin"])
    assert _tree_counts(client)["B1"] == expected

    html: list[str] = []
    build_pack(b1, dt.date(TODAY.year, 1, 1), TODAY, out_dir=tmp_path / "pack", generated_by="测试", keep_html=html,
               processes=1)
    scope = next(h for h in html if "党组织构成" in h)
    assert f"有党员 {expected} 人" in scope
    row = re.search(r"<td>B1</td><td[^>]*>第一党支部</td><td>[^<]*</td><td>(\d+)</td>", scope)
    assert row and int(row.group(1)) == expected


def test_the_committee_in_the_pack_and_the_review_equals_its_subtree(client, org, tmp_path):
    from audits.review import services as review

    c = org["committee"]
    inputs = review.review_inputs(c, TODAY.year)
    assert inputs["members"]["total"] == member_count(c).total == 8
    client.force_login(org["admin"])
    assert _tree_counts(client)["C"] == inputs["members"]["total"]


# ------------------------------------------------------------------------ 平均关闭天数


def _closed_same_day(org):
    from audits.capa import services as capa

    nc = capa.nc_raise(actor=org["admin"], unit=org["b1"], source="spot_check", grade="minor", clause="DJ-CX-01",
                       requirement="签到表应由本人签名", evidence="代签")
    capa.nc_acknowledge(nc, actor=org["sec"])
    capa.nc_analyse(nc, actor=org["sec"], why=["为什么"], root_cause="未准备")
    capa.nc_plan(nc, actor=org["sec"], correction="重签", corrective_action="会前打印", owner=org["m1"][1],
                 due_date=TODAY + dt.timedelta(days=7))
    capa.nc_implement(nc, actor=org["sec"], evidence="已重签", done_on=TODAY)
    capa.nc_verify(nc, actor=org["admin"], note="属实", password="pass-12345")
    capa.nc_close(nc, actor=org["admin"], password="pass-12345")
    return nc


def test_mean_days_to_close_reads_the_same_on_home_register_and_review(client, org):
    from audits.capa.services import close_days_text
    from audits.review import services as review

    assert close_days_text(None) == "—(无已关闭)" and close_days_text(0.0) == "0.0 天"
    client.force_login(org["admin"])
    r = review.review_plan(actor=org["admin"], root=org["committee"], year=TODAY.year, planned_on=TODAY, chair=org["admin"])
    review.review_gather(r, actor=org["admin"])
    page = client.get(reverse("review_detail", args=[r.pk])).content.decode()
    assert "平均关闭 —(无已关闭)" in page

    _closed_same_day(org)  # closed the day it was raised: 0.0 days, a real figure
    review.review_gather(r, actor=org["admin"])
    home = client.get(reverse("home")).content.decode()
    register = client.get(reverse("nc_register")).content.decode()
    page = client.get(reverse("review_detail", args=[r.pk])).content.decode()
    assert "平均关闭 0.0 天" in home
    assert "平均关闭 0.0 天" in page
    assert '<div class="n">0.0 天</div><div class="l">平均关闭天数</div>' in register


# ---------------------------------------------------------------------------------- 逾期


def test_a_new_ticket_is_not_called_overdue(client, org):
    from audits.capa import services as capa

    capa.nc_raise(actor=org["admin"], unit=org["b1"], source="spot_check", grade="minor", clause="DJ-CX-01",
                  requirement="签到表应由本人签名", evidence="代签")
    n = Notification.objects.get(user=org["sec"])
    assert n.get_level_display() != "逾期"
    client.force_login(org["sec"])
    page = client.get(reverse("notifications")).content.decode()
    assert "不符合项" in page and "逾期" not in page


def test_reminders_say_overdue_only_after_the_due_date(org):
    from procedures.library_loader import load_library
    from workflows.models import Occurrence, State
    from workflows.reminders import send_reminders
    from workflows.scheduler import schedule

    load_library()
    schedule(today=TODAY)
    occ = (Occurrence.objects.filter(unit=org["b1"], state__in=[State.OPEN, State.PLANNED])
           .exclude(obligation__responsible="group_leader").order_by("due_date").first())
    send_reminders(today=occ.due_date)
    on_the_day = Notification.objects.get(user=org["sec"], key=f"occ:{occ.pk}:d0")
    assert on_the_day.get_level_display() != "逾期" and "逾期" not in on_the_day.title
    send_reminders(today=occ.due_date + dt.timedelta(days=1))
    late = Notification.objects.get(user=org["sec"], key=f"occ:{occ.pk}:overdue")
    assert late.get_level_display() == "逾期"


def test_a_branch_of_a_joint_kind_counts_like_a_branch(org):
    """联合党支部 members count the same way (no kind is special but the 党小组)."""
    j = factories.unit("J1", UnitKind.JOINT_BRANCH, parent=org["committee"], name="联合党支部")
    factories.member(j, "联合甲")
    assert member_count(j).total == 1 and member_count(org["committee"]).total == 9
