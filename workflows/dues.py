"""党费 — the monthly dues ledger, the 6-month arrears rule and the 除名 request.

The ledger (``DuesPayment``, and ``DuesNonPayment`` for a month not paid for a recorded,
justified reason) is the one source of truth: the month's 按月收缴党费 occurrence is complete
only when every member owing dues that month is settled in it (``unsettled``; the record
form's 党费交纳明细 field of type ``dues``, procedures/library/forms.toml), 足额 is judged
against the rate table, and the arrears flag and the 党费 indicator read the same rows.

Rates, the arrears threshold, who owes dues (``[owing]``) and who is told of arrears
(``arrears_recipients``) are data (``dues.toml``, cited); the prepayment limit and the
switches of the arrears routing are organisation rules (``rules.toml``). A member with the
threshold's number of consecutive unpaid months (up to the last complete month, counted
from when they joined the party or the roll) is flagged to the branch secretary and the
committee above; the branch may then ask the higher organisation to approve a removal, and
only that approval changes the member's standing (through ``qms.services``).
"""
from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django_fsm import ConcurrentTransition

from qms import ledger
from qms import services as core
from qms.models import (
    Member,
    MemberCategory,
    MemberEventKind,
    Membership,
    MemberStatus,
    PositionTitle,
    Unit,
)
from qms.notify import holders, notify
from qms.permissions import act, member_unit
from qms.rules import defaults, rules_for, rules_for_many
from qms.scoping import can_manage
from workflows import review
from workflows.models import (
    DuesNonPayment,
    DuesPayment,
    FollowUp,
    FollowUpKind,
    PayWay,
    RemovalRequest,
)


@cache
def table() -> dict:
    data = tomllib.loads(Path(__file__).with_name("dues.toml").read_text(encoding="utf-8"))
    if not data["owing"]["source"].strip() or not set(data["owing"]["categories"]) <= set(MemberCategory.values):
        raise ValueError("dues.toml [owing]: member categories with a source")
    for r in data["arrears_recipients"]:
        if r["level"] not in ("unit", "parent") or not r["source"].strip() or not set(r["titles"]) <= set(PositionTitle.values):
            raise ValueError(f"dues.toml arrears_recipients: {r}")
    return data


def owing_categories() -> tuple[str, ...]:
    """The member categories that owe dues and count for arrears (dues.toml ``[owing]``, cited)."""
    return tuple(table()["owing"]["categories"])


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


def month_end(month: dt.date) -> dt.date:
    return months_back(month_start(month), -1) - dt.timedelta(days=1)


def _on_roll(month: dt.date) -> Q:
    """Memberships covering the last day of ``month``: the unit a member owes that month's dues to
    (a move in the middle of a month makes the new unit collect it)."""
    end = month_end(month)
    return Q(memberships__start__lte=end) & (Q(memberships__end__isnull=True) | Q(memberships__end__gte=end))


def owing(unit: Unit, month: dt.date):
    """党员 who owe ``unit`` dues for ``month``: 正式 and 预备党员 on its roll at the month's end
    who had joined the party by then."""
    end = month_end(month)
    return (Member.objects.filter(_on_roll(month), memberships__unit=unit, category__in=owing_categories())
            .filter(Q(joined_on__isnull=True) | Q(joined_on__lte=end)).distinct())


#: how far back a recorded income still tells what a month's dues are (months)
INCOME_LOOKBACK = 12


def dues_due(rows) -> dict[tuple[int, dt.date], Decimal | None]:
    """应交 by the rate table for each (member id, month) of ``rows`` — (member id, month, income)
    sorted by member and month — from that month's recorded income or else the last one recorded
    within ``INCOME_LOOKBACK`` months before; None when no income is known. The one rule the
    month's table, the dues ledger page and the 党费 indicator share for 足额 / 少交."""
    out: dict[tuple[int, dt.date], Decimal | None] = {}
    last: dict[int, tuple[dt.date, Decimal]] = {}
    for mid, month, income in rows:
        if income is not None:
            last[mid] = (month, income)
        known = last.get(mid)
        out[(mid, month)] = dues_for(known[1]) if known and known[0] >= months_back(month, INCOME_LOOKBACK) else None
    return out


