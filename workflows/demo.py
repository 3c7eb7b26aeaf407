"""Demo step: the past twelve months of 三会一课 for the demo committee — most meetings held
and closed, some late, some missed, some with incomplete records — so the compliance
heatmap shows real colour. Everything goes through the services (and the ledger)."""
from __future__ import annotations

import datetime as dt
import random

from django.core.exceptions import ValidationError
from django.utils import timezone

from workflows import services
from workflows.models import Occurrence, State
from workflows.scheduler import schedule

SEED = 20261124
TOPICS = ["学习贯彻党的二十大精神", "学习《中国共产党章程》", "重温入党誓词", "安全生产专题学习", "廉洁从业警示教育",
          "学习《中国共产党纪律处分条例》", "主题教育专题研讨", "迎七一主题党日", "民主议事:年度志愿服务安排"]


def history_step(root, admin, progress=None) -> str:
    rng = random.Random(SEED)
    today = timezone.localdate()
    schedule(today=today - dt.timedelta(days=365), through=today + dt.timedelta(days=92), root=root)
    past = list(Occurrence.objects.filter(unit__path__startswith=root.path, state=State.OPEN, period_end__lt=today,
                                          event__isnull=True, obligation__form__isnull=False)
                .select_related("unit", "obligation", "obligation__form").order_by("period_start", "unit__path"))
    counts = {"closed": 0, "late": 0, "incomplete": 0, "missed": 0}
    for i, occ in enumerate(past, start=1):
        if progress and (i % 100 == 0 or i == len(past)):
            progress(f"  执行记录 {i}/{len(past)}({i * 100 // len(past)}%)")
        roll = rng.random()
        if roll < 0.08:
            continue  # nothing held: becomes a gap below
        span = (occ.period_end - occ.period_start).days
        late = roll > 0.9 and occ.due_date + dt.timedelta(days=20) < today
        day = occ.due_date + dt.timedelta(days=rng.randint(3, 20)) if late else occ.period_start + dt.timedelta(days=rng.randint(0, max(span - 1, 0)))
        try:
            _hold(occ, day, rng, admin, incomplete=0.84 < roll <= 0.9)
        except ValidationError:
            continue
        occ.refresh_from_db()
        if occ.state == State.HELD:
            counts["incomplete"] += 1
        else:
            counts["late" if late else "closed"] += 1
    counts["missed"] = services.mark_missed()
    return f"过去一年:闭环 {counts['closed']} 项、逾期完成 {counts['late']} 项、要素不全待补 {counts['incomplete']} 项、未开展 {counts['missed']} 项"


def _hold(occ: Occurrence, day: dt.date, rng: random.Random, admin, *, incomplete: bool) -> None:
    topic = rng.choice(TOPICS)
    services.occurrence_plan(occ, actor=None, planned_date=day, place=rng.choice(["党员活动室", "三楼会议室", "班组学习室"]), topic=topic)
    roster = list(services.attendees_on(occ, day))
    if not occ.obligation.attendees and len(roster) > 60:  # a large unit's talks and checks: its committee takes part
        from qms.models import COMMITTEE_TITLES, Position

        roster = [p.member for p in Position.objects.filter(unit=occ.unit, title__in=COMMITTEE_TITLES, end__isnull=True).select_related("member")]
    present = [m for m in roster if rng.random() < 0.9]
    absent = [m for m in roster if m not in present]
    elements = {"time": f"{day.isoformat()}T09:00", "speeches": f"围绕“{topic}”,书记领学,党员交流发言。"}
    if "votes" in {f.key for f in occ.obligation.form.fields.all()}:
        elements["votes"] = {"for": len(present), "against": 0, "abstain": 0}
    if incomplete:
        elements.pop("speeches")
    services.record_save(occ, actor=None, elements={k: v for k, v in elements.items() if k in {f.key for f in occ.obligation.form.fields.all()}})
    marks = {m.pk: ("present", "") for m in present}
    marks.update({m.pk: ("leave", rng.choice(["出差", "病假", "值班"])) for m in absent})
    if marks:
        services.attendance_save(occ, actor=None, marks=marks)
    if not roster:
        return
    owner = present[0] if present else roster[0]
    if occ.obligation.form.fields.filter(type="resolutions", required=True).exists():
        services.followup_add(occ, actor=None, text=f"落实“{topic}”学习安排", owner=owner, due_date=day + dt.timedelta(days=30))
    services.record_submit(occ, actor=None, held_on=day)
    if incomplete:
        return
    services.record_check(occ, actor=admin)
    for fu in occ.record.followups.all():
        done = min(fu.due_date, timezone.localdate())
        services.followup_done(fu, actor=None, done_on=done, outcome="已按期完成")
    services.occurrence_close(occ, actor=None)
