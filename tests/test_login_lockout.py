"""登录锁定 (TRUST 3; reliability.md T12): repeated failed logins lock a username at an address,
the login page says so in Chinese, the 体系管理员 is told and may lift the lock (ledgered)."""
from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.utils import timezone

from qms import ledger, services
from qms.models import LedgerEntry, Notification, Role
from tests import factories

pytestmark = pytest.mark.django_db
LOCKED = "登录失败次数过多,账户已暂时锁定,请于"


@pytest.fixture
def people(db, settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast: many logins here
    c = factories.unit("C", "committee", name="测试党委")
    b1 = factories.unit("B1", parent=c, name="第一党支部")
    admin = factories.user("adm", first_name="管理员甲")
    services.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=c, valid_from=dt.date(2020, 1, 1))
    m = factories.member(b1, "张三")
    zhang = factories.user("zhangsan")
    services.member_update(m, actor=None, reason="账号", user=zhang)
    return {"admin": admin, "zhang": zhang}


def _try(client, password, username="zhangsan"):
    return client.post("/login/", {"username": username, "password": password})


def _logged_in(client) -> bool:
    return SESSION_KEY in client.session


def test_five_failures_lock_the_username_at_that_address_even_with_the_right_password(people):
    c = Client(REMOTE_ADDR="10.0.0.7")
    for i in range(4):
        r = _try(c, f"wrong-{i}")
        assert r.status_code == 200 and LOCKED not in r.content.decode()
    r = _try(c, "wrong-4")
    body = r.content.decode()
    assert r.status_code == 429 and LOCKED in body and "后重试或联系体系管理员解锁" in body
    r = _try(c, "pass-12345")  # the right password, still refused
    assert r.status_code == 429 and LOCKED in r.content.decode() and not _logged_in(c)
    # the 体系管理员 was told, by the person's name (never the login)
    note = Notification.objects.get(user=people["admin"])
    assert "张三的账号" in note.title and "10.0.0.7" in note.title and "zhangsan" not in note.title
    # another address is not locked: a stranger cannot lock a colleague out from elsewhere
    other = Client(REMOTE_ADDR="10.0.0.8")
    assert _try(other, "pass-12345").status_code == 302 and _logged_in(other)


def test_a_success_before_the_limit_clears_the_failures(people):
    c = Client(REMOTE_ADDR="10.0.0.9")
    for i in range(4):
        _try(c, f"wrong-{i}")
    assert _try(c, "pass-12345").status_code == 302
    c.logout()
    for i in range(4):
        assert _try(c, f"wrong-{i}").status_code == 200
    assert _try(c, "pass-12345").status_code == 302


def test_the_lock_ends_after_the_cool_off(people, settings):
    c = Client(REMOTE_ADDR="10.0.0.10")
    for i in range(5):
        _try(c, f"wrong-{i}")
    assert _try(c, "pass-12345").status_code == 429
    # the clock moves past the cool-off (the attempts are dated back)
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1))
    assert _try(c, "pass-12345").status_code == 302 and _logged_in(c)


def test_the_limit_and_cool_off_come_from_settings(people, settings):
    settings.AXES_FAILURE_LIMIT = 2
    c = Client(REMOTE_ADDR="10.0.0.11")
    assert _try(c, "wrong").status_code == 200
    r = _try(c, "wrong")
    assert r.status_code == 429 and "连续2次密码错误将锁定30分钟" in r.content.decode()


def test_the_administrator_lifts_a_lock_with_a_reason_and_the_ledger_keeps_it(people):
    c = Client(REMOTE_ADDR="10.0.0.12")
    for i in range(5):
        _try(c, f"wrong-{i}")
    office = Client()
    office.force_login(people["admin"])
    page = office.get("/accounts/lockouts/").content.decode()
    assert "张三" in page and "10.0.0.12" in page and "解锁" in page
    head = ledger.head()
    r = office.post("/accounts/lockouts/unlock/", {"username": "zhangsan", "ip_address": "10.0.0.12", "reason": ""},
                    follow=True)
    assert "解除锁定必须填写原因" in r.content.decode() and ledger.head() == head
    assert _try(c, "pass-12345").status_code == 429
    r = office.post("/accounts/lockouts/unlock/", {"username": "zhangsan", "ip_address": "10.0.0.12",
                                                   "reason": "已电话核实本人"}, follow=True)
    assert "已解除张三" in r.content.decode()
    entry = LedgerEntry.objects.order_by("-seq").first()
    assert (entry.action, entry.actor_id, entry.reason, entry.after) == ("account.unlock", people["admin"].pk,
                                                                         "已电话核实本人", None)
    assert entry.before["username"] == "zhangsan" and entry.before["failures"] == 5
    assert ledger.verify().ok
    assert _try(c, "pass-12345").status_code == 302 and _logged_in(c)
    # nothing left to unlock: a clear refusal, nothing written
    head = ledger.head()
    r = office.post("/accounts/lockouts/unlock/", {"username": "zhangsan", "ip_address": "10.0.0.12", "reason": "再次"},
                    follow=True)
    assert "已未被锁定" in r.content.decode() and ledger.head() == head


def test_only_the_administrator_sees_or_lifts_locks(people):
    c = Client(REMOTE_ADDR="10.0.0.13")
    for i in range(5):
        _try(c, f"wrong-{i}")
    member = Client()
    member.force_login(people["zhang"])
    assert member.get("/accounts/lockouts/").status_code == 403
    r = member.post("/accounts/lockouts/unlock/", {"username": "zhangsan", "ip_address": "10.0.0.13", "reason": "自己解"})
    assert r.status_code == 403 and "您无权解除登录锁定" in r.content.decode()
    assert AccessAttempt.objects.filter(username="zhangsan").exists()
    anonymous = Client()
    assert anonymous.get("/accounts/lockouts/").status_code == 302


def test_logins_without_a_request_are_not_counted_or_refused(people):
    """The test client's login() (no request) still works, and wrong ones lock nothing."""
    c = Client()
    for _ in range(6):
        assert not c.login(username="zhangsan", password="wrong")
    assert c.login(username="zhangsan", password="pass-12345")
    assert not AccessAttempt.objects.exists()


def test_behind_the_proxy_the_address_is_the_one_the_proxy_appended(people, monkeypatch):
    monkeypatch.setenv("QMS_BEHIND_PROXY", "1")
    for i in range(5):  # the client forges the first address each time; the proxy's last one stays
        Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=f"1.1.1.{i}, 10.0.0.14").post(
            "/login/", {"username": "zhangsan", "password": "wrong"})
    r = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="9.9.9.9, 10.0.0.14").post(
        "/login/", {"username": "zhangsan", "password": "pass-12345"})
    assert r.status_code == 429


def test_fifty_guesses_from_one_address_get_five_password_checks(people):
    """reliability.md T12, the figure: 50 guesses of one username from one address — the first
    5 are checked (wrong), the 45 after them are refused without looking at the password, the
    right one included; nobody signs in."""
    c = Client(REMOTE_ADDR="10.0.0.50")
    answers = [_try(c, f"guess-{i}").status_code for i in range(49)] + [_try(c, "pass-12345").status_code]
    assert answers == [200] * 4 + [429] * 46
    assert not _logged_in(c)
    assert AccessAttempt.objects.get(username="zhangsan", ip_address="10.0.0.50").failures_since_start == 5
