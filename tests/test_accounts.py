"""账号: managers open logins for the members they manage, reset passwords (changed at the next
login), disable and enable logins, grant and end roles with dates; a login is disabled with its
member's transfer out, death or removal; 我的账号 for everyone; no password in the ledger."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from qms import accounts, ledger, permissions
from qms import services as core
from qms.models import LedgerEntry, Member, Role, RoleGrant
from qms.scoping import scopes_for
from tests import factories
from tests.test_permissions import NAMES, org  # noqa: F401  (a committee, two branches, every role)
from workflows import dues

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
SECRET = re.compile(r'<code class="secret">([^<]+)</code>')


def _member_of(user) -> Member:
    return Member.objects.get(user=user)


def _open_login(client, manager, member, username="xindangyuan", password=""):
    client.force_login(manager)
    r = client.post(f"/accounts/members/{member.pk}/create/", {"username": username, "password": password})
    assert r.status_code == 200, r.content.decode()[:500]
    assert r["Cache-Control"] == "no-store"
    return SECRET.search(r.content.decode()).group(1)


def _change_password(client, old, new="Lvse-Shan-2026"):
    return client.post("/account/", {"old_password": old, "new_password1": new, "new_password2": new})


def test_a_secretary_opens_a_login_for_a_member_who_signs_in_and_must_change_the_password(org, client):  # noqa: F811
    m = factories.member(org["b1"], "新党员")
    password = _open_login(client, org["sec_b1"], m)
    m.refresh_from_db()
    assert m.user is not None and m.user.get_username() == "xindangyuan" and len(password) == accounts.PASSWORD_LENGTH
    client.logout()
    assert client.login(username="xindangyuan", password=password)
    r = client.get("/")
    assert r.status_code == 302 and r["Location"] == "/account/"  # nothing else until the password is changed
    assert client.get("/members/").status_code == 302
    page = client.get("/account/").content.decode()
    assert "请先修改密码" in page and "新党员" in page and "第一党支部" in page
    r = _change_password(client, "wrong-one")
    assert r.status_code == 200 and "旧密码不正确" in r.content.decode()  # Django's validation, in Chinese
    r = _change_password(client, password, new="12345678")
    assert r.status_code == 200 and "密码" in r.content.decode() and "常见" in r.content.decode()
    r = _change_password(client, password)
    assert r.status_code == 302
    assert client.get("/").status_code == 200  # the same session goes on
    client.logout()
    assert client.login(username="xindangyuan", password="Lvse-Shan-2026")
    assert client.get("/").status_code == 200
    actions = list(LedgerEntry.objects.filter(obj_type="auth.user", obj_id=str(m.user_id)).values_list("action", flat=True))
    assert actions == ["account.create", "account.change_password"]
    assert ledger.verify().ok


def test_a_password_typed_by_the_manager_is_checked_and_must_be_changed_too(org, client):  # noqa: F811
    m = factories.member(org["b1"], "李四")
    client.force_login(org["admin"])
    r = client.post(f"/accounts/members/{m.pk}/create/", {"username": "lisi", "password": "123"})
    assert r.status_code == 200 and "密码太短" in r.content.decode() and Member.objects.get(pk=m.pk).user is None
    r = client.post(f"/accounts/members/{m.pk}/create/", {"username": "member", "password": ""})
    assert "已被使用" in r.content.decode()
    assert _open_login(client, org["admin"], m, username="lisi", password="Hong-Qi-Piao-9") == "Hong-Qi-Piao-9"
    assert accounts.must_change_password(get_user_model().objects.get(username="lisi"))


def test_out_of_scope_members_are_not_found_and_their_names_never_shown(org, client):  # noqa: F811
    m = factories.member(org["b1"], "一支部的人")
    head = ledger.head()
    client.force_login(org["sec_b2"])  # a sibling branch's secretary
    assert client.get(f"/accounts/members/{m.pk}/").status_code == 404
    for url in (f"/accounts/members/{m.pk}/create/", f"/accounts/logins/{org['member'].pk}/reset/",
                f"/accounts/logins/{org['member'].pk}/disable/", f"/accounts/members/{m.pk}/grant/"):
        r = client.post(url, {"username": "abc", "reason": "x"})
        assert r.status_code == 404, url
        assert "一支部的人" not in r.content.decode()
    listing = client.get("/accounts/").content.decode()
    assert "一支部的人" not in listing and NAMES["sec_b2"] in listing
    with pytest.raises(permissions.NotPermitted):
        accounts.login_create(m, actor=org["sec_b2"], username="abc")
    assert ledger.head() == head


def test_a_reset_password_is_shown_once_ends_sessions_and_must_be_changed(org, client, django_user_model):  # noqa: F811
    member_user = org["member"]
    other = client.__class__()
    other.force_login(member_user)
    assert other.get("/").status_code == 200
    client.force_login(org["sec_b1"])
    r = client.post(f"/accounts/logins/{member_user.pk}/reset/")
    assert r.status_code == 200 and "只显示这一次" in r.content.decode()
    password = SECRET.search(r.content.decode()).group(1)
    assert other.get("/").status_code == 302 and "/login/" in other.get("/")["Location"]  # the old session ended
    assert not other.login(username="member", password="pass-12345")
    assert other.login(username="member", password=password)
    assert other.get("/units/")["Location"] == "/account/"
    assert _change_password(other, password).status_code == 302
    assert other.get("/units/").status_code == 200


def test_a_role_granted_with_an_end_date_stops_applying_after_it(org, client):  # noqa: F811
    user = org["member"]
    m = _member_of(user)
    client.force_login(org["sec_c"])
    last = TODAY + dt.timedelta(days=5)
    r = client.post(f"/accounts/members/{m.pk}/grant/", {"role": Role.INTERNAL_AUDITOR, "unit": org["c"].pk,
                                                         "valid_from": TODAY.isoformat(), "valid_until": last.isoformat()})
    assert r.status_code == 302, r.content.decode()[:800]
    g = RoleGrant.objects.get(user=user)
    assert (g.role, g.unit, g.valid_until) == (Role.INTERNAL_AUDITOR, org["c"], last)
    assert any(s.level == "internal_auditor" for s in scopes_for(user, on=last))
    assert not any(s.level == "internal_auditor" for s in scopes_for(user, on=last + dt.timedelta(days=1)))
    # ended early: the role no longer applies from today
    r = client.post(f"/accounts/grants/{g.pk}/expire/", {"last_day": (TODAY - dt.timedelta(days=1)).isoformat(), "reason": "调整"})
    assert r.status_code == 302
    g.refresh_from_db()
    assert g.valid_until == TODAY - dt.timedelta(days=1)
    fresh = get_user_model().objects.get(pk=user.pk)
    assert not permissions.allowed(fresh, "audit.plan", org["b1"])
    assert LedgerEntry.objects.filter(action="role.expire", obj_id=str(g.pk)).exists()
    page = client.get(f"/accounts/members/{m.pk}/").content.decode()
    assert "内审员" in page and "已失效" in page


def test_a_secretary_gives_only_auditor_roles_to_people_they_manage(org):  # noqa: F811
    with pytest.raises(ValidationError):
        core.auditor_role_grant(actor=org["sec_b1"], user=org["member"], role=Role.ADMIN, unit=org["b1"], valid_from=TODAY)
    with pytest.raises(ValidationError, match="管理范围"):  # an outsider's login is the 体系管理员's
        core.auditor_role_grant(actor=org["sec_b1"], user=org["ext"], role=Role.INTERNAL_AUDITOR, unit=org["b1"], valid_from=TODAY)
    with pytest.raises(permissions.NotPermitted):  # not over the committee
        core.auditor_role_grant(actor=org["sec_b1"], user=org["member"], role=Role.INTERNAL_AUDITOR, unit=org["c"], valid_from=TODAY)
    admin_grant = RoleGrant.objects.get(user=org["admin"])
    with pytest.raises(permissions.NotPermitted):  # a 体系管理员 grant is ended only by a 体系管理员
        core.role_expire(admin_grant, actor=org["sec_c"], last_day=TODAY, reason="x")
    g = core.auditor_role_grant(actor=org["admin"], user=org["ext"], role=Role.EXTERNAL_AUDITOR, unit=org["b1"], valid_from=TODAY)
    assert g.valid_until is None


def _transfer_out(o, m):
    core.member_transfer(m, actor=o["sec_b1"], date=TODAY, to_unit=None, note="调往外单位")


def _death(o, m):
    core.member_status_change(m, actor=o["sec_b1"], kind="death", date=TODAY, note="病故")


def _removal(o, m):  # the real path: no dues since 2020, requested by the branch, approved above
    req = dues.removal_request(m, actor=o["sec_b1"], reason="连续多月未交党费")
    dues.removal_decide(req, actor=o["sec_c"], approve=True, note="同意")


@pytest.mark.parametrize("leave", [_transfer_out, _death, _removal], ids=["transfer_out", "death", "removal"])
def test_a_login_is_disabled_when_its_member_leaves_the_roster(org, client, leave):  # noqa: F811
    user = org["member"]
    m = _member_of(user)
    leave(org, m)
    user.refresh_from_db()
    assert not user.is_active
    entry = LedgerEntry.objects.filter(obj_type="auth.user", obj_id=str(user.pk)).last()
    assert entry.action == "account.disable" and entry.after["is_active"] is False and entry.before is None
    assert entry.actor_id in (org["sec_b1"].pk, org["sec_c"].pk)
    assert not client.login(username="member", password="pass-12345")
    with pytest.raises(ValidationError, match="不能启用"):
        accounts.login_enable(actor=org["admin"], user=user, reason="误操作")
    assert ledger.verify().ok


def test_disable_and_enable_from_the_page(org, client):  # noqa: F811
    user = org["member"]
    client.force_login(org["sec_b1"])
    r = client.post(f"/accounts/logins/{user.pk}/disable/", {"reason": ""})
    assert r.status_code == 302 and get_user_model().objects.get(pk=user.pk).is_active
    client.post(f"/accounts/logins/{user.pk}/disable/", {"reason": "长期外派"})
    assert not get_user_model().objects.get(pk=user.pk).is_active
    assert not client.__class__().login(username="member", password="pass-12345")
    client.post(f"/accounts/logins/{user.pk}/enable/", {"reason": "返岗"})
    assert get_user_model().objects.get(pk=user.pk).is_active
    actions = list(LedgerEntry.objects.filter(obj_type="auth.user", obj_id=str(user.pk)).values_list("action", "reason"))
    assert actions == [("account.disable", "长期外派"), ("account.enable", "返岗")]
    with pytest.raises(ValidationError, match="自己"):
        accounts.login_disable(actor=org["sec_b1"], user=org["sec_b1"], reason="x")


@pytest.mark.parametrize("who", ["member", "ext", "ia"])
def test_read_only_roles_cannot_manage_accounts(org, client, who):  # noqa: F811
    target = factories.member(org["b1"], "某党员")
    client.force_login(org[who])
    head = ledger.head()
    home = client.get("/").content.decode()
    assert 'href="/account/" class="user" title="我的账号"' in home and "账号管理" not in home
    r = client.get("/accounts/")
    assert r.status_code == 403 and "您无权管理账号" in r.content.decode()
    for url, data in ((f"/accounts/members/{target.pk}/create/", {"username": "abcd"}),
                      (f"/accounts/logins/{org['sec_b1'].pk}/reset/", {}),
                      (f"/accounts/logins/{org['sec_b1'].pk}/disable/", {"reason": "x"}),
                      (f"/accounts/members/{target.pk}/grant/", {"role": Role.INTERNAL_AUDITOR}),
                      (f"/accounts/grants/{RoleGrant.objects.first().pk}/expire/", {"last_day": "2020-01-01", "reason": "x"})):
        r = client.post(url, data)
        assert r.status_code == 403 and "您无权管理账号" in r.content.decode(), url
    assert ledger.head() == head
    assert client.get("/account/").status_code == 200  # their own page
    with pytest.raises(permissions.NotPermitted):
        accounts.password_reset(actor=org[who], user=org["sec_b1"])


def test_managers_see_the_menu_and_logins_only_on_account_pages(org, client):  # noqa: F811
    client.force_login(org["sec_b1"])
    home = client.get("/").content.decode()
    assert "账号管理" in home and 'href="/account/" class="user" title="我的账号"' in home
    listing = client.get("/accounts/").content.decode()
    assert NAMES["member"] in listing and ">member " in listing  # the login, on the account page
    assert ">member<" not in client.get(f"/members/{_member_of(org['member']).pk}/").content.decode()


def test_no_password_ever_reaches_the_ledger(org, client):  # noqa: F811
    m = factories.member(org["b1"], "王五")
    typed = "Zhen-Li-Qiu-Shi-7"
    _open_login(client, org["sec_b1"], m, username="wangwu", password=typed)
    user = get_user_model().objects.get(username="wangwu")
    reset = accounts.password_reset(actor=org["sec_b1"], user=user).password
    accounts.password_change(actor=user, new_password="Xin-Mi-Ma-2026")
    user.refresh_from_db()
    text = json.dumps(list(LedgerEntry.objects.values("before", "after", "reason", "action")), ensure_ascii=False)
    for secret in (typed, reset, "Xin-Mi-Ma-2026", user.password, user.password.split("$")[-1], "pbkdf2"):
        assert secret not in text
    for before, after in LedgerEntry.objects.filter(obj_type="auth.user").values_list("before", "after"):
        assert set(before or {}) | set(after) == {"username", "is_active", "must_change_password"}
    assert ledger.verify().ok


def test_nobody_takes_over_a_login_with_more_powers_than_their_own(org, client):  # noqa: F811
    """sec_c (the committee's secretary) and sec_b1 are both members of 第一党支部: its secretary
    manages them as members, but may not reset, disable or enable the committee secretary's login
    (nor a 体系管理员's): a reset would hand them its password."""
    head = ledger.head()
    client.force_login(org["sec_b1"])
    for url, data in ((f"/accounts/logins/{org['sec_c'].pk}/reset/", {}), (f"/accounts/logins/{org['sec_c'].pk}/disable/", {"reason": "x"})):
        r = client.post(url, data)
        assert r.status_code == 403 and "权限超出您的管理范围" in r.content.decode()
    assert ledger.head() == head
    page = client.get(f"/accounts/members/{_member_of(org['sec_c']).pk}/").content.decode()
    assert "权限超出您的管理范围" in page and f"/accounts/logins/{org['sec_c'].pk}/reset/" not in page
    assert f"/accounts/logins/{org['sec_c'].pk}/reset/" not in client.get("/accounts/").content.decode()
    admin_member = factories.member(org["b1"], "管理员本人")
    core.member_update(admin_member, actor=None, reason="账号", user=org["admin"])
    with pytest.raises(permissions.NotPermitted):
        accounts.password_reset(actor=org["sec_b1"], user=org["admin"])
    with pytest.raises(permissions.NotPermitted):
        accounts.password_reset(actor=org["sec_c"], user=org["admin"])
    assert accounts.password_reset(actor=org["sec_c"], user=org["sec_b1"]).password  # the level above may
    assert accounts.password_reset(actor=org["admin"], user=org["sec_c"]).password


def test_the_administrator_manages_logins_of_people_outside_the_roster(org, client):  # noqa: F811
    """An external auditor's login belongs to no member: the 体系管理员 whose scope holds all its
    grants sees it under 其他账号, resets and disables it, and ends its grant; a secretary never sees it."""
    ext = org["ext"]
    client.force_login(org["sec_c"])
    assert f"/accounts/logins/{ext.pk}/reset/" not in client.get("/accounts/").content.decode()
    assert client.post(f"/accounts/logins/{ext.pk}/reset/").status_code == 404
    client.force_login(org["admin"])
    listing = client.get("/accounts/").content.decode()
    assert "其他账号" in listing and f"/accounts/logins/{ext.pk}/reset/" in listing
    assert SECRET.search(client.post(f"/accounts/logins/{ext.pk}/reset/").content.decode())
    grant = RoleGrant.objects.get(user=ext)
    assert client.post(f"/accounts/grants/{grant.pk}/expire/",
                       {"last_day": (TODAY - dt.timedelta(days=1)).isoformat(), "reason": "审核结束"}).status_code == 302
    assert not any(s.level == "external_auditor" for s in scopes_for(get_user_model().objects.get(pk=ext.pk)))
    assert client.post(f"/accounts/logins/{ext.pk}/disable/", {"reason": "审核结束"}).status_code == 302
    assert not get_user_model().objects.get(pk=ext.pk).is_active
