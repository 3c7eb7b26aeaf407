"""Reminders (7 days, today, overdue), escalation to the unit above, term reminders, and the
job through a real Celery worker on Redis in CI (issue 4 §5, §6)."""
from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from procedures.library_loader import load_library
from qms import services as core
from qms.models import Notification, UnitKind
from tests import factories
from workflows.models import Occurrence
from workflows.reminders import send_reminders
from workflows.scheduler import schedule

D = dt.date


def _org():
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委", term_start=D(2022, 1, 1))
    b = factories.unit("B", UnitKind.BRANCH, parent=c, name="第一党支部", term_start=D(2024, 1, 1))
    ms = [factories.member(b, f"党员{i}") for i in range(3)]
    sec, up = factories.user("sec"), factories.user("up")
    core.member_update(ms[0], actor=None, reason="账号", user=sec)
    for m, title in zip(ms, ("secretary", "organization", "propaganda"), strict=True):  # a 支委会
        core.position_assign(actor=None, member=m, unit=b, title=title, start=D(2024, 1, 1))
    upm = factories.member(factories.unit("CB", UnitKind.BRANCH, parent=c, name="机关支部"), "党委书记")
    core.member_update(upm, actor=None, reason="账号", user=up)
    core.position_assign(actor=None, member=upm, unit=c, title="secretary", start=D(2024, 1, 1))
    schedule(today=D(2026, 7, 1))
    return c, b, sec, up


@pytest.mark.django_db
def test_due_today_overdue_escalation_and_idempotence():
    c, b, sec, up = _org()
    occ = Occurrence.objects.get(unit=b, obligation_key="branch_committee_meeting", period_start=D(2026, 7, 1))
    send_reminders(today=D(2026, 7, 24))
    assert Notification.objects.filter(user=sec, key=f"occ:{occ.pk}:d7").exists()
    send_reminders(today=D(2026, 7, 31))
    assert Notification.objects.get(user=sec, key=f"occ:{occ.pk}:d0").level == "warning"
    send_reminders(today=D(2026, 8, 10))  # 10 days overdue: not yet escalated (default 15)
    assert Notification.objects.filter(user=sec, key=f"occ:{occ.pk}:overdue").exists()
    assert not Notification.objects.filter(user=up, key=f"occ:{occ.pk}:escalate").exists()
    send_reminders(today=D(2026, 8, 20))
    esc = Notification.objects.get(user=up, key=f"occ:{occ.pk}:escalate")
    assert esc.level == "danger" and "第一党支部" in esc.title
    n = Notification.objects.count()
    send_reminders(today=D(2026, 8, 20))
    assert Notification.objects.count() == n  # idempotent


@pytest.mark.django_db
def test_escalation_days_are_an_organisation_rule():
    c, b, sec, up = _org()
    core.policy_override_set(actor=None, unit=c, key="escalate_after_days", value=5, source="本委督办规定")
    occ = Occurrence.objects.get(unit=b, obligation_key="branch_committee_meeting", period_start=D(2026, 7, 1))
    send_reminders(today=D(2026, 8, 7))
    assert Notification.objects.filter(user=up, key=f"occ:{occ.pk}:escalate").exists()


@pytest.mark.django_db
def test_term_reminders_six_and_three_months_and_expiry():
    c, b, sec, up = _org()  # committee term 2022-01-01 + 5 years = 2027-01-01
    send_reminders(today=D(2026, 6, 30))
    assert not Notification.objects.filter(key__startswith=f"term:{c.pk}").exists()
    send_reminders(today=D(2026, 7, 2))
    assert Notification.objects.filter(user=up, key__endswith=":m6").exists()
    send_reminders(today=D(2026, 10, 5))
    assert Notification.objects.filter(user=up, key__endswith=":m3").exists()
    send_reminders(today=D(2027, 1, 5))
    assert Notification.objects.get(user=up, key=f"term:{c.pk}:{c.term_start}:expired").level == "danger"


@pytest.mark.django_db
def test_notifications_page_and_menu_count(client):
    c, b, sec, up = _org()
    send_reminders(today=D(2026, 7, 31))
    client.force_login(sec)
    home = client.get(reverse("home")).content.decode()
    assert '<span class="badge">' in home
    body = client.get(reverse("notifications")).content.decode()
    assert "今天到期" in body
    client.post(reverse("notifications"))
    assert not Notification.objects.filter(user=sec, read_at__isnull=True).exists()


@pytest.mark.celery_worker
def test_reminders_run_on_a_real_worker(celery_worker_process):
    from workflows.tasks import send_reminders_task

    _org()
    out = send_reminders_task.delay().get(timeout=90)
    assert set(out) == {"sent", "escalated", "terms"}
    assert Notification.objects.count() == out["sent"] + out["escalated"] + out["terms"]
