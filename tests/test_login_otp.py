"""双因素登录 (TRUST 3; reliability.md T12): a TOTP authenticator after the password, with real
codes computed here (django_otp.oath.totp) — set up, confirm, sign in, a wrong code, a replayed
code, the wait after wrong codes; compulsory for the roles of QMS_OTP_REQUIRED_ROLES; a lost phone
removed by the 体系管理员 (ledgered); the recovery codes (恢复码): shown once, stored as digests,
each usable once instead of a code, regenerated, removed with the authenticator."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from qms import ledger, services
from qms.models import LedgerEntry, Role
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.QMS_OTP_REQUIRED_ROLES = []
    c = factories.unit("C", "committee", name="测试党委")
    b1 = factories.unit("B1", parent=c, name="第一党支部")
    admin = factories.user("adm", first_name="管理员甲")
    services.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=c, valid_from=dt.date(2020, 1, 1))
    ia = factories.user("ia", first_name="内审员乙")
    services.role_grant(actor=None, user=ia, role=Role.INTERNAL_AUDITOR, unit=c, valid_from=dt.date(2020, 1, 1))
    m = factories.member(b1, "张三")
    zhang = factories.user("zhangsan")
    services.member_update(m, actor=None, reason="账号", user=zhang)
    return {"admin": admin, "ia": ia, "zhang": zhang}


def code(device: TOTPDevice, shift: int = 0) -> str:
    """The code the person's phone shows now (``shift`` steps later or earlier)."""
    device.refresh_from_db()
    return f"{totp(device.bin_key, step=device.step, t0=device.t0 - shift * device.step, digits=device.digits):06d}"


def _enrolled(client) -> TOTPDevice:
    client.post("/account/authenticator/", {"action": "start"})
    return TOTPDevice.objects.get(user__username="zhangsan")


def _password_login(client, username="zhangsan"):
    return client.post("/login/", {"username": username, "password": "pass-12345"})


