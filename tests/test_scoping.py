"""Scope: a branch secretary sees only their branch's world — by list, detail, export and
guessed URL (issue 2; reliability.md T10)."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from qms import services
from qms.models import Member, Position, Role, Unit, UnitKind
from qms.scoping import can_manage, restrict, scopes_for
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(tree):
    sec_user = factories.user("sec1")
    sec = tree["m1"][0]
    services.member_update(sec, actor=None, reason="开通账号", user=sec_user)
    services.position_assign(actor=None, member=sec, unit=tree["b1"], title="secretary", start=dt.date(2024, 1, 1))
    plain_user = factories.user("plain1")
    services.member_update(tree["m1"][1], actor=None, reason="开通账号", user=plain_user)
    admin_user = factories.user("admin1")
    services.role_grant(actor=None, user=admin_user, role=Role.ADMIN, unit=tree["committee"], valid_from=dt.date(2020, 1, 1))
    nobody = factories.user("nobody")
    return {"sec": sec_user, "plain": plain_user, "admin": admin_user, "nobody": nobody}


def test_scopes_follow_positions_grants_and_membership(tree, people):
    sec = scopes_for(people["sec"])
    assert [(s.unit_code, s.level, s.can_manage) for s in sec] == [("B1", "officer", True)]
    plain = scopes_for(people["plain"])
    assert [(s.unit_name, s.unit_code, s.level, s.can_manage) for s in plain] == [("第一党支部", "B1", "member", False)]
    assert scopes_for(people["admin"])[0].level == "admin"
    assert scopes_for(people["nobody"]) == []


def test_restrict_lists(tree, people):
    sec_units = set(restrict(people["sec"], Unit.objects.all()).values_list("code", flat=True))
    assert sec_units == {"B1", "B1G1", "B1G2"}
    sec_members = set(restrict(people["sec"], Member.objects.all()))
    assert sec_members == set(tree["m1"])
    admin_units = restrict(people["admin"], Unit.objects.all()).count()
    assert admin_units == Unit.objects.count()
    assert restrict(people["nobody"], Member.objects.all()).count() == 0
    assert can_manage(people["sec"], tree["b1"]) and not can_manage(people["sec"], tree["b2"])
    assert not can_manage(people["plain"], tree["b1"])


def test_expired_position_gives_no_scope(tree, people):
    p = Position.objects.get(member__user=people["sec"])
    services.position_end(p, actor=None, end=dt.date(2024, 6, 30), reason="调离")
    people["sec"].refresh_from_db()
    assert [s.level for s in scopes_for(people["sec"])] == ["member"]


def test_transferred_member_leaves_old_branch_scope(tree, people):
    moved = tree["m1"][3]
    services.member_transfer(moved, actor=None, date=dt.date(2025, 3, 1), to_unit=tree["b2"])
    assert moved not in set(restrict(people["sec"], Member.objects.all()))


def _login(client, user):
    client.force_login(user)
    return client


def test_secretary_cannot_reach_sibling_branch_by_any_route(client, tree, people):
    _login(client, people["sec"])
    m_b2 = tree["m2"][0]
    # lists
    r = client.get(reverse("member_list"))
    assert r.status_code == 200
    body = r.content.decode()
    assert tree["m1"][0].name in body and m_b2.name not in body
    r = client.get(reverse("unit_tree"))
    assert "第二党支部" not in r.content.decode() and "第一党支部" in r.content.decode()
    # list filtered to the sibling explicitly
    r = client.get(reverse("member_list"), {"unit": "B2"})
    assert m_b2.name not in r.content.decode()
    # details by guessed URL
    assert client.get(reverse("unit_detail", args=["B2"])).status_code == 404
    assert client.get(reverse("unit_detail", args=["G"])).status_code == 404
    assert client.get(reverse("member_detail", args=[m_b2.pk])).status_code == 404
    assert client.get(reverse("member_amend", args=[m_b2.pk])).status_code == 404
    assert client.get(reverse("member_transfer", args=[m_b2.pk])).status_code == 404
    assert client.get(reverse("unit_edit", args=["B2"])).status_code == 404
    # export
    r = client.get(reverse("member_export"))
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    names = {row[0] for row in ws.iter_rows(min_row=2, values_only=True)}
    assert names == {m.name for m in tree["m1"]}
    r = client.get(reverse("member_export"), {"unit": "B2"})
    assert load_workbook(io.BytesIO(r.content)).active.max_row == 1  # header only


def test_plain_member_reads_own_branch_but_cannot_change_it(client, tree, people):
    _login(client, people["plain"])
    assert client.get(reverse("unit_detail", args=["B1"])).status_code == 200
    assert client.get(reverse("member_detail", args=[tree["m1"][2].pk])).status_code == 200
    assert client.get(reverse("member_amend", args=[tree["m1"][2].pk])).status_code == 403
    assert client.get(reverse("unit_edit", args=["B1"])).status_code == 403
    assert client.get(reverse("member_detail", args=[tree["m2"][0].pk])).status_code == 404


def test_anonymous_is_sent_to_login(client, tree):
    r = client.get(reverse("member_list"))
    assert r.status_code == 302 and reverse("login") in r["Location"]


def test_ledger_page_is_for_admins_only(client, tree, people):
    _login(client, people["sec"])
    assert client.get(reverse("ledger")).status_code == 403
    client.force_login(people["admin"])
    r = client.get(reverse("ledger"))
    assert r.status_code == 200 and "链头序号" in r.content.decode()


def test_can_see_follows_the_scopes_subtree(tree, people):
    from qms.scoping import can_see

    assert can_see(people["sec"], tree["b1"]) and can_see(people["sec"], tree["g1"])
    assert not can_see(people["sec"], tree["b2"]) and not can_see(people["sec"], tree["general"])
    assert can_see(people["plain"], tree["b1"]) and not can_see(people["plain"], tree["b2"])
    assert can_see(people["admin"], tree["b2"]) and not can_see(people["nobody"], tree["b1"])


@pytest.fixture
def leaders(tree, people):
    """Besides the fixture's B1 secretary (from 2024-01-01) and 体系管理员 over the committee: a
    内审员 over B2 for 2025, the general branch's secretary, a B2 组织委员 from 2024-03-01 to
    2025-06-30 — and people never named: an 外部审核员, a 党小组长, a B2 书记 without a login,
    an administrator whose login is switched off, a plain member."""
    ia = factories.user("ia1")
    services.role_grant(actor=None, user=ia, role=Role.INTERNAL_AUDITOR, unit=tree["b2"],
                        valid_from=dt.date(2025, 1, 1), valid_until=dt.date(2025, 12, 31))
    ext = factories.user("ext1")
    services.role_grant(actor=None, user=ext, role=Role.EXTERNAL_AUDITOR, unit=tree["committee"], valid_from=dt.date(2020, 1, 1))
    gone = factories.user("gone", is_active=False)
    services.role_grant(actor=None, user=gone, role=Role.ADMIN, unit=tree["committee"], valid_from=dt.date(2020, 1, 1))
    for login, member, unit, title, start in (("gsec", tree["m1"][3], tree["general"], "secretary", dt.date(2023, 1, 1)),
                                              ("org2", tree["m2"][0], tree["b2"], "organization", dt.date(2024, 3, 1)),
                                              ("leader", tree["m1"][2], tree["g2"], "group_leader", dt.date(2024, 1, 1)),
                                              (None, tree["m2"][1], tree["b2"], "secretary", dt.date(2024, 1, 1))):
        if login:
            services.member_update(member, actor=None, reason="开通账号", user=factories.user(login))
        p = services.position_assign(actor=None, member=member, unit=unit, title=title, start=start)
        if login == "org2":
            services.position_end(p, actor=None, end=dt.date(2025, 6, 30), reason="调离")
    return people


def _lead(on=None, **kw) -> list[str]:
    from qms.scoping import people_who_may_lead

    return [u.username for u in people_who_may_lead(on, **kw)]


def test_people_who_may_lead_hold_a_grant_or_an_office_on_the_day(tree, leaders):
    assert _lead(dt.date(2025, 6, 1)) == ["admin1", "gsec", "ia1", "org2", "sec1"]  # by login, never anyone else
    # a grant's first and last day, an office's first and last day
    assert _lead(dt.date(2024, 12, 31)) == ["admin1", "gsec", "org2", "sec1"]
    assert _lead(dt.date(2025, 1, 1)) == ["admin1", "gsec", "ia1", "org2", "sec1"]
    assert _lead(dt.date(2025, 6, 30)) == ["admin1", "gsec", "ia1", "org2", "sec1"]
    assert _lead(dt.date(2025, 7, 1)) == ["admin1", "gsec", "ia1", "sec1"]
    assert _lead(dt.date(2025, 12, 31)) == ["admin1", "gsec", "ia1", "sec1"]
    assert _lead(dt.date(2026, 1, 1)) == ["admin1", "gsec", "sec1"]
    assert _lead(dt.date(2024, 2, 29)) == ["admin1", "gsec", "sec1"]
    assert _lead(dt.date(2024, 3, 1)) == ["admin1", "gsec", "org2", "sec1"]
    assert _lead(dt.date(2023, 12, 31)) == ["admin1", "gsec"]
    assert _lead(dt.date(2022, 12, 31)) == ["admin1"]
    assert _lead() == _lead(timezone.localdate())


def test_people_who_may_lead_are_named_only_in_line_with_the_viewer(tree, leaders):
    day = dt.date(2025, 6, 1)
    # B1's secretary and member: their own unit, the units above (总支, 党委) — not the sibling B2
    assert _lead(day, seen_by=leaders["sec"]) == ["admin1", "gsec", "sec1"]
    assert _lead(day, seen_by=leaders["plain"]) == ["admin1", "gsec", "sec1"]
    # the committee's administrator: everything below
    assert _lead(day, seen_by=leaders["admin"]) == ["admin1", "gsec", "ia1", "org2", "sec1"]
    # the 总支's secretary: the 总支, both branches below it and the committee above
    from django.contrib.auth import get_user_model

    gsec = get_user_model().objects.get(username="gsec")
    assert _lead(day, seen_by=gsec) == ["admin1", "gsec", "ia1", "org2", "sec1"]
    # somebody with several scopes sees in line with each: a B1 member who is also 内审员 over B2
    # (named now too, by that grant) sees B2's officers and B1's secretary alike
    services.role_grant(actor=None, user=leaders["plain"], role=Role.INTERNAL_AUDITOR, unit=tree["b2"],
                        valid_from=dt.date(2020, 1, 1))
    plain = type(leaders["plain"]).objects.get(pk=leaders["plain"].pk)  # scopes are cached per login object
    assert [s.unit_code for s in scopes_for(plain)] == ["B2", "B1"]
    assert _lead(day, seen_by=plain) == ["admin1", "gsec", "ia1", "org2", "plain1", "sec1"]
    # somebody with no scope at all is shown nobody
    assert _lead(day, seen_by=leaders["nobody"]) == []


def test_managing_narrows_what_is_seen_to_what_is_managed(tree, people):
    """``restrict(manage=True)``: a 党员 sees their branch but manages nothing; a secretary who is
    also 内审员 over B2 sees both branches and manages only B1."""
    from qms.scoping import _paths

    assert restrict(people["plain"], Unit.objects.all(), manage=True).count() == 0
    assert restrict(people["plain"], Unit.objects.all()).count() == 3  # B1 and its two groups
    services.role_grant(actor=None, user=people["sec"], role=Role.INTERNAL_AUDITOR, unit=tree["b2"], valid_from=dt.date(2020, 1, 1))
    sec = type(people["sec"]).objects.get(pk=people["sec"].pk)
    assert set(restrict(sec, Unit.objects.all()).values_list("code", flat=True)) == {"B1", "B1G1", "B1G2", "B2"}
    assert set(restrict(sec, Unit.objects.all(), manage=True).values_list("code", flat=True)) == {"B1", "B1G1", "B1G2"}
    # one condition per subtree: a path inside another listed one is dropped
    scopes = scopes_for(sec)
    assert _paths(scopes) == sorted([tree["b1"].path, tree["b2"].path])
    assert _paths(scopes, manage_only=True) == [tree["b1"].path]
    from qms.scoping import Scope

    nested = [Scope(tree["general"].pk, "", "G", tree["general"].path, "officer", True),
              Scope(tree["b1"].pk, "", "B1", tree["b1"].path, "officer", True)]
    assert _paths(nested) == [tree["general"].path]


def test_a_model_without_a_scope_cannot_be_restricted_by_mistake(people):
    from qms.models import LedgerEntry

    with pytest.raises(TypeError) as refused:
        restrict(people["admin"], LedgerEntry.objects.all())
    assert str(refused.value) == "LedgerEntry 未声明 scope_unit_lookup,不能按权限范围过滤"


def test_one_object_out_of_scope_is_not_found_and_its_existence_not_disclosed(tree, people):
    from django.http import Http404

    from qms.scoping import get_visible_or_404

    assert get_visible_or_404(people["sec"], Unit, pk=tree["b1"].pk) == tree["b1"]
    assert get_visible_or_404(people["sec"], Unit.objects.filter(code="B1"), pk=tree["b1"].pk) == tree["b1"]
    for lookup in ({"pk": tree["b2"].pk}, {"pk": 999999}, {"pk": "不是数字"}):
        with pytest.raises(Http404) as hidden:
            get_visible_or_404(people["sec"], Unit, **lookup)
        assert str(hidden.value) == "无权访问或对象不存在"


def test_the_unit_switcher_keeps_a_chosen_scope_and_falls_back_to_the_first(tree, people, rf):
    from django.contrib.auth.models import AnonymousUser

    from qms.scoping import SESSION_KEY, current_scope

    services.role_grant(actor=None, user=people["sec"], role=Role.INTERNAL_AUDITOR, unit=tree["b2"], valid_from=dt.date(2020, 1, 1))
    request = rf.get("/")
    request.user, request.session = type(people["sec"]).objects.get(pk=people["sec"].pk), {}
    assert current_scope(request).unit_code == "B1"  # nothing chosen: the first (strongest)
    request.session[SESSION_KEY] = tree["b2"].pk
    assert current_scope(request).unit_code == "B2"
    request.session[SESSION_KEY] = tree["committee"].pk  # not one of theirs: the first again
    assert current_scope(request).unit_code == "B1"
    request.user = AnonymousUser()
    assert current_scope(request) is None


def test_every_page_knows_the_persons_scopes_and_the_one_chosen_in_the_switcher(tree, people, client):
    """Through the middleware, as a person uses it: the 书记 of 第一党支部, also 内审员 of
    第二党支部, sees both in the switcher, the first chosen; choosing the other is kept for the
    next pages; the 组织架构 page offers 新建党组织 only to one who manages a unit."""
    import re

    services.role_grant(actor=None, user=people["sec"], role=Role.INTERNAL_AUDITOR, unit=tree["b2"], valid_from=dt.date(2020, 1, 1))
    client.force_login(people["sec"])

    def chosen() -> list[str]:
        page = client.get(reverse("home")).content.decode()
        return re.findall(r'<option value="(\d+)" selected>', page)

    assert chosen() == [str(tree["b1"].pk)]
    assert "新建党组织" in client.get(reverse("unit_tree")).content.decode()
    client.post(reverse("scope_switch"), {"unit": tree["b2"].pk})
    assert chosen() == [str(tree["b2"].pk)]
    client.force_login(people["plain"])
    assert "新建党组织" not in client.get(reverse("unit_tree")).content.decode()


def test_a_superuser_administers_every_top_unit(tree, people):
    other = factories.unit("X", UnitKind.COMMITTEE, name="另一党委")
    root = factories.user("root", is_superuser=True)
    assert [(s.unit_id, s.unit_name, s.unit_code, s.path, s.level, s.can_manage) for s in scopes_for(root)] == [
        (u.pk, u.name, u.code, u.path, "admin", True) for u in sorted((tree["committee"], other), key=lambda u: u.path)]


def test_a_persons_scopes_today_are_read_once_and_another_days_are_not_taken_from_them(tree, people, django_assert_num_queries):
    sec = people["sec"]
    assert [s.level for s in scopes_for(sec)] == ["officer"]
    with django_assert_num_queries(0):
        assert [s.level for s in scopes_for(sec)] == ["officer"]
    # before the position began (2024-01-01) the 书记 was a plain 党员 of the branch
    assert [(s.unit_code, s.level) for s in scopes_for(sec, on=dt.date(2023, 6, 1))] == [("B1", "member")]
    assert [s.level for s in scopes_for(sec)] == ["officer"]


def test_only_what_holds_today_gives_a_scope_named_strongest_first_and_nothing_inside_a_wider_one(tree, people):
    """A 党员 of 第一党支部 who leads one of its 党小组 (not a committee post), becomes its 副书记
    and a 体系管理员 of 第二党支部 only next month, and is 内审员 of 第一党支部 and 外部审核员
    of the 党委 now: the 内审员 scope comes first, then the 外部审核员 one; the person's own
    branch is inside the 党委 they already see, so it is not listed again."""
    today = timezone.localdate()
    person = tree["m1"][2]
    user = factories.user("mixed")
    services.member_update(person, actor=None, reason="开通账号", user=user)
    services.position_assign(actor=None, member=person, unit=tree["g2"], title="group_leader", start=dt.date(2024, 1, 1))
    services.position_assign(actor=None, member=person, unit=tree["b1"], title="deputy_secretary", start=today + dt.timedelta(days=30))
    for role, unit, start in ((Role.EXTERNAL_AUDITOR, tree["committee"], dt.date(2020, 1, 1)),
                              (Role.INTERNAL_AUDITOR, tree["b1"], dt.date(2020, 1, 1)),
                              (Role.ADMIN, tree["b2"], today + dt.timedelta(days=30))):
        services.role_grant(actor=None, user=user, role=role, unit=unit, valid_from=start)
    assert [(s.unit_id, s.unit_name, s.unit_code, s.level, s.can_manage) for s in scopes_for(user)] == [
        (tree["b1"].pk, "第一党支部", "B1", "internal_auditor", False),
        (tree["committee"].pk, "测试党委", "C", "external_auditor", False),
    ]
    later = [(s.unit_name, s.level) for s in scopes_for(user, on=today + dt.timedelta(days=30))]
    assert later == [("第二党支部", "admin"), ("第一党支部", "officer"), ("测试党委", "external_auditor")]


def test_scopes_cost_the_same_queries_for_many_grants_and_posts_as_for_one(tree, people):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def cost(user) -> int:
        fresh = type(user).objects.get(pk=user.pk)  # nothing cached on it
        with CaptureQueriesContext(connection) as queries:
            scopes_for(fresh)
        return len(queries)

    many = people["sec"]
    for role, unit in ((Role.INTERNAL_AUDITOR, tree["b2"]), (Role.EXTERNAL_AUDITOR, tree["general"]), (Role.ADMIN, tree["g2"])):
        services.role_grant(actor=None, user=many, role=role, unit=unit, valid_from=dt.date(2020, 1, 1))
    services.position_assign(actor=None, member=tree["m1"][0], unit=tree["general"], title="committee_member", start=dt.date(2024, 1, 1))
    one = factories.user("one")
    services.member_update(tree["m2"][1], actor=None, reason="开通账号", user=one)
    services.position_assign(actor=None, member=tree["m2"][1], unit=tree["b2"], title="secretary", start=dt.date(2024, 1, 1))
    services.role_grant(actor=None, user=one, role=Role.INTERNAL_AUDITOR, unit=tree["b1"], valid_from=dt.date(2020, 1, 1))
    assert (many.role_grants.count(), Position.objects.filter(member__user=many).count()) == (3, 2)  # 3 grants, 2 posts
    assert cost(many) == cost(one)


def test_the_stronger_scope_comes_first_even_when_it_is_the_narrower(tree, people):
    """A 委员 of the 党委 who is also 体系管理员 of 第一党支部: the administrator's scope first,
    the 委员's wider one kept after it. A 党员 of 第一党支部 who is 外部审核员 of its 第一党小组:
    the auditor's scope first, the branch after it."""
    committee_member = factories.user("weiyuan")
    services.member_update(tree["m1"][3], actor=None, reason="开通账号", user=committee_member)
    services.position_assign(actor=None, member=tree["m1"][3], unit=tree["committee"], title="committee_member",
                             start=dt.date(2024, 1, 1))
    services.role_grant(actor=None, user=committee_member, role=Role.ADMIN, unit=tree["b1"], valid_from=dt.date(2020, 1, 1))
    assert [(s.unit_code, s.level) for s in scopes_for(committee_member)] == [("B1", "admin"), ("C", "officer")]
    services.role_grant(actor=None, user=people["plain"], role=Role.EXTERNAL_AUDITOR, unit=tree["g1"], valid_from=dt.date(2020, 1, 1))
    assert [(s.unit_code, s.level) for s in scopes_for(people["plain"])] == [("B1G1", "external_auditor"), ("B1", "member")]
