"""发展党员的提醒与上报 — for every open applicant, each step with a deadline (谈话、考察、审批、
转正讨论 …): before it (``reminder_days_before``), and once overdue (``reminder_when_overdue``)
to the 书记/副书记 of the unit that does the step (the branch, or the unit above it for the
higher organisation's steps); overdue by more than ``escalate_after_days`` to the 书记/副书记 one
level further up. The reminder rules are those of every other deadline (workflows/rules.toml,
overridable per organisation). Idempotent: each person gets each reminder once
(``Notification.key``). Run by ``manage.py recruitment --remind`` (daily)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from qms.models import PositionTitle
from qms.notify import holders, notify
from qms.rules import rules_for
from workflows import recruitment_services as rs
from workflows.models import RECRUIT_ENDS, Applicant

LEADERS = (PositionTitle.SECRETARY, PositionTitle.DEPUTY_SECRETARY)


@dataclass
class RecruitReminderReport:
    sent: int = 0
    escalated: int = 0


@transaction.atomic
def send_recruitment_reminders(today: dt.date | None = None) -> RecruitReminderReport:
    today = today or timezone.localdate()
    report = RecruitReminderReport()
    for a in Applicant.objects.exclude(stage__in=RECRUIT_ENDS).select_related("unit", "unit__parent"):
        rules = rules_for(a.unit)
        url = reverse("recruitment_applicant", args=[a.pk])
        for t in rs.todos(a):
            if t.deadline is None:
                continue
            doer = a.unit if t.step.by == "branch" else a.unit.parent
            if doer is None:
                continue
            left = (t.deadline - today).days
            base = f"recruit:{a.pk}:{t.step.key}:{t.deadline.isoformat()}"
            what = f"{a.name}(发展党员):{t.step.label}"
            if 0 <= left <= rules["reminder_days_before"].value:
                for u in holders(doer, LEADERS):
                    report.sent += notify(u, key=f"{base}:before", title=f"{what},期限 {t.deadline:%Y-%m-%d}", url=url)
            elif left < 0 and rules["reminder_when_overdue"].value:
                for u in holders(doer, LEADERS):
                    report.sent += notify(u, key=f"{base}:overdue", title=f"{what},已逾期{-left}天", url=url, level="warning")
                if -left > rules["escalate_after_days"].value and doer.parent is not None:
                    for u in holders(doer.parent, LEADERS):
                        report.escalated += notify(u, key=f"{base}:escalate", url=url, level="warning",
                                                   title=f"{doer.name} · {what},已逾期{-left}天")
    return report