def income_history(member_ids, first: dt.date, last: dt.date) -> list[tuple[int, dt.date, Decimal | None]]:
    """The rows ``dues_due`` needs for months ``first``–``last`` (one query)."""
    return list(DuesPayment.objects.filter(member_id__in=member_ids, month__gte=months_back(first, INCOME_LOOKBACK), month__lte=last)
                .order_by("member_id", "month").values_list("member_id", "month", "income"))


@dataclass
class DuesRow:
    """One member in one month's dues table: 应交 (by the rate table, from the month's income or
    the last one known), 实交, and 足额 / 少交 / 已交 (income unknown) / 未交(正当理由) / 未交."""

    member: Member
    payment: DuesPayment | None
    excused: DuesNonPayment | None
    due: Decimal | None

    @property
    def short(self) -> Decimal:
        if self.payment is None or self.due is None or self.payment.amount >= self.due:
            return Decimal("0")
        return self.due - self.payment.amount

    @property
    def status(self) -> str:
        if self.payment is not None:
            return "已交" if self.due is None else ("少交" if self.short else "足额")
        return "未交(有正当理由)" if self.excused is not None else "未交"

    @property
    def settled(self) -> bool:
        return self.payment is not None or self.excused is not None


def month_table(unit: Unit, month: dt.date) -> list[DuesRow]:
    """The month's dues table of a branch (four queries)."""
    month = month_start(month)
    members = list(owing(unit, month).order_by("name"))
    ids = [m.pk for m in members]
    paid = {p.member_id: p for p in DuesPayment.objects.filter(member_id__in=ids, month=month)}
    excused = {x.member_id: x for x in DuesNonPayment.objects.filter(member_id__in=ids, month=month)}
    history = income_history(ids, month, month)
    # an unpaid member's 应交 comes from the last income known: judge them as if paying now
    due = dues_due(sorted(history + [(m.pk, month, None) for m in members if m.pk not in paid], key=lambda r: (r[0], r[1])))
    return [DuesRow(m, paid.get(m.pk), excused.get(m.pk), due.get((m.pk, month))) for m in members]


def unsettled(unit: Unit, month: dt.date) -> list[Member]:
    """Who owes ``unit`` dues for ``month`` with neither a payment nor a justified non-payment."""
    month = month_start(month)
    return list(owing(unit, month).exclude(dues__month=month).exclude(dues_excused__month=month).order_by("name"))


def _was_party_member(member, month: dt.date) -> bool:
    return member.category in owing_categories() and member.memberships.filter(
        Q(end__isnull=True) | Q(end__gte=month), start__lte=month_end(month)).exists()


def _rules(member) -> dict:
    """The organisation rules at the member's unit (the shipped defaults once transferred out)."""
    unit = member_unit(member)
    return rules_for(unit) if unit is not None else defaults()


@act("dues.record", unit=member_unit)
@transaction.atomic
def dues_record(member, *, actor, month: dt.date, paid_on: dt.date, way: str, amount: Decimal | None = None,
                income: Decimal | None = None) -> DuesPayment:
    """登记党费 — one month for one member (amount from income by the rate table if not given; an
    amount below the table's is recorded and shown as 少交). The member must have been on the
    roll in that month (a back payment of someone since transferred out may be recorded)."""
    month = month_start(month)
    if not _was_party_member(member, month):
        raise ValidationError(f"{member.name} {month:%Y年%m月} 不是在册党员,无需交纳党费")
    if way not in PayWay.values:
        raise ValidationError("请选择交纳方式")
    ahead = _rules(member)["dues_prepay_max_days"].value  # an organisation rule (workflows/rules.toml)
    latest = month_start(month_start(timezone.localdate()) + dt.timedelta(days=ahead))
    if month > latest:
        raise ValidationError(f"党费最多预交至{latest:%Y年%m月}")
    if amount is None:
        if income is None:
            raise ValidationError("请填写金额或税后月收入")
        amount = dues_for(income)
    if amount <= 0:
        raise ValidationError("金额应大于0")
    if DuesPayment.objects.filter(member=member, month=month).exists():
        raise ValidationError(f"{member.name} {month:%Y年%m月} 的党费已登记")
    if DuesNonPayment.objects.filter(member=member, month=month).exists():
        raise ValidationError(f"{member.name} {month:%Y年%m月} 已登记为未交(有正当理由)")
    p = DuesPayment.objects.create(member=member, month=month, income=income, amount=amount, paid_on=paid_on, way=way, recorded_by=actor)
    ledger.record("dues.record", p, actor=actor)
    return p


