"""Notices beyond the in-app list (qms/channels.py): 邮件 through a real SMTP server (aiosmtpd on loopback)
and the 企业微信/钉钉 group robots through a real HTTP server on loopback; each delivery recorded, failures
retried and never blocking the change that caused the notice; personal notices never reach a group."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from procedures.library_loader import load_library
from qms import channel_settings, channels
from qms import services as core
from qms.models import Delivery, GroupRobot, NoticeChannels, Notification, UnitKind
from qms.notify import notify
from qms.tasks import deliver_notice_task
from tests import factories
from workflows.models import Occurrence
from workflows.reminders import send_reminders
from workflows.scheduler import schedule

D = dt.date
RETRIES = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- a real SMTP server


class _Recorder:
    def __init__(self, answer: str = "250 OK"):
        self.answer, self.messages = answer, []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        if self.answer.startswith("250"):
            self.messages.append(envelope)
        return self.answer


def _smtp(answer="250 OK"):
    from aiosmtpd.controller import Controller

    rec = _Recorder(answer)
    ctl = Controller(rec, hostname="127.0.0.1", port=_free_port())
    ctl.start()
    return ctl, rec


@pytest.fixture
def mail(settings):
    """An SMTP server on loopback that accepts every message (aiosmtpd), and the product pointed at it."""
    ctl, rec = _smtp()
    _point_mail(settings, ctl.port)
    yield rec
    ctl.stop()


def _body(envelope) -> str:
    from email import message_from_bytes, policy

    return message_from_bytes(envelope.original_content, policy=policy.default).get_content()


def _point_mail(settings, port):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    settings.QMS_SEND_EMAIL = True
    settings.QMS_NOTIFY_RETRIES = RETRIES


def _org():
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委", term_start=D(2022, 1, 1))
    b = factories.unit("B", UnitKind.BRANCH, parent=c, name="第一党支部", term_start=D(2024, 1, 1))
    ms = [factories.member(b, f"党员{i}") for i in range(3)]
    sec = factories.user("sec", email="sec@example.org")
    core.member_update(ms[0], actor=None, reason="账号", user=sec)
    for m, title in zip(ms, ("secretary", "organization", "propaganda"), strict=True):
        core.position_assign(actor=None, member=m, unit=b, title=title, start=D(2024, 1, 1))
    schedule(today=D(2026, 7, 1))
    occ = Occurrence.objects.get(unit=b, obligation_key="branch_committee_meeting", period_start=D(2026, 7, 1))
    return c, b, sec, occ


DAY = D(2026, 7, 24)  # the committee meeting of July is due in 7 days


def _remind(capture, day=DAY):
    with capture(execute=True):
        send_reminders(today=day)


# ----------------------------------------------------------------------------- 邮件


@pytest.mark.django_db
def test_a_reminder_goes_by_mail_once_with_the_name_and_the_task(mail, django_capture_on_commit_callbacks):
    c, b, sec, occ = _org()
    _remind(django_capture_on_commit_callbacks)
    d = Delivery.objects.get(channel="email", user=sec, notice_key=f"occ:{occ.pk}:d7")
    assert (d.status, d.attempts, d.notice_kind) == ("sent", 1, "meeting_due") and d.sent_at is not None
    n = Delivery.objects.filter(channel="email").count()
    assert len(mail.messages) == n and all(x.status == "sent" for x in Delivery.objects.all())
    env = next(m for m in mail.messages if str(occ) in _body(m))
    assert env.rcpt_tos == ["sec@example.org"]
    body = _body(env)
    assert "党员0同志" in body and str(occ) in body and "身份证" not in body
    # again: the same reminder is neither a new delivery nor a second message; nor is the task run again
    _remind(django_capture_on_commit_callbacks)
    deliver_notice_task.delay(d.pk)
    assert Delivery.objects.filter(channel="email").count() == n and len(mail.messages) == n


@pytest.mark.django_db
def test_mail_turned_off_by_the_person_or_no_address_sends_nothing(mail, django_capture_on_commit_callbacks):
    c, b, sec, occ = _org()
    channel_settings.channels_choose(actor=sec, email=False)
    assert NoticeChannels.objects.get(user=sec).email is False
    _remind(django_capture_on_commit_callbacks)
    assert Notification.objects.filter(user=sec).exists()  # 站内 always
    assert not Delivery.objects.exists() and mail.messages == []
    nobody = factories.user("noaddr")
    with pytest.raises(ValidationError, match="邮箱地址"):
        channel_settings.channels_choose(actor=nobody, email=True)


@pytest.mark.django_db
def test_a_personal_kind_leaves_the_product_only_as_its_neutral_text(mail, django_capture_on_commit_callbacks):
    c, b, sec, occ = _org()
    with django_capture_on_commit_callbacks(execute=True):
        notify(sec, key="arrears:7:202607", title="党员2(第一党支部)已连续6个月未交纳党费(2026.02–2026.07)", level="danger")
    body = _body(mail.messages[0])
    d = Delivery.objects.get()
    assert d.notice_kind == "arrears" and "党员2" not in d.title and "2026.02" not in d.title
    assert "党员2" not in body and "党费" in d.title


@pytest.mark.django_db
@pytest.mark.parametrize("server", ["refusing", "down"])
def test_a_failing_mail_server_never_blocks_the_change_and_is_retried(server, settings, django_capture_on_commit_callbacks):
    ctl = None
    if server == "refusing":
        ctl, rec = _smtp("554 5.7.1 拒收")
        port = ctl.port
    else:
        port = _free_port()  # nothing listens there
    _point_mail(settings, port)
    try:
        c, b, sec, occ = _org()
        _remind(django_capture_on_commit_callbacks)  # does not raise
    finally:
        if ctl:
            ctl.stop()
    assert Notification.objects.filter(user=sec, key=f"occ:{occ.pk}:d7").exists()  # the change committed
    d = Delivery.objects.get(channel="email", notice_key=f"occ:{occ.pk}:d7")
    assert d.status == "failed" and d.attempts == RETRIES + 1 and d.sent_at is None
    assert ("拒收(代码 554)" in d.last_error) if server == "refusing" else ("拒绝" in d.last_error)


@pytest.fixture
def down_mail_env(monkeypatch, settings):
    """The worker reads its settings from the environment: 邮件 on, pointed at a port where nothing listens,
    two more tries with no pause."""
    port = _free_port()
    for k, v in {"QMS_SEND_EMAIL": "1", "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(port), "EMAIL_TIMEOUT": "3",
                 "QMS_NOTIFY_RETRIES": str(RETRIES), "QMS_NOTIFY_BACKOFF_SECONDS": "0"}.items():
        monkeypatch.setenv(k, v)
    _point_mail(settings, port)


@pytest.mark.celery_worker
def test_a_real_worker_retries_a_down_mail_server_and_records_the_failure(down_mail_env, celery_worker_process):
    import time

    from django.db import transaction

    sec = factories.user("sec", email="sec@example.org")
    with transaction.atomic():
        notify(sec, key="nc:1:raised", title="不符合项 NC-1:一般,请确认并整改")
    d = Delivery.objects.get()
    for _ in range(120):
        d.refresh_from_db()
        if d.status == "failed":
            break
        time.sleep(0.25)
    assert (d.status, d.attempts) == ("failed", RETRIES + 1) and "拒绝" in d.last_error
    assert Notification.objects.filter(user=sec, key="nc:1:raised").exists()


# ----------------------------------------------------------------------------- 群机器人 (a real HTTP server)


class _Hook:
    """A robot server on loopback: records each request (path, query, JSON) and answers as told."""

    def __init__(self):
        self.requests, self.status, self.answer = [], 200, {"errcode": 0, "errmsg": "ok"}
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                url = urllib.parse.urlsplit(self.path)
                hook.requests.append({"path": url.path, "query": urllib.parse.parse_qs(url.query),
                                      "type": self.headers["Content-Type"], "json": json.loads(body)})
                out = json.dumps(hook.answer).encode()
                self.send_response(hook.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook(settings):
    h = _Hook()
    settings.QMS_WECOM_WEBHOOK_BASE = f"{h.base}/cgi-bin/webhook/send"  # a private installation's address
    settings.QMS_DINGTALK_WEBHOOK_BASE = f"{h.base}/robot/send"
    settings.QMS_NOTIFY_RETRIES = RETRIES
    yield h
    h.close()


def _robot(b, kind, **kw):
    admin = get_user_model().objects.filter(username="admin").first() or factories.user("admin", is_superuser=True)
    fields = {"name": "第一党支部工作群", "kind": kind, "webhook": "KEY-0123456789abcdef", "kinds": ["meeting_due", "pack_ready"]}
    fields.update(kw)
    return channel_settings.robot_create(actor=admin, unit=b, **fields)


@pytest.mark.django_db
def test_a_meeting_due_reaches_the_wecom_group_once_in_its_json_shape(hook, django_capture_on_commit_callbacks):
    c, b, sec, occ = _org()
    r = _robot(b, "wecom")
    _remind(django_capture_on_commit_callbacks)
    mine = [x for x in hook.requests if str(occ) in x["json"]["markdown"]["content"]]
    assert len(mine) == 1  # three office-holders were told; the group once
    req = mine[0]
    assert req["path"] == "/cgi-bin/webhook/send" and req["query"] == {"key": ["KEY-0123456789abcdef"]}
    assert req["type"].startswith("application/json")
    assert set(req["json"]) == {"msgtype", "markdown"} and req["json"]["msgtype"] == "markdown"
    assert set(req["json"]["markdown"]) == {"content"}
    d = Delivery.objects.get(robot=r, notice_key=f"occ:{occ.pk}:d7")
    assert (d.status, d.attempts, d.channel) == ("sent", 1, "wecom")
    n = len(hook.requests)
    _remind(django_capture_on_commit_callbacks)
    assert len(hook.requests) == n  # idempotent


@pytest.mark.django_db
def test_dingtalk_is_signed_and_shaped_as_dingtalk_asks(hook, django_capture_on_commit_callbacks):
    c, b, sec, occ = _org()
    secret = "SEC0123456789abcdef"
    _robot(c, "dingtalk", webhook=f"{hook.base}/robot/send?access_token=TOKEN123", secret=secret, include_below=True)
    _remind(django_capture_on_commit_callbacks)
    req = next(x for x in hook.requests if str(occ) in x["json"]["markdown"]["text"])
    assert req["path"] == "/robot/send" and req["query"]["access_token"] == ["TOKEN123"]
    assert req["json"]["msgtype"] == "markdown" and set(req["json"]["markdown"]) == {"title", "text"}
    ts = req["query"]["timestamp"][0]
    expected = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()).decode()
    assert req["query"]["sign"] == [expected]  # parse_qs has undone the URL-encoding


@pytest.mark.django_db
def test_personal_notices_never_reach_a_group(hook, django_capture_on_commit_callbacks):
    c, b, sec, occ = _org()
    with pytest.raises(ValidationError, match="党费欠缴提醒"):
        _robot(b, "wecom", kinds=["arrears"])
    r = _robot(b, "wecom")
    GroupRobot.objects.filter(pk=r.pk).update(kinds=["meeting_due", "arrears", "escalation", "recruitment"])  # by hand
    with django_capture_on_commit_callbacks(execute=True):
        notify(sec, key=f"arrears:{b.pk}:202607", title="党员2(第一党支部)已连续6个月未交纳党费", level="danger")
        notify(sec, key=f"occ:{occ.pk}:escalate", title=f"下级组织逾期超过15天未开展:{occ}", level="danger")
    assert hook.requests == [] and not Delivery.objects.filter(robot=r).exists()
    assert {k.scope for k in channels.kinds().values() if k.key in ("arrears", "escalation", "recruitment")} == {"person"}


@pytest.mark.django_db
@pytest.mark.parametrize("failure", ["http500", "errcode"])
def test_a_failing_robot_is_retried_recorded_and_blocks_nothing(failure, hook, django_capture_on_commit_callbacks):
    c, b, sec, occ = _org()
    r = _robot(b, "wecom")
    if failure == "http500":
        hook.status = 500
    else:
        hook.answer = {"errcode": 93000, "errmsg": "invalid webhook url"}
    _remind(django_capture_on_commit_callbacks)
    assert Notification.objects.filter(user=sec, key=f"occ:{occ.pk}:d7").exists()
    d = Delivery.objects.get(robot=r, notice_key=f"occ:{occ.pk}:d7")
    assert (d.status, d.attempts) == ("failed", RETRIES + 1)
    assert ("状态码 500" in d.last_error) if failure == "http500" else ("错误码 93000" in d.last_error)
    assert len([x for x in hook.requests if str(occ) in x["json"]["markdown"]["content"]]) == RETRIES + 1


# ----------------------------------------------------------------------------- pages


@pytest.mark.django_db
def test_the_admin_registers_a_robot_on_its_page_and_nobody_sees_its_address(client, hook):
    from qms.models import LedgerEntry

    c, b, sec, occ = _org()
    admin = factories.user("admin", is_superuser=True)
    client.force_login(admin)
    page = client.get("/accounts/robots/")
    assert page.status_code == 200 and "还没有登记群机器人" in page.content.decode()
    bad = client.post("/accounts/robots/", {"unit": b.pk, "name": "支部群", "kind": "wecom", "webhook": "KEY-0123456789abcdef",
                                            "kinds": ["arrears"]})
    assert bad.status_code == 200 and not GroupRobot.objects.exists()  # a personal kind is not even offered
    ok = client.post("/accounts/robots/", {"unit": b.pk, "name": "支部群", "kind": "dingtalk", "webhook": "TOKEN-0123456789",
                                           "secret": "SEC-abcdef123456", "kinds": ["meeting_due", "pack_ready"]})
    assert ok.status_code == 302
    r = GroupRobot.objects.get()
    listing = client.get("/accounts/robots/").content.decode()
    assert "支部群" in listing and "TOKEN-0123456789" not in listing and "SEC-abcdef" not in listing
    entry = LedgerEntry.objects.filter(action="robot.create").get()
    assert "TOKEN-0123456789" not in json.dumps(entry.after, ensure_ascii=False) and entry.after["fingerprint"] == r.fingerprint
    # an edit that leaves the address empty keeps it; the change is ledgered with the old state
    client.post(f"/accounts/robots/{r.pk}/", {"name": "支部群", "kinds": ["meeting_due"], "active": "on"})
    r.refresh_from_db()
    assert r.kinds == ["meeting_due"] and r.webhook == "TOKEN-0123456789" and r.secret == "SEC-abcdef123456"
    assert LedgerEntry.objects.filter(action="robot.update").count() == 1
    client.force_login(sec)  # the branch secretary: neither the list, nor the robot, nor the failures
    assert client.get("/accounts/robots/").status_code == 403
    assert client.get(f"/accounts/robots/{r.pk}/").status_code == 403
    assert client.get("/accounts/deliveries/").status_code == 403


@pytest.mark.django_db
def test_failures_are_listed_for_the_admin_with_the_reason(client, hook, django_capture_on_commit_callbacks):
    c, b, sec, occ = _org()
    _robot(b, "wecom")
    hook.status = 500
    _remind(django_capture_on_commit_callbacks)
    client.force_login(get_user_model().objects.get(username="admin"))
    text = client.get("/accounts/deliveries/").content.decode()
    assert "发送失败" in text and "机器人地址返回错误(状态码 500)" in text and str(occ) in text and "第一党支部工作群" in text


@pytest.mark.django_db
def test_the_person_chooses_mail_on_my_account(client, settings):
    from qms.models import LedgerEntry

    settings.QMS_SEND_EMAIL = True
    u = factories.user("zhang", email="zhang@example.org", first_name="张三")
    client.force_login(u)
    page = client.get("/account/").content.decode()
    assert "接收通知的方式" in page and 'name="email" value="1" checked' in page  # no choice yet: 邮件 on
    assert client.post("/account/notices/", {}).status_code == 302
    assert NoticeChannels.objects.get(user=u).email is False and not channels.wants_email(u)
    assert 'name="email" value="1" checked' not in client.get("/account/").content.decode()
    client.post("/account/notices/", {"email": "1"})
    assert channels.wants_email(u)
    assert LedgerEntry.objects.filter(action="notice.channels").count() == 2
    nobody = factories.user("li")  # no address: 邮件 cannot be chosen, said in Chinese
    client.force_login(nobody)
    assert "还没有邮箱地址" in client.get("/account/").content.decode()
    r = client.post("/account/notices/", {"email": "1"}, follow=True)
    assert "还没有邮箱地址" in r.content.decode() and not NoticeChannels.objects.filter(user=nobody).exists()
    settings.QMS_SEND_EMAIL = False
    assert "只发送站内通知" in client.get("/account/").content.decode()


@pytest.mark.django_db
def test_every_notice_of_the_product_has_its_kind_and_the_unit_level_ones_their_unit():
    """The keys the product's notify() calls make (one sample each) fall in the kinds of notices.toml; only
    the unit-level ones name an organisation, found from the key as the data says."""
    b = factories.unit("B", UnitKind.BRANCH, name="第一党支部")
    samples = {
        "occ:5:d7": "meeting_due", "occ:5:d0": "meeting_due", "occ:5:overdue": "meeting_due", "occ:5:escalate": "escalation",
        f"term:{b.pk}:2024-01-01:m3": "term_due", "pack:3:done": "pack_ready", "pack:3:missing": "pack_ready",
        "pack:3:failed": "pack_failed", f"campaign:2:{b.pk}:announced": "campaign_announced",
        f"campaign:2:{b.pk}:remind": "campaign_due", "arrears:7:202607": "arrears", "nc:4:raised": "ticket",
        "nc:4:overdue": "ticket", "recruit:1:talk:2026-07-01:before": "recruitment",
        "recruit:1:talk:2026-07-01:escalate": "escalation", "certaudit:1:due": "certification",
        "accountability:1:2": "accountability", "lockout:zhang:10.0.0.1:202607011200": "security",
        "tamper:qms.member:1:5": "security", "integrity:20260701": "security",
    }
    assert {k: channels.kind_of(k).key for k in samples} == samples
    assert channels.unit_of(channels.kind_of(f"term:{b.pk}:2024-01-01:m3"), f"term:{b.pk}:2024-01-01:m3") == b
    assert channels.unit_of(channels.kind_of(f"campaign:2:{b.pk}:announced"), f"campaign:2:{b.pk}:announced") == b
    assert channels.unit_of(channels.kind_of("pack:999:done"), "pack:999:done") is None  # no such pack: no group
    assert channels.unit_of(channels.kind_of("arrears:7:202607"), f"arrears:{b.pk}:202607") is None
    assert {k.key for k in channels.unit_kinds().values()} == {"meeting_due", "term_due", "pack_ready", "campaign_announced"}
