"""Notices beyond the in-app list (qms/channels.py): 邮件 through a real SMTP server (aiosmtpd on loopback)
and the 企业微信/钉钉 group robots through a real HTTP server on loopback; each delivery recorded, failures
retried and never blocking the change that caused the notice; personal notices never reach a group."""
from __future__ import annotations

import datetime as dt
import socket

import pytest
from django.core.exceptions import ValidationError

from procedures.library_loader import load_library
from qms import channels
from qms import services as core
from qms.models import Delivery, NoticeChannels, Notification, UnitKind
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
    channels.channels_choose(actor=sec, email=False)
    assert NoticeChannels.objects.get(user=sec).email is False
    _remind(django_capture_on_commit_callbacks)
    assert Notification.objects.filter(user=sec).exists()  # 站内 always
    assert not Delivery.objects.exists() and mail.messages == []
    nobody = factories.user("noaddr")
    with pytest.raises(ValidationError, match="邮箱地址"):
        channels.channels_choose(actor=nobody, email=True)


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
    assert ("554" in d.last_error) if server == "refusing" else ("拒绝" in d.last_error)


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
