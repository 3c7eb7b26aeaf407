"""Demo step: the demo committee's 联系组 and 协作组 — two 联系组 by business (生产运行、检修 and
经营、机关), one 协作组 across them, activities held this year (one period left without), and two
联系点 (one summed up). Through the services and the ledger; a handful of rows."""
from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.utils import timezone

from qms.models import Member, Position, Unit
from workflows import coalitions
from workflows.models import Coalition

GROUPS = [
    ("liaison", "生产联系组", "行政业务工作性质相近(发电运行、设备检修)",
     ["HX-Z1-B1", "HX-Z1-B2", "HX-Z1-B3", "HX-Z1-B4", "HX-Z2-B1", "HX-Z2-B2", "HX-Z2-B3"], "HX-Z1-B1",
     "交流党建与安全生产融合的做法,联合开展主题党日", "联席会议、现场观摩、联合主题党日"),
    ("liaison", "经营机关联系组", "行政业务工作性质相近、办公地点相近(营销服务、机关、后勤)",
     ["HX-Z3-B1", "HX-Z3-B2", "HX-Z3-B3", "HX-B1", "HX-B2", "HX-LH"], "HX-B1",
     "交流服务型党组织建设、机关作风建设", "联席会议、经验交流会"),
    ("cooperation", "党建工作协作一组", "统筹生产与经营单位的督办落实和考核验收",
     ["HX-Z1-B1", "HX-Z2-B1", "HX-Z3-B1", "HX-B1"], "HX-B1",
     "沟通联系、督办落实、考核验收统一组织", "联席会议、统一考核验收"),
]


def coalition_step(root, admin, progress=None) -> str:
    if Coalition.objects.filter(root=root).exists():
        return "联系组:已有,未建立"
    units = {u.code: u for u in Unit.objects.filter(path__startswith=root.path)}
    today = timezone.localdate()
    made = []
    try:
        for kind, name, basis, codes, lead, content, form in GROUPS:
            members = [units[c] for c in codes if c in units]
            if len(members) < 2 or lead not in units:
                continue
            head = (Position.objects.filter(unit=units[lead], title="secretary", end__isnull=True)
                    .select_related("member").first())
            made.append(coalitions.coalition_create(
                actor=None, root=root, kind=kind, name=name, basis=basis, units=members, lead_unit=units[lead],
                leader=head.member if head else None, content=content, form=form,
                leadership="组长单位书记任组长,党委组织部负责指导"))
        held = 0
        for c in made:  # an activity in each past quarter but one (the gap shows on the matrix)
            members = list(c.units.order_by("path"))
            for q in range(4):
                day = dt.date(today.year, 3 * q + 2, 15)
                if day > today or (c.kind == "liaison" and q == 1 and c.name.startswith("经营")):
                    continue
                coalitions.meeting_record(c, actor=None, held_on=day, topic=f"{q + 1}季度联席会议", place="集团党建活动室",
                                          units_present=members[:-1] if q % 2 else members,
                                          attendance=2 * len(members), minutes="通报各单位党建重点工作进展,议定下季度联合活动安排")
                held += 1
        officers = list(Member.objects.filter(positions__unit=root, positions__end__isnull=True).distinct().order_by("pk")[:2])
        points = 0
        for n, (code, theme) in enumerate((("HX-Z1-B1", "“党建+安全生产”融合清单"), ("HX-LH", "联合党支部规范化建设"))):
            if code in units and officers:
                p = coalitions.point_create(actor=None, root=root, unit=units[code], leader=officers[n % len(officers)],
                                            theme=theme, tasks="形成可复制的做法,年底前书面总结", due_on=dt.date(today.year, 12, 31))
                points += 1
                if n == 0:
                    coalitions.point_summarise(p, actor=None, summary="以清单明确每名党员的安全责任区,经验在各运行值推广")
    except ValidationError as exc:
        return f"联系组:未建立({'；'.join(exc.messages)})"
    return f"联系组、协作组 {len(made)} 个,活动 {held} 次;联系点 {points} 个"