@act("dues.excuse", unit=member_unit)
@transaction.atomic
def dues_excuse(member, *, actor, month: dt.date, reason: str) -> DuesNonPayment:
    """登记未交理由 — a month not paid for a justified reason (e.g. 经批准免交); it settles the month's
    collection and is not arrears. The reason is required and kept in the ledger."""
    month = month_start(month)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(f"{member.name}:未交党费须填写正当理由")
    if not _was_party_member(member, month):
        raise ValidationError(f"{member.name} {month:%Y年%m月} 不是在册党员,无需交纳党费")
    if DuesPayment.objects.filter(member=member, month=month).exists():
        raise ValidationError(f"{member.name} {month:%Y年%m月} 的党费已登记交纳")
    if DuesNonPayment.objects.filter(member=member, month=month).exists():
        raise ValidationError(f"{member.name} {month:%Y年%m月} 已登记未交理由")
    x = DuesNonPayment.objects.create(member=member, month=month, reason=reason[:200], recorded_by=actor)
    ledger.record("dues.excuse", x, actor=actor, reason=reason)
    return x


def _amount(value, label: str, name: str) -> Decimal | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return Decimal(text)
    except ArithmeticError:
        raise ValidationError(f"{name}:{label}应为数字") from None


@act("dues.record", unit=lambda unit, **_: unit)
@transaction.atomic
def dues_collect(unit: Unit, *, actor, month: dt.date, paid_on: dt.date, way: str, rows: dict[int, dict]) -> dict[str, int]:
    """党费收缴(一次提交) — several members of one branch for one month: ``rows`` maps a member's
    id to {"income", "amount", "reason"}; income or amount records a payment (``dues_record``),
    a reason alone a justified non-payment (``dues_excuse``), an empty row is skipped. All or
    nothing: every row's problem is reported and nothing is saved. Only members owing ``unit``
    dues that month may be named (an id from elsewhere is refused without naming anyone)."""
    month = month_start(month)
    roll = {m.pk: m for m in owing(unit, month)}
    errors: list[str] = []
    done = {"paid": 0, "excused": 0}
    for member_id, row in sorted(rows.items()):
        if not any(str(row.get(k) or "").strip() for k in ("income", "amount", "reason")):
            continue
        member = roll.get(member_id)
        if member is None:
            errors.append(f"有人员不在{unit.name} {month:%Y年%m月} 应交党费的名单中")
            continue
        try:
            income = _amount(row.get("income"), "税后月收入", member.name)
            amount = _amount(row.get("amount"), "金额", member.name)
            reason = (row.get("reason") or "").strip()
            if income is not None or amount is not None:
                dues_record(member, actor=actor, month=month, paid_on=paid_on, way=way, amount=amount, income=income)
                done["paid"] += 1
            elif reason:
                dues_excuse(member, actor=actor, month=month, reason=reason)
                done["excused"] += 1
        except ValidationError as exc:
            errors.extend(f"{m}" if member.name in m else f"{member.name}:{m}" for m in exc.messages)
    if errors:
        raise ValidationError(list(dict.fromkeys(errors)))
    return done


