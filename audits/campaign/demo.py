"""The demo committee's 检查活动 in progress (called once from audits/demo.py), the 整治 stage of
its three-year plan: announced twenty days ago, most units' 自查报告 in by the deadline and a few late, two 检查小组, a sample drawn
with a recorded seed, half of the sampled units inspected and two findings raised."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from audits.campaign import services as svc
from audits.campaign.models import CampaignUnit

SEED = 2026


def campaign_demo(root, admin) -> str:
    rng = random.Random(SEED)
    today = timezone.localdate()
    users = {u.username: u for u in get_user_model().objects.filter(username__in=("shuji_b1", "zongzhi", "neishen"))}
    announced = today - dt.timedelta(days=20)
    plan = svc.plan_create(actor=admin, root=root, title="机关党建“灯下黑”问题三年整治计划", start_year=announced.year)
    c = svc.campaign_announce(actor=admin, root=root, title=f"{announced.year}年机关党建工作“自查+抽查”专项检查",
                              deadline=today - dt.timedelta(days=5), today=announced, plan=plan, stage="rectify")
    entries = list(c.units.select_related("unit").order_by("unit__path"))
    items = list(c.items.order_by("order"))
    late = {e.pk for e in entries[-3:]}  # three units miss the deadline
    for e in entries:
        if e.pk in late:
            continue
        actor = users["shuji_b1"] if e.unit.code == "HX-Z1-B1" and "shuji_b1" in users else admin
        scores = {i.pk: (i.max_score * Decimal(str(rng.choice((0.8, 0.9, 0.95, 1.0))))).quantize(Decimal("0.1")) for i in items}
        svc.self_assess_submit(e, actor=actor, today=today - dt.timedelta(days=8), scores=scores,
                               report=f"{e.unit.name}对照检查表逐项自查:“三会一课”基本落实,学习教育形式较单一,党务公开不够及时,已列出问题清单并明确整改时限。")
    staff = set(svc.inspectors_of(root).values_list("pk", flat=True))
    first = [admin] + [u for k, u in users.items() if k == "neishen" and u.pk in staff]
    svc.team_create(c, actor=admin, name="第一检查小组", leader=admin, members=first)
    if "zongzhi" in users and users["zongzhi"].pk in staff:
        svc.team_create(c, actor=admin, name="第二检查小组", leader=users["zongzhi"])
    drawn = svc.sample_draw(c, actor=admin, seed=SEED, today=today)
    inspected = 0
    for e in drawn[: (len(drawn) + 1) // 2]:
        e = CampaignUnit.objects.select_related("team", "unit").get(pk=e.pk)
        own = {s.item_id: s.self_score for s in e.scores.all()}
        scores = {i.pk: max(Decimal(0), (own.get(i.pk) or i.max_score) - Decimal(rng.choice((0, 1, 2, 3)))) for i in items}
        svc.inspection_record(e, actor=e.team.leader, visited_on=today - dt.timedelta(days=1), scores=scores,
                              visit_notes="实地查看党员活动室、党务公开栏和“三会一课”记录本",
                              archive_notes="查阅本年度支部党员大会、支委会、党小组会和党课记录,换届及党费台账",
                              forum_sessions=1, forum_attendance=rng.randint(6, 12), forum_notes="党员反映学习形式较单一,希望增加实践活动",
                              questionnaires_issued=20, questionnaires_returned=18, questionnaires_satisfied=rng.randint(14, 18))
        inspected += 1
        if inspected <= 2:
            svc.finding_raise(e, actor=e.team.leader, item=items[inspected], grade="minor",
                              evidence=f"{e.unit.name}:{items[inspected].text[:12]}方面记录不全,座谈中党员反映落实不到位")
    return f"检查活动 1 项:受检单位 {len(entries)} 个,逾期 {len(late)} 个,抽中 {len(drawn)} 个,已检查 {inspected} 个,检查发现 2 项"