def test_a_person_sets_up_an_authenticator_with_a_qr_code_and_a_first_code(people, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # this test tries a wrong code and then the right one at once
    c = Client()
    c.force_login(people["zhang"])
    page = c.get("/account/authenticator/").content.decode()
    assert "开始设置" in page and not TOTPDevice.objects.exists()
    device = _enrolled(c)
    assert not device.confirmed
    page = c.get("/account/authenticator/").content.decode()
    qr = re.search(r'<img src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', page)
    assert qr, "the QR code is drawn here, as an inline image"
    import base64

    assert base64.b64decode(qr.group(1)).startswith(b"<svg")
    secret = re.search(r'<pre class="otp-key">([A-Z2-7 ]+)</pre>', page).group(1).replace(" ", "")
    assert base64.b32decode(secret + "=" * (-len(secret) % 8)) == device.bin_key
    enrol = LedgerEntry.objects.get(action="otp.enrol")
    assert enrol.after == {"user": people["zhang"].pk, "name": "身份验证器", "confirmed": False}  # never the key
    assert device.key not in str(enrol.after)

    r = c.post("/account/authenticator/", {"token": code(device, shift=5)})  # a code of another time
    assert "验证码不正确" in r.content.decode() and not TOTPDevice.objects.get().confirmed
    r = c.post("/account/authenticator/", {"token": code(device)})
    assert r.status_code == 200 and TOTPDevice.objects.get().confirmed
    assert "恢复码只显示这一次" in r.content.decode() and "no-store" in r["Cache-Control"]
    assert LedgerEntry.objects.filter(action="otp.confirm", actor_id=people["zhang"].pk).count() == 1
    assert "已启用" in c.get("/account/authenticator/").content.decode()
    assert ledger.verify().ok


def test_with_an_authenticator_the_password_alone_reaches_only_the_code_page(people):
    setup = Client()
    setup.force_login(people["zhang"])
    device = _enrolled(setup)
    setup.post("/account/authenticator/", {"token": code(device)})
    device.refresh_from_db()
    device.last_t = -1  # the set-up code's time step is spent; sign in with the next code
    device.save()

    c = Client()
    assert _password_login(c).status_code == 302
    r = c.get("/members/")
    assert r.status_code == 302 and r["Location"].startswith("/login/code/?next=%2Fmembers%2F")
    assert c.get("/login/code/").status_code == 200
    ok = code(device)
    r = c.post("/login/code/", {"token": ok, "next": "/members/"})
    assert r.status_code == 302 and r["Location"] == "/members/"
    assert c.get("/members/").status_code == 200

    # the same code again, in another login: refused (a code is used once)
    again = Client()
    _password_login(again)
    r = again.post("/login/code/", {"token": ok, "next": "/"})
    assert r.status_code == 200 and "已使用过" in r.content.decode()
    assert again.get("/").status_code == 302


def test_wrong_codes_make_the_next_try_wait(people):
    setup = Client()
    setup.force_login(people["zhang"])
    device = _enrolled(setup)
    setup.post("/account/authenticator/", {"token": code(device)})
    device.refresh_from_db()
    device.last_t = -1
    device.save()
    c = Client()
    _password_login(c)
    r = c.post("/login/code/", {"token": code(device, shift=7)})
    assert "验证码不正确" in r.content.decode()
    r = c.post("/login/code/", {"token": code(device)})  # right, but too soon after a wrong one
    assert re.search(r"验证码错误次数过多,请 \d+ 秒后再试", r.content.decode())
    assert c.get("/").status_code == 302
    # an outside redirect is never followed
    device.refresh_from_db()
    device.throttle_reset()
    r = c.post("/login/code/", {"token": code(device), "next": "https://evil.example/"})
    assert r.status_code == 302 and r["Location"] == "/"


@pytest.mark.parametrize("roles,who,owes", [
    (["admin"], "admin", True), (["admin"], "ia", False), (["admin"], "zhang", False),
    (["admin", "auditor"], "ia", True), ([], "admin", False),
])
def test_the_configured_roles_must_set_up_and_use_a_second_factor(people, settings, roles, who, owes):
    settings.QMS_OTP_REQUIRED_ROLES = roles
    c = Client()
    c.force_login(people[who])
    r = c.get("/")
    if not owes:
        assert r.status_code == 200
        return
    assert r.status_code == 302 and r["Location"].startswith("/account/authenticator/")
    page = c.get("/account/authenticator/").content.decode()
    assert "您的角色必须启用双因素登录" in page
    assert c.post("/logout/").status_code == 302  # signing out stays possible


def test_a_required_role_sets_up_and_is_then_let_through(people, settings):
    settings.QMS_OTP_REQUIRED_ROLES = ["admin"]
    c = Client()
    c.force_login(people["admin"])
    c.post("/account/authenticator/", {"action": "start"})
    device = TOTPDevice.objects.get(user=people["admin"])
    r = c.post("/account/authenticator/?next=/members/", {"token": code(device)})
    assert r.status_code == 200 and 'href="/members/"' in r.content.decode()  # the codes, then on
    assert c.get("/").status_code == 200  # this session is verified by the set-up code


def test_the_administrator_removes_a_lost_authenticator_with_a_reason(people):
    setup = Client()
    setup.force_login(people["zhang"])
    device = _enrolled(setup)
    setup.post("/account/authenticator/", {"token": code(device)})
    office = Client()
    office.force_login(people["admin"])
    url = f"/accounts/logins/{people['zhang'].pk}/authenticator/reset/"
    head = ledger.head()
    office.post(url, {"reason": ""})
    assert TOTPDevice.objects.filter(user=people["zhang"]).exists() and ledger.head() == head
    member = Client()
    member.force_login(people["ia"])
    assert member.post(url, {"reason": "手机丢失"}).status_code in (403, 404)
    assert StaticToken.objects.filter(device__user=people["zhang"]).count() == 10
    office.post(url, {"reason": "手机丢失,已电话核实本人"})
    assert not TOTPDevice.objects.filter(user=people["zhang"]).exists()
    assert not StaticDevice.objects.filter(user=people["zhang"]).exists()  # the recovery codes go too
    assert not StaticToken.objects.filter(device__user=people["zhang"]).exists()
    entry = LedgerEntry.objects.get(action="account.otp_reset", obj_type="otp_totp.totpdevice")
    assert (entry.actor_id, entry.after, entry.reason) == (people["admin"].pk, None, "手机丢失,已电话核实本人")
    codes = LedgerEntry.objects.get(action="account.otp_reset", obj_type="otp_static.staticdevice")
    assert (codes.actor_id, codes.before["remaining"], codes.after, codes.reason) == (
        people["admin"].pk, 10, None, "手机丢失,已电话核实本人")
    assert ledger.verify().ok
    # signing in needs the password only again
    c = Client()
    _password_login(c)
    assert c.get("/").status_code == 200


def test_the_wait_doubles_with_each_wrong_code(people):
    """django-otp's throttling (reliability.md T12: OTP delays grow exponentially): after n wrong
    codes the next try waits 2^(n-1) seconds."""
    setup = Client()
    setup.force_login(people["zhang"])
    device = _enrolled(setup)
    waits = []
    for _ in range(5):
        if device.throttling_failure_timestamp is not None:  # the person waited: the next try is allowed
            device.throttling_failure_timestamp -= dt.timedelta(hours=1)
            device.save()
        assert device.verify_is_allowed()[0]
        device.verify_token("000000" if code(device) != "000000" else "111111")
        device.refresh_from_db()
        _allowed, data = device.verify_is_allowed()
        waits.append(round((data["locked_until"] - device.throttling_failure_timestamp).total_seconds()))
    assert waits == [1, 2, 4, 8, 16]


# ----------------------------------------------------------------------------- 恢复码

CODE_RE = re.compile(r"<li>([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})</li>")


def _confirmed_with_codes(client) -> tuple[TOTPDevice, list[str]]:
    device = _enrolled(client)
    r = client.post("/account/authenticator/", {"token": code(device)})
    codes = CODE_RE.findall(r.content.decode())
    device.refresh_from_db()
    device.last_t = -1
    device.save()
    return device, codes


def test_recovery_codes_are_shown_once_stored_as_digests_and_each_signs_in_once(people):
    setup = Client()
    setup.force_login(people["zhang"])
    _device, codes = _confirmed_with_codes(setup)
    assert len(codes) == len(set(codes)) == 10
    stored = set(StaticToken.objects.filter(device__user=people["zhang"]).values_list("token", flat=True))
    assert len(stored) == 10
    for c in codes:  # neither the code nor any part of it is kept
        assert all(part not in t for t in stored for part in (c, c.replace("-", ""), c.split("-")[0] + c.split("-")[1]))
    issue = LedgerEntry.objects.get(action="otp.recovery_issue")
    assert issue.after == {"user": people["zhang"].pk, "name": "恢复码", "remaining": 10}
    page = setup.get("/account/authenticator/").content.decode()
    assert "还有 <strong>10</strong> 个未使用的恢复码" in page
    assert not any(c in page for c in codes), "codes are shown once only"

    c = Client()
    _password_login(c)
    typed = codes[3].lower().replace("-", " ").replace("0", "o")  # as a person may type it
    r = c.post("/login/code/", {"token": typed, "next": "/members/"})
    assert r.status_code == 302 and r["Location"] == "/members/"
    assert "还剩 9 个" in c.get("/members/").content.decode()
    use = LedgerEntry.objects.get(action="otp.recovery_use")
    assert (use.actor_id, use.before["remaining"], use.after["remaining"]) == (people["zhang"].pk, 10, 9)
    assert "还有 <strong>9</strong> 个" in c.get("/account/authenticator/").content.decode()

    again = Client()
    _password_login(again)
    r = again.post("/login/code/", {"token": codes[3], "next": "/"})
    assert r.status_code == 200 and "恢复码不正确或已使用过" in r.content.decode()
    assert again.get("/").status_code == 302
    assert LedgerEntry.objects.filter(action="otp.recovery_use").count() == 1
    assert ledger.verify().ok


def test_regenerating_recovery_codes_voids_the_old_ones(people):
    setup = Client()
    setup.force_login(people["zhang"])
    _device, old = _confirmed_with_codes(setup)
    r = setup.post("/account/authenticator/", {"action": "regenerate"})
    new = CODE_RE.findall(r.content.decode())
    assert len(new) == 10 and not set(new) & set(old) and "原来的恢复码全部作废" in r.content.decode()
    entry = LedgerEntry.objects.get(action="otp.recovery_regenerate")
    assert (entry.actor_id, entry.before["remaining"], entry.after["remaining"]) == (people["zhang"].pk, 10, 10)
    assert StaticToken.objects.filter(device__user=people["zhang"]).count() == 10

    c = Client()
    _password_login(c)
    assert "恢复码不正确或已使用过" in c.post("/login/code/", {"token": old[0]}).content.decode()
    StaticDevice.objects.get(user=people["zhang"]).throttle_reset()
    assert c.post("/login/code/", {"token": new[0], "next": "/"}).status_code == 302
    assert c.get("/").status_code == 200
    assert ledger.verify().ok


def test_regenerating_needs_a_confirmed_authenticator(people):
    from django.core.exceptions import ValidationError

    from qms import otp

    head = ledger.head()
    with pytest.raises(ValidationError, match="请先设置并启用身份验证器"):
        otp.otp_recovery_regenerate(actor=people["zhang"])
    assert not StaticDevice.objects.exists() and ledger.head() == head


def test_wrong_recovery_codes_make_the_next_try_wait(people):
    setup = Client()
    setup.force_login(people["zhang"])
    _device, codes = _confirmed_with_codes(setup)
    c = Client()
    _password_login(c)
    r = c.post("/login/code/", {"token": "AAAA-BBBB-CCCC-DDDD"})
    assert "恢复码不正确或已使用过" in r.content.decode()
    r = c.post("/login/code/", {"token": codes[0]})  # right, but too soon after a wrong one
    assert re.search(r"验证码错误次数过多,请 \d+ 秒后再试", r.content.decode())
    assert c.get("/").status_code == 302
    assert StaticToken.objects.filter(device__user=people["zhang"]).count() == 10  # nothing used up
