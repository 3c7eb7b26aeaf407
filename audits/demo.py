"""Demo step (registered in AppConfig.ready): the year's 党建目标 and 考核方案 for the demo
committee, a few gaps raised as nonconformities with one taken to verified closure, and the
inspectors' scores — so 整改率, the objectives and the ranking have something to show."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from audits.capa import services as capa
from audits.performance import scoring
from qms.models import Member
from workflows.models import Occurrence, State

SEED = 2026


def improvement_step(root, admin, progress=None) -> str:
    rng = random.Random(SEED)
    year = timezone.localdate().year
    scoring.objectives_seed(root, year, actor=admin)
    scheme = scoring.scheme_seed(root, year, actor=admin)
    gaps = list(Occurrence.objects.filter(unit__path__startswith=root.path, state=State.MISSED, nonconformities__isnull=True)
                .select_related("unit", "obligation", "obligation__version__document").order_by("due_date", "unit__path")[:6])
    raised = [capa.nc_raise_from_gap(o, actor=admin) for o in gaps]
    secretary = get_user_model().objects.filter(username="shuji_b1").first()
    closed = 0
    for nc in raised:
        if secretary is None or nc.unit.code != "HX-Z1-B1" or closed:
            continue
        owner = Member.objects.filter(memberships__unit=nc.unit, memberships__end__isnull=True).order_by("pk").first()
        capa.nc_acknowledge(nc, actor=secretary)
        capa.nc_analyse(nc, actor=secretary, why=["为什么没有按期开展?", "值班倒班,人员难以集中", "未提前排定会议时间"],
                        root_cause="倒班支部未按轮班表提前排定会议时间")
        capa.nc_plan(nc, actor=secretary, correction="补开会议并补齐记录", corrective_action="每季度初按轮班表排定全季度会议时间",
                     owner=owner, due_date=timezone.localdate() + dt.timedelta(days=20))
        capa.nc_implement(nc, actor=secretary, evidence="已补开并印发季度会议安排表", done_on=timezone.localdate())
        capa.nc_verify(nc, actor=admin, note="查阅补开记录和会议安排表,属实")
        capa.nc_close(nc, actor=admin)
        closed += 1
    units = scoring.scored_units(scheme)
    manual = [i for i in scheme.items.all() if not i.indicator]
    for unit in units:
        for item in manual:
            value = (item.points * Decimal(str(rng.choice((0.7, 0.8, 0.85, 0.9, 1.0))))).quantize(Decimal("0.1"))
            scoring.score_enter(item, unit, "Y", actor=admin, value=value, note="全年点评:查阅资料、座谈了解")
    return f"党建目标 {len(scoring.objectives_status(root, year))} 项;考核单位 {len(units)} 个;立项整改 {len(raised)} 项(已关闭 {closed} 项)"


def system_step(root, admin, progress=None) -> str:
    """体系策划与支持: interested parties, risks (one raised as a ticket), training records, a survey."""
    from audits.system.demo import build

    return build(root, admin)
