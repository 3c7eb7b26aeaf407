"""提醒与上报 — the daily reminder job.

- occurrences due in ``reminder_days_before`` days (7), due today (``reminder_on_due_day``)
  and overdue (``reminder_when_overdue``) → the holders of the responsible position in the
  unit — organisation rules (workflows/rules.toml, 本系统默认), overridable per organisation;
- overdue by more than ``escalate_after_days`` (an organisation rule) → the secretary of the
  unit one level up;
- a committee's term ending within ``term_reminder_months_first`` / ``_second`` months, or
  already ended → its secretary and the secretary above (seed 001 三(二)8).
Idempotent: each person gets each reminder once (``Notification.key``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from qms.models import PolicyOverride, PositionTitle, Unit
from qms.notify import holders, notify
from qms.rules import TERM_KEYS, defaults, rules_for, rules_for_many
from qms.structure import term_end
from workflows.models import Occurrence, State

LEADERS = (PositionTitle.SECRETARY, PositionTitle.DEPUTY_SECRETARY)


@dataclass
class ReminderReport:
    sent: int = 0
    escalated: int = 0
    terms: int = 0


def _add_months(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.month - 1 + months, 12)
    return day.replace(year=day.year + y, month=m + 1, day=min(day.day, 28))


@transaction.atomic
def send_reminders(today: dt.date | None = None) -> ReminderReport:
    today = today or timezone.localdate()
    r = ReminderReport()
    base = defaults()
    # how early the first reminder comes is the unit's rule: look as far ahead as any organisation asks
    ahead = max([base["reminder_days_before"].value,
                 *PolicyOverride.objects.filter(key="reminder_days_before").values_list("value", flat=True)])
    pending = list(Occurrence.objects.filter(state__in=[State.OPEN, State.PLANNED], due_date__lte=today + dt.timedelta(days=ahead))
                   .select_related("unit", "unit__parent", "obligation"))
    by_unit = rules_for_many(list({occ.unit_id: occ.unit for occ in pending}.values()))
    for occ in pending:
        rules = by_unit[occ.unit_id]
        url = reverse("occurrence_detail", args=[occ.pk])
        days = (occ.due_date - today).days
        before = rules["reminder_days_before"].value
        if days > 0 and days == before:
            stage, level, text = f"d{before}", "info", f"{before}天后到期:{occ}"
        elif days == 0 and rules["reminder_on_due_day"].value:
            stage, level, text = "d0", "warning", f"今天到期:{occ}"
        elif days < 0 and rules["reminder_when_overdue"].value:
            stage, level, text = "overdue", "overdue", f"已逾期{-days}天:{occ}"
        else:
            stage = ""
        if stage:
            for user in holders(occ.unit, [occ.obligation.responsible, *LEADERS]):
                r.sent += notify(user, key=f"occ:{occ.pk}:{stage}", title=text, url=url, level=level)
        limit = rules["escalate_after_days"].value
        if days < -limit and occ.unit.parent_id:
            for user in holders(occ.unit.parent, LEADERS):
                r.escalated += notify(user, key=f"occ:{occ.pk}:escalate", level="danger", url=url,
                                      title=f"下级组织逾期超过{limit}天未开展:{occ}")
    for unit in Unit.objects.filter(is_active=True, term_start__isnull=False).exclude(kind="group").select_related("parent"):
        rules = rules_for(unit) if unit.parent_id else base
        years = unit.term_years or rules[TERM_KEYS[unit.kind]].value
        end = term_end(unit, years)
        first, second = rules["term_reminder_months_first"].value, rules["term_reminder_months_second"].value
        if end is None or today < _add_months(end, -first):
            continue
        stage = "expired" if end < today else ("m3" if today >= _add_months(end, -second) else "m6")
        text = {"expired": f"{unit.name}本届任期已于 {end:%Y-%m-%d} 届满,尚未换届",
                "m3": f"{unit.name}本届任期将于 {end:%Y-%m-%d} 届满(不足{second}个月),请启动换届",
                "m6": f"{unit.name}本届任期将于 {end:%Y-%m-%d} 届满(不足{first}个月),请酝酿换届"}[stage]
        targets = holders(unit, LEADERS) + (holders(unit.parent, LEADERS) if unit.parent_id else [])
        for user in targets:
            r.terms += notify(user, key=f"term:{unit.pk}:{unit.term_start}:{stage}", title=text,
                              url=reverse("unit_detail", args=[unit.code]), level="danger" if stage == "expired" else "warning")
    return r

