"""Demo step: the past twelve months of 三会一课 for the demo committee — most meetings held
and closed, some late, some missed, some with incomplete records — so the compliance
heatmap shows real colour. Everything goes through the services (and the ledger).

党费 first: most members pay every month in full (one ``dues_collect`` per branch and month),
a few are in arrears of 2–7 months up to the last complete month (so exactly one reaches the
6-month flag), one pays a short amount after a raise, one has an approved exemption. The
monthly 按月收缴党费 occurrences are then completed only where the ledger allows it."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from qms.demo import signing
from qms.models import BRANCH_KINDS, MemberCategory, Unit
from workflows import dues, services
from workflows.models import Occurrence, State
from workflows.scheduler import schedule

SEED = 20261124
TOPICS = ["学习贯彻党的二十大精神", "学习《中国共产党章程》", "重温入党誓词", "安全生产专题学习", "廉洁从业警示教育",
          "学习《中国共产党纪律处分条例》", "主题教育专题研讨", "迎七一主题党日", "民主议事:年度志愿服务安排"]


#: branch → months of unpaid dues up to the last complete month, for one member holding no
#: office (7 ≥ the 6-month rule: that one member is flagged; the others are reminders)
ARREARS = {"HX-Z1-B1": 7, "HX-Z1-B4": 5, "HX-Z3-B1": 4, "HX-B1": 3, "HX-Z2-B2": 2}
#: branch → (months, reason) of an approved exemption (经批准免交) for one member
EXCUSED = {"HX-Z2-B1": (3, "家庭经济困难,经支部研究、报党委批准免交党费")}
#: branch → months one member kept paying the old amount after a raise (少交)
SHORT = {"HX-Z1-B2": 3}
#: after-tax monthly incomes of a power-generation group (the rate table's brackets all occur)
INCOMES = (2800, 4500, 5600, 6800, 7500, 8200, 9000, 9600, 11000, 13500)


def _pick(unit: Unit, month: dt.date):
    """A member of ``unit`` owing ``month`` who holds no office and has no login (stable pick)."""
    from qms.models import Position

    holders = set(Position.objects.values_list("member_id", flat=True))
    pool = [m for m in dues.owing(unit, month).order_by("pk") if m.pk not in holders and m.user_id is None
            and m.category == MemberCategory.FULL]
    return pool[len(pool) // 2] if pool else None


def dues_history(root, rng: random.Random, today: dt.date) -> tuple[dict, dict]:
    """党费 for every branch under ``root``, each complete month that has a scheduled collection
    (twelve if none is scheduled yet). Returns (collection day by (unit id, month), counts)."""
    last = dues.months_back(dues.month_start(today), 1)
    # every complete month the schedule has a collection for (else twelve)
    first = (Occurrence.objects.filter(unit__path__startswith=root.path, obligation__form__fields__type="dues", period_start__lte=last)
             .order_by("period_start").values_list("period_start", flat=True).first()) or dues.months_back(last, 11)
    months = [dues.months_back(last, i) for i in range(12 * (last.year - first.year) + last.month - first.month, -1, -1)]
    branches = list(Unit.objects.filter(path__startswith=root.path, kind__in=BRANCH_KINDS, is_active=True).order_by("path"))
    special = {}
    for b in branches:
        for table, kind in ((ARREARS, "arrears"), (EXCUSED, "excused"), (SHORT, "short")):
            if b.code in table:
                m = _pick(b, last)
                if m is not None and m.pk not in special:
                    n = table[b.code][0] if kind == "excused" else table[b.code]
                    special[m.pk] = (kind, months[-n:], table[b.code][1] if kind == "excused" else "")
    incomes: dict[int, Decimal] = {}
    days, counts = {}, {"paid": 0, "excused": 0, "arrears": 0, "short": 0}
    for b in branches:
        for month in months:
            rows = {}
            for m in dues.owing(b, month).order_by("pk"):
                inc = incomes.setdefault(m.pk, Decimal(rng.choice(INCOMES)))
                kind, when, reason = special.get(m.pk, ("", [], ""))
                if month in when and kind == "arrears":
                    counts["arrears"] += 1
                    continue
                if month in when and kind == "excused":
                    rows[m.pk] = {"reason": reason}
                elif month in when and kind == "short":  # the old amount, before last raise
                    rows[m.pk] = {"amount": dues.dues_for(inc - 1500)}
                    counts["short"] += 1
                else:
                    rows[m.pk] = {"income": inc}
            if not rows:
                continue
            day = month + dt.timedelta(days=rng.randint(4, 20))  # collected on the 主题党日 or so
            done = dues.dues_collect(b, actor=None, month=month, paid_on=day, way=rng.choice(["transfer", "online", "online", "cash"]), rows=rows)
            counts["paid"] += done["paid"]
            counts["excused"] += done["excused"]
            days[(b.pk, month)] = day
    return days, counts


def history_step(root, admin, progress=None) -> str:
    rng = random.Random(SEED)
    today = timezone.localdate()
    schedule(today=today - dt.timedelta(days=365), through=today + dt.timedelta(days=92), root=root)
    collect_days, dues_counts = dues_history(root, random.Random(SEED + 1), today)  # own stream: the rest stays as it was
    past = list(Occurrence.objects.filter(unit__path__startswith=root.path, state=State.OPEN, period_end__lt=today,
                                          event__isnull=True, obligation__form__isnull=False)
                .select_related("unit", "obligation", "obligation__form").order_by("period_start", "unit__path"))
    counts = {"closed": 0, "late": 0, "incomplete": 0, "missed": 0}
    signed = signing(admin)  # the 检查 signatures: the password checked once for the whole year
    for i, occ in enumerate(past, start=1):
        if progress and (i % 100 == 0 or i == len(past)):
            progress(f"  执行记录 {i}/{len(past)}({i * 100 // len(past)}%)")
        roll = rng.random()
        if roll < 0.08:
            continue  # nothing held: becomes a gap below
        span = (occ.period_end - occ.period_start).days
        late = roll > 0.9 and occ.due_date + dt.timedelta(days=20) < today
        day = occ.due_date + dt.timedelta(days=rng.randint(3, 20)) if late else occ.period_start + dt.timedelta(days=rng.randint(0, max(span - 1, 0)))
        if (occ.unit_id, occ.period_start) in collect_days:  # 党费: held on the collection day
            late, day = False, collect_days[(occ.unit_id, occ.period_start)]
        try:
            _hold(occ, day, rng, admin, incomplete=0.84 < roll <= 0.9, signed=signed)
        except ValidationError:
            continue
        occ.refresh_from_db()
        if occ.state == State.HELD:
            counts["incomplete"] += 1
        else:
            counts["late" if late else "closed"] += 1
    counts["missed"] = services.mark_missed()
    return (f"过去一年:闭环 {counts['closed']} 项、逾期完成 {counts['late']} 项、要素不全待补 {counts['incomplete']} 项、未开展 {counts['missed']} 项;"
            f"党费交纳 {dues_counts['paid']} 人次(少交 {dues_counts['short']})、经批准免交 {dues_counts['excused']}、欠交 {dues_counts['arrears']} 人次")


def _collect(occ: Occurrence, day: dt.date, admin, *, incomplete: bool, signed) -> None:
    """按月收缴党费: the record is the month's dues ledger; submitting is refused while anyone
    owing that month is unpaid without a reason (the occurrence then stays open and is missed)."""
    services.occurrence_plan(occ, actor=None, planned_date=day, place="党员活动室", topic=f"收缴{occ.period_start:%Y年%m月}党费")
    if not incomplete:
        services.record_save(occ, actor=None, elements={"month": occ.period_start.isoformat()})
    services.record_submit(occ, actor=None, held_on=day)
    if incomplete:
        return
    services.record_check(occ, actor=admin, password=signed)
    services.occurrence_close(occ, actor=None)


def _lecturer(occ: Occurrence, day: dt.date, rng: random.Random) -> int | None:
    """主讲人 of a demo 党课: mostly the branch secretary, sometimes a member of the 党委 above
    (each person's lectures are counted on the 个人履责 page)."""
    from qms.models import Position

    candidates = services.lecturer_candidates(occ)
    sec = (Position.objects.filter(unit=occ.unit, title="secretary", start__lte=day, member__in=candidates)
           .values_list("member_id", flat=True).first())
    above = list(candidates.filter(positions__unit__kind="committee", positions__end__isnull=True).values_list("pk", flat=True).distinct())
    if sec is not None and (rng.random() < 0.6 or not above):
        return sec
    if above:
        return rng.choice(sorted(above))
    return candidates.values_list("pk", flat=True).first()


def _hold(occ: Occurrence, day: dt.date, rng: random.Random, admin, *, incomplete: bool, signed) -> None:
    if services.dues_month(occ) is not None:
        return _collect(occ, day, admin, incomplete=incomplete, signed=signed)
    topic = rng.choice(TOPICS)
    services.occurrence_plan(occ, actor=None, planned_date=day, place=rng.choice(["党员活动室", "三楼会议室", "班组学习室"]), topic=topic)
    roster = list(services.attendees_on(occ, day))
    if not occ.obligation.attendees and len(roster) > 60:  # a large unit's talks and checks: its committee takes part
        from qms.models import COMMITTEE_TITLES, Position

        roster = [p.member for p in Position.objects.filter(unit=occ.unit, title__in=COMMITTEE_TITLES, end__isnull=True).select_related("member")]
    present = [m for m in roster if rng.random() < 0.9]
    absent = [m for m in roster if m not in present]
    elements = {"time": f"{day.isoformat()}T09:00", "speeches": f"围绕“{topic}”,书记领学,党员交流发言。",
                "content": f"围绕“{topic}”讲授,党员交流学习体会。"}
    if "votes" in {f.key for f in occ.obligation.form.fields.all()}:
        elements["votes"] = {"for": len(present), "against": 0, "abstain": 0}
    if "lecturer" in {f.key for f in occ.obligation.form.fields.filter(type="lecturer")}:
        elements["lecturer"] = _lecturer(occ, day, rng)
    if incomplete:
        elements.pop("speeches")
        elements.pop("content")
    services.record_save(occ, actor=None, elements={k: v for k, v in elements.items() if k in {f.key for f in occ.obligation.form.fields.all()}})
    marks = {m.pk: ("present", "") for m in present}
    marks.update({m.pk: ("leave", rng.choice(["出差", "病假", "值班"])) for m in absent})
    if marks:
        services.attendance_save(occ, actor=None, marks=marks)
    if services.review_field(occ) is not None:  # 民主评议: every 党员 graded by the 党员大会
        subjects = list(services.review_subjects(occ).order_by("pk"))
        services.review_save(occ, actor=None, decided_by="general_meeting", rows={
            m.pk: {"self": "对照党章和合格党员标准作了党性分析", "mutual": "同志们提出了意见建议",
                   "grade": "优秀" if i == 0 else "合格", "poll": {"优秀" if i == 0 else "合格": len(present)}}
            for i, m in enumerate(subjects)})
    if not roster:
        return
    owner = present[0] if present else roster[0]
    if occ.obligation.form.fields.filter(type="resolutions", required=True).exists():
        services.followup_add(occ, actor=None, text=f"落实“{topic}”学习安排", owner=owner, due_date=day + dt.timedelta(days=30))
    services.record_submit(occ, actor=None, held_on=day)
    if incomplete:
        return
    services.record_check(occ, actor=admin, password=signed)
    for fu in occ.record.followups.all():
        done = min(fu.due_date, timezone.localdate())
        services.followup_done(fu, actor=None, done_on=done, outcome="已按期完成")
    services.occurrence_close(occ, actor=None)


# ------------------------------------------------------------------ 发展党员 (a demo step)

#: (name, gender, the step the applicant's next action is, days ago of the application)
APPLICANTS = [
    ("王晓雨", "F", "talk", 40),             # 申请入党: the talk is overdue
    ("陈思远", "M", "candidate_decide", 260),  # 入党积极分子: not yet a year
    ("刘佳怡", "F", "committee_review", 560),  # 发展对象: training done, 支委会 next
    ("赵宇航", "M", "vote", 600),              # 预备党员的接收: 支部大会 next
    ("孙明哲", "M", "probation_assessment", 700),  # 预备期
]
RECRUIT_BRANCH = "HX-Z1-B1"


def _demo_id(n: int, birth: dt.date) -> str:
    body = f"510107{birth:%Y%m%d}{600 + n:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]


def recruitment_step(root, admin, progress=None) -> str:
    """Applicants at every stage of 发展党员 in one branch of the demo committee, each step through
    the services (so the ledger, the Member's category and the work items are real)."""
    from qms.models import Member
    from workflows import recruitment_services as rs
    from workflows.recruitment import SAMPLE_FIELDS
    from workflows.services import roster_on

    unit = Unit.objects.filter(code=RECRUIT_BRANCH).first()
    if unit is None:
        return "没有示例党支部,跳过"
    today = timezone.localdate()
    full = list(Member.objects.filter(memberships__unit=unit, memberships__end__isnull=True, category=MemberCategory.FULL)
                .order_by("pk").values_list("pk", flat=True))
    # offsets (days after the application) of each step, the 细则's time rules respected
    plan = [("talk", 20), ("activist_decide", 30), ("activist_file", 35), ("contacts", 40), ("assessment", 200),
            ("candidate_decide", 400), ("candidate_file", 405), ("sponsors", 410), ("political_review", 420),
            ("training", 430), ("committee_review", 440), ("pre_review", 455), ("form", 460), ("vote", 470),
            ("higher_talk", 480), ("approve", 500), ("approve_file", 505), ("join_group", 510), ("oath", 515)]
    made = 0
    for n, (name, gender, until, ago) in enumerate(APPLICANTS):
        birth = dt.date(1996 + n, 3 + n, 10 + n)
        start = today - dt.timedelta(days=ago)
        a = rs.applicant_register(actor=admin, unit=unit, name=name, gender=gender, id_number=_demo_id(n, birth),
                                  birth_date=birth, applied_on=start)
        for key, offset in plan:
            if key == until:
                break
            day = start + dt.timedelta(days=offset)
            extra: dict = {}
            if key == "contacts":
                extra = {"people": full[:1]}
            elif key == "sponsors":
                extra = {"people": full[:2]}
            elif key == "training":
                extra = {"days": 3, "hours": 24}
            elif key == "pre_review":
                extra = {"notice_start": day - dt.timedelta(days=12), "notice_end": day - dt.timedelta(days=2),
                         "document_no": f"华兴党委〔{day.year}〕{20 + n}号"}
            elif key == "approve":
                extra = {"document_no": f"华兴党委〔{day.year}〕{40 + n}号"}
            elif key == "vote":
                present = list(roster_on(unit, day).filter(category=MemberCategory.FULL).values_list("pk", flat=True))
                extra = {"present": present, "for": len(present)}
            rs.record_step(a, actor=admin, step=key, done_on=day, fields=SAMPLE_FIELDS.get(key, {}), **extra)
            a.refresh_from_db()
        made += 1
    return f"发展党员:{made} 名对象,分处五个阶段(示例党支部 {unit.name})"
