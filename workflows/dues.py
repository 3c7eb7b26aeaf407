"""党费 — the monthly dues ledger, the 6-month arrears rule and the 除名 request.

Rates and the arrears threshold are data (``dues.toml``, cited). A member with the
threshold's number of consecutive unpaid months (up to the last complete month, counted
from when they joined the party or the roll) is flagged to the branch secretary and the
committee above; the branch may then ask the higher organisation to approve a removal, and
only that approval changes the member's standing (through ``qms.services``).
"""
from __future__ import annotations

import datetime as dt
import tomllib
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_fsm import ConcurrentTransition

from qms import ledger
from qms import services as core
from qms.models import PARTY_MEMBER_CATEGORIES, MemberEventKind, Membership, MemberStatus, Unit
from qms.notify import holders, notify
from qms.permissions import act, member_unit
from qms.scoping import can_manage
from workflows.models import DuesPayment, PayWay, RemovalRequest


@cache
def table() -> dict:
    return tomllib.loads(Path(__file__).with_name("dues.toml").read_text(encoding="utf-8"))


def dues_for(income: Decimal) -> Decimal:
    """Monthly dues for an after-tax monthly income, by the bracket table."""
    for b in table()["brackets"]:
        if "up_to" not in b or income <= Decimal(b["up_to"]):
            return (income * Decimal(b["rate"])).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    raise AssertionError("dues.toml must end with an open bracket")


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def months_back(month: dt.date, n: int) -> dt.date:
    y, m = divmod(month.month - 1 - n, 12)
    return dt.date(month.year + y, m + 1, 1)


@act("dues.record", unit=member_unit)
@transaction.atomic
def dues_record(member, *, actor, month: dt.date, paid_on: dt.date, way: str, amount: Decimal | None = None,
                income: Decimal | None = None) -> DuesPayment:
    """登记党费 — one month for one member (amount from income by the rate table if not given)."""
    ms = member.current_membership()
    if ms is None or member.category not in PARTY_MEMBER_CATEGORIES:
        raise ValidationError(f"{member.name} 不是在册党员,无需交纳党费")
    if way not in PayWay.values:
        raise ValidationError("请选择交纳方式")
    month = month_start(month)
    if month > month_start(timezone.localdate()) + dt.timedelta(days=366):
        raise ValidationError("不能预交一年以上的党费")
    if amount is None:
        if income is None:
            raise ValidationError("请填写金额或税后月收入")
        amount = dues_for(income)
    if amount <= 0:
        raise ValidationError("金额应大于0")
    if DuesPayment.objects.filter(member=member, month=month).exists():
        raise ValidationError(f"{member.name} {month:%Y年%m月} 的党费已登记")
    p = DuesPayment.objects.create(member=member, month=month, income=income, amount=amount, paid_on=paid_on, way=way, recorded_by=actor)
    ledger.record("dues.record", p, actor=actor)
    return p


def arrears(root: Unit, *, as_of: dt.date | None = None) -> list[dict]:
    """Members in ``root``'s subtree with ≥ N consecutive unpaid months up to the last
    complete month (set-based: two queries)."""
    n = table()["arrears_months"]
    last = months_back(month_start(as_of or timezone.localdate()), 1)
    first = months_back(last, n - 1)
    window = [months_back(last, i) for i in range(n)]
    rows = (Membership.objects.filter(unit__path__startswith=root.path, end__isnull=True, member__status=MemberStatus.ACTIVE,
                                      member__category__in=PARTY_MEMBER_CATEGORIES)
            .select_related("member", "unit"))
    paid = set(DuesPayment.objects.filter(member__memberships__unit__path__startswith=root.path,
                                          member__memberships__end__isnull=True, month__gte=first, month__lte=last)
               .values_list("member_id", "month"))
    out = []
    for ms in rows:
        m = ms.member
        owed_from = month_start(max(d for d in (m.joined_on, ms.start) if d))
        months = [w for w in window if w >= owed_from]
        if len(months) == n and not any((m.pk, w) in paid for w in months):
            out.append({"member": m, "unit": ms.unit, "from": first, "to": last})
    return out


def notify_arrears(root: Unit, *, as_of: dt.date | None = None) -> int:
    """Tell the branch secretary and the committee above, once per member and month."""
    sent = 0
    for a in arrears(root, as_of=as_of):
        unit = a["unit"]
        title = f"{a['member'].name}({unit.name})已连续{table()['arrears_months']}个月未交纳党费({a['from']:%Y.%m}–{a['to']:%Y.%m})"
        url = reverse("dues_page") + f"?unit={unit.code}"
        for user in holders(unit, ["secretary", "organization"]) + (holders(unit.parent, ["secretary"]) if unit.parent_id else []):
            sent += notify(user, key=f"arrears:{a['member'].pk}:{a['to']:%Y%m}", title=title, url=url, level="danger")
    return sent


@act("removal.request", unit=member_unit)
@transaction.atomic
def removal_request(member, *, actor, reason: str) -> RemovalRequest:
    """除名申请 — only for a member in arrears; decided by the level above."""
    ms = member.current_membership()
    if ms is None:
        raise ValidationError("该党员不在册")
    if not (reason or "").strip():
        raise ValidationError("请填写理由")
    if member.pk not in {a["member"].pk for a in arrears(ms.unit)}:
        raise ValidationError(f"{member.name} 未达到连续{table()['arrears_months']}个月未交纳党费的条件")
    if RemovalRequest.objects.filter(member=member, state="requested").exists():
        raise ValidationError("已有待审批的除名申请")
    r = RemovalRequest.objects.create(member=member, unit=ms.unit, reason=reason.strip(), requested_by=actor)
    ledger.record("removal.request", r, actor=actor, reason=reason)
    return r


def _higher_manager(actor, req: RemovalRequest) -> bool:
    parent = req.unit.parent
    return actor is not None and parent is not None and can_manage(actor, parent)


@act("removal.decide", unit=lambda req, **_: req.unit)
@transaction.atomic
def removal_decide(req: RemovalRequest, *, actor, approve: bool, note: str = "") -> RemovalRequest:
    """上级审批 — approval removes the member (除名) through the core service, in the same transaction."""
    r = RemovalRequest.objects.select_for_update().get(pk=req.pk)
    if r.state != "requested":
        raise ValidationError("该申请已处理")
    if not _higher_manager(actor, r):
        raise ValidationError("除名须经上级党组织批准:只有上级组织的负责人可以审批")
    before = ledger.snapshot(r)
    r.decided_by, r.decision_note = actor, note
    try:
        (r.approve if approve else r.reject)()
        r.save()
    except ConcurrentTransition as exc:
        raise ValidationError("该申请已被他人处理") from exc
    ledger.record(f"removal.{'approve' if approve else 'reject'}", r, actor=actor, before=before, reason=note)
    if approve:
        core.member_status_change(r.member, actor=actor, kind=MemberEventKind.REMOVAL, date=timezone.localdate(),
                                  note=f"连续{table()['arrears_months']}个月未交纳党费,经上级批准除名")
    return r

