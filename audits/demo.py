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
from audits.performance.models import Target
from qms.demo import signing
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
        signed = signing(admin)  # the demo administrator's signature (password in qms/demo.py)
        capa.nc_verify(nc, actor=admin, note="查阅补开记录和会议安排表,属实", password=signed)
        capa.nc_close(nc, actor=admin, password=signed)
        closed += 1
    units = scoring.scored_units(scheme)
    manual = [i for i in scheme.items.all() if not i.indicator]
    for unit in units:
        for item in manual:
            value = (item.points * Decimal(str(rng.choice((0.7, 0.8, 0.85, 0.9, 1.0))))).quantize(Decimal("0.1"))
            scoring.score_enter(item, unit, "Y", actor=admin, value=value, note="全年点评:查阅资料、座谈了解")
    cascaded = targets_step(root, admin)
    return (f"党建目标 {len(scoring.objectives_status(root, year))} 项;考核单位 {len(units)} 个;立项整改 {len(raised)} 项(已关闭 {closed} 项);"
            f"{cascaded}")


def targets_step(root, admin) -> str:
    """目标管理 cascaded (seed 004 篇4, 篇8): the committee's 方针目标 on 学习心得 broken down to its
    first 总支, two of its branches, the groups of the first and three members of one group (the
    demo member among them); 三会一课执行率 down to the 总支's branches (computed); monthly
    重点工作 with the past months' done, and a few progress reports."""
    from audits.performance import targets as tsvc
    from qms.models import Unit

    today = timezone.localdate()
    year, end = today.year, dt.date(today.year, 12, 31)
    units = {u.code: u for u in Unit.objects.filter(code__startswith="HX-Z1")}
    zongzhi, b1, b2 = units.get("HX-Z1"), units.get("HX-Z1-B1"), units.get("HX-Z1-B2")
    if zongzhi is None or b1 is None or b2 is None:
        return "目标分解:演示组织不全,未分解"

    def add(owner, value, parent=None, *, measure="study_notes", title="全年撰写学习心得体会", member=None):
        return tsvc.target_add(actor=admin, year=year, measure=measure, title=title, value=Decimal(value), due_date=end,
                               unit=owner, parent=parent, member=member, source="seed 004 篇8:将目标落实到党支部、党小组和每个党员")

    top = add(root, 200, title="全委学习心得体会")
    z = add(zongzhi, 60, top, title="总支学习心得体会")
    tb1, tb2 = add(b1, 24, z, title="支部学习心得体会"), add(b2, 20, z, title="支部学习心得体会")
    groups = list(Unit.objects.filter(parent=b1, kind="group").order_by("code"))
    group_targets = [add(g, 5, tb1, title="党小组学习心得体会") for g in groups]
    demo_member = Member.objects.filter(user__username="dangyuan").first()
    ms = demo_member.current_membership() if demo_member else None
    people: list = []
    if ms is not None and ms.group_id in {g.pk for g in groups}:
        gt = next(t for t in group_targets if t.unit_id == ms.group_id)
        others = list(Member.objects.filter(memberships__group_id=ms.group_id, memberships__end__isnull=True)
                      .exclude(pk=demo_member.pk).order_by("pk")[:2])
        people = [add(None, 2 if i == 0 else 1, gt, member=m, title="个人撰写学习心得体会")
                  for i, m in enumerate((demo_member, *others))]
    rate = add(root, 95, measure="sanhui", title="三会一课执行率")
    zr = add(zongzhi, 95, rate, measure="sanhui", title="三会一课执行率")
    for code in ("HX-Z1-B1", "HX-Z1-B2", "HX-Z1-B3", "HX-Z1-B4"):
        if code in units:
            add(units[code], 95, zr, measure="sanhui", title="三会一课执行率")
    # monthly 重点工作: the committee's every quarter, the branch's and the member's monthly; past months done
    tasks = [(top, m, "部署并检查学习心得撰写") for m in (3, 6, 9, 12)]
    tasks += [(tb1, m, f"{m}月集中学习并交流心得") for m in range(1, 13)]
    tasks += [(t, m, f"{m}月撰写学习心得") for t in people[:1] for m in range(1, 13, 2)]
    done = 0
    for target, month, text in tasks:
        task = tsvc.task_add(target, actor=admin, month=month, text=text)
        if month < today.month and (month + done) % 5:  # most past months done; a few left overdue
            tsvc.task_done(task, actor=admin, done_on=min(tsvc.month_end(year, month), today))
            done += 1
    reporter = demo_member.user if demo_member is not None else admin
    for n, t in enumerate(people):
        tsvc.target_report(t, actor=reporter if n == 0 else admin, value=Decimal(1 + (n == 0)), note="已撰写并交党小组交流")
    tsvc.target_report(tb2, actor=admin, value=Decimal(12), note="支部汇总上报")
    count = Target.objects.filter(year=year, unit__path__startswith=root.path).count()
    return f"分解目标 {count} 项(其中党员个人目标 {len(people)} 项),月度重点工作 {len(tasks)} 项(已完成 {done} 项)"


def campaign_step(root, admin, progress=None) -> str:
    """检查活动 in progress (audits/campaign/demo.py)."""
    from audits.campaign.demo import campaign_demo

    return campaign_demo(root, admin)


def certification_step(root, admin, progress=None) -> str:
    """The demo committee's certificate, a surveillance audit due and an external finding open."""
    from audits.certification.demo import certificate_step

    return certificate_step(root, admin)


def system_step(root, admin, progress=None) -> str:
    """体系策划与支持: interested parties, risks (one raised as a ticket), training records, a survey."""
    from audits.system.demo import build

    return build(root, admin)