def arrears(root: Unit, *, as_of: dt.date | None = None) -> list[dict]:
    """Members in ``root``'s subtree with ≥ N consecutive unpaid months up to the last
    complete month (set-based: two queries)."""
    n = table()["arrears_months"]
    last = months_back(month_start(as_of or timezone.localdate()), 1)
    first = months_back(last, n - 1)
    window = [months_back(last, i) for i in range(n)]
    rows = (Membership.objects.filter(unit__path__startswith=root.path, end__isnull=True, member__status=MemberStatus.ACTIVE,
                                      member__category__in=owing_categories())
            .select_related("member", "unit"))
    paid = set(DuesPayment.objects.filter(member__memberships__unit__path__startswith=root.path,
                                          member__memberships__end__isnull=True, month__gte=first, month__lte=last)
               .values_list("member_id", "month"))
    paid |= set(DuesNonPayment.objects.filter(member__memberships__unit__path__startswith=root.path,  # 有正当理由: not arrears
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


def arrears_recipients(unit: Unit, rules: dict | None = None) -> list:
    """Who is told of arrears in ``unit`` (dues.toml ``arrears_recipients``; a recipient with a
    ``rule`` only while the unit's organisation rule is 1): by default the branch 书记 and 组织委员
    and the 书记 of the organisation above."""
    rules = rules if rules is not None else rules_for(unit)
    users: list = []
    for r in table()["arrears_recipients"]:
        if r.get("rule") and not rules[r["rule"]].value:
            continue
        where = unit if r["level"] == "unit" else unit.parent
        if where is not None:
            users += [u for u in holders(where, r["titles"]) if u not in users]
    return users


def notify_arrears(root: Unit, *, as_of: dt.date | None = None) -> int:
    """Tell the people ``arrears_recipients`` names, once per member and month."""
    sent = 0
    found = arrears(root, as_of=as_of)
    by_unit = rules_for_many(list({a["unit"].pk: a["unit"] for a in found}.values()))
    for a in found:
        unit = a["unit"]
        title = f"{a['member'].name}({unit.name})已连续{table()['arrears_months']}个月未交纳党费({a['from']:%Y.%m}–{a['to']:%Y.%m})"
        url = reverse("dues_page") + f"?unit={unit.code}"
        for user in arrears_recipients(unit, by_unit[unit.pk]):
            sent += notify(user, key=f"arrears:{a['member'].pk}:{a['to']:%Y%m}", title=title, url=url, level="danger")
    return sent


@act("removal.request", unit=lambda unit, **_: unit)
@transaction.atomic
def removal_open(member, *, unit: Unit, actor, reason: str) -> RemovalRequest:
    """A 除名 request waiting for the higher organisation — for 6 months' unpaid dues
    (``removal_request``) or a 民主评议 不合格 member the branch decided to remove
    (``services.followup_done``, review.toml ``approval = "removal"``). Ledgered."""
    if RemovalRequest.objects.filter(member=member, state="requested").exists():
        raise ValidationError("已有待审批的除名申请")
    r = RemovalRequest.objects.create(member=member, unit=unit, reason=reason.strip(), requested_by=actor)
    ledger.record("removal.request", r, actor=actor, reason=reason)
    return r


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
    return removal_open(member, unit=ms.unit, actor=actor, reason=reason)


def _higher_manager(actor, req: RemovalRequest) -> bool:
    parent = req.unit.parent
    return actor is not None and parent is not None and can_manage(actor, parent)


def _review_disposals(req: RemovalRequest):
    """The 民主评议 组织处置 of the member waiting for this decision (a removal measure chosen,
    not done) — none for a request over unpaid dues."""
    return FollowUp.objects.select_for_update().filter(kind=FollowUpKind.DISPOSAL, owner=req.member, done_on__isnull=True,
                                                        measure__in=review.rules().removal_measures)


@act("removal.decide", unit=lambda req, **_: req.unit)
@transaction.atomic
def removal_decide(req: RemovalRequest, *, actor, approve: bool, note: str = "") -> RemovalRequest:
    """上级审批 — approval removes the member (除名) through the core service, in the same
    transaction, and completes a 民主评议 组织处置 waiting for it; a refusal sends that 处置 back
    to the branch to choose another measure."""
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
    today = timezone.localdate()
    disposals = list(_review_disposals(r))
    for fu in disposals:
        fu_before = ledger.snapshot(fu)
        if approve:
            fu.done_on, fu.outcome = today, f"{fu.outcome}(上级党组织已批准)"[:200]
            fu.save()
            ledger.record("followup.done", fu, actor=actor, before=fu_before, reason=note)
        else:  # back to the branch: another measure is to be chosen
            fu.measure, fu.outcome = "", f"{fu.outcome}(上级党组织未批准{'' if not note else ':' + note})"[:200]
            fu.save()
            ledger.record("followup.reject", fu, actor=actor, before=fu_before, reason=note)
    if approve:
        ground = "民主评议不合格" if disposals else f"连续{table()['arrears_months']}个月未交纳党费"
        core.member_status_change(r.member, actor=actor, kind=MemberEventKind.REMOVAL, date=today,
                                  note=f"{ground},经上级批准除名")
    return r
