"""口令与会话 (TRUST 3; 等保 2.0 8.1.4.1 a, b): the password rules come from settings and speak
Chinese; a session ends after the configured minutes without a request, and each request
renews it."""
from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from tests import factories

pytestmark = pytest.mark.django_db


NAMES = ("QMS_PASSWORD_MIN_LENGTH", "QMS_SESSION_IDLE_MINUTES", "QMS_LOGIN_FAILURE_LIMIT", "QMS_LOGIN_LOCKOUT_MINUTES",
         "QMS_OTP_REQUIRED_ROLES")


def test_the_numbers_come_from_the_environment(monkeypatch):
    import qms.settings as module

    try:
        for name in NAMES:
            monkeypatch.delenv(name, raising=False)
        s = importlib.reload(module)  # the defaults (本系统默认)
        assert s.AUTH_PASSWORD_VALIDATORS[0]["OPTIONS"] == {"min_length": 8}
        assert (s.SESSION_COOKIE_AGE, s.SESSION_SAVE_EVERY_REQUEST) == (30 * 60, True)
        assert s.AXES_FAILURE_LIMIT == 5
        assert s.AXES_COOLOFF_TIME.total_seconds() == 30 * 60
        assert s.QMS_OTP_REQUIRED_ROLES == []
        for name, value in zip(NAMES, ("12", "15", "3", "60", "admin, auditor"), strict=True):
            monkeypatch.setenv(name, value)
        s = importlib.reload(module)
        assert s.AUTH_PASSWORD_VALIDATORS[0]["OPTIONS"] == {"min_length": 12}
        assert s.SESSION_COOKIE_AGE == 15 * 60
        assert s.AXES_FAILURE_LIMIT == 3
        assert s.AXES_COOLOFF_TIME.total_seconds() == 60 * 60
        assert s.QMS_OTP_REQUIRED_ROLES == ["admin", "auditor"]
    finally:
        monkeypatch.undo()
        importlib.reload(module)


@pytest.fixture
def person(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    b1 = factories.unit("B1", name="第一党支部")
    m = factories.member(b1, "张三")
    user = factories.user("zhangsan", first_name="张三")
    from qms import services

    services.member_update(m, actor=None, reason="账号", user=user)
    return user


def _change(client, new: str) -> str:
    r = client.post("/account/", {"old_password": "pass-12345", "new_password1": new, "new_password2": new})
    return r.content.decode()


@pytest.mark.parametrize("new,message", [
    ("Ab3$xy", "密码太短,至少需要8个字符"),
    ("84736251901", "密码不能全是数字"),
    ("password123", "这个密码太常见,容易被猜中,请换一个"),
    ("zhangsan2026", "密码与用户名或姓名太相似,请换一个"),
])
def test_weak_passwords_are_refused_in_chinese(person, new, message):
    c = Client()
    c.force_login(person)
    assert message in _change(c, new)
    person.refresh_from_db()
    assert person.check_password("pass-12345")


def test_the_minimum_length_is_the_one_configured_and_the_page_says_so(person, settings):
    settings.AUTH_PASSWORD_VALIDATORS = [{"NAME": "qms.accounts.MinimumLengthValidator", "OPTIONS": {"min_length": 14}}]
    from django.contrib.auth import password_validation

    password_validation.get_default_password_validators.cache_clear()
    try:
        c = Client()
        c.force_login(person)
        assert "密码至少需要14个字符" in c.get("/account/").content.decode()
        assert "密码太短,至少需要14个字符" in _change(c, "Qw7#kL9$mZ2!x")  # 13 characters
        r = c.post("/account/", {"old_password": "pass-12345", "new_password1": "Qw7#kL9$mZ2!xV", "new_password2": "Qw7#kL9$mZ2!xV"})
        assert r.status_code == 302
    finally:
        password_validation.get_default_password_validators.cache_clear()


def _session(client) -> Session:
    return Session.objects.get(session_key=client.session.session_key)


def test_a_session_ends_after_the_idle_time(person, settings):
    c = Client()
    c.force_login(person)
    assert c.get("/").status_code == 200
    # nothing for longer than SESSION_COOKIE_AGE: the stored session has expired
    Session.objects.filter(session_key=c.session.session_key).update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    r = c.get("/")
    assert r.status_code == 302 and r["Location"].startswith("/login/")


def test_each_request_renews_the_session(person, settings):
    c = Client()
    c.force_login(person)
    c.get("/")
    soon = timezone.now() + dt.timedelta(seconds=60)
    Session.objects.filter(session_key=c.session.session_key).update(expire_date=soon)
    c.get("/members/")
    renewed = _session(c).expire_date
    assert renewed > soon + dt.timedelta(seconds=settings.SESSION_COOKIE_AGE - 120)
    assert renewed <= timezone.now() + dt.timedelta(seconds=settings.SESSION_COOKIE_AGE)
