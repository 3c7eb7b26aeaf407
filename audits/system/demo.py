"""Demo (called from ``audits.demo.system_step``): the demo committee's interested parties and
environment, a few risks and opportunities (one action raised as a ticket), training records for
a branch secretary and the internal auditor, and one 党员满意度 survey with its answers."""
from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.utils import timezone

from audits.system import services as system
from qms.models import Member, Unit


def build(root: Unit, admin) -> str:
    today = timezone.localdate()
    parties = system.parties_seed(actor=admin, root=root)
    system.issue_add(actor=admin, root=root, kind="external", text="上级党组织对基层党建考核要求提高,检查频次增加",
                     effect="考核项目和资料要求增加", monitoring="上级文件、检查通报")
    system.issue_add(actor=admin, root=root, kind="internal", text="生产一线倒班,党员难以集中参加组织生活",
                     effect="三会一课按期开展率受影响", monitoring="执行情况热力图、支部书记月报")
    users = {u.username: u for u in get_user_model().objects.filter(username__in=("shuji_b1", "neishen"))}
    people = {k: Member.objects.filter(user=u).first() for k, u in users.items()}
    owner = people.get("shuji_b1") or Member.objects.filter(memberships__unit__path__startswith=root.path,
                                                            memberships__end__isnull=True).order_by("pk").first()
    branch = Unit.objects.filter(code="HX-Z1-B1").first() or root
    shift = system.risk_add(actor=admin, root=root, kind="risk", title="倒班支部不能按期召开支部党员大会", process="三会一课",
                            likelihood=4, impact=4, action="按轮班表提前排定全季度会期,缺席党员补学", owner=owner,
                            due_date=today + dt.timedelta(days=45))
    system.risk_raise_ticket(shift, actor=admin, unit=branch)
    system.risk_add(actor=admin, root=root, kind="risk", title="流动党员联系不上,党费和组织生活脱节", process="党员管理",
                    likelihood=3, impact=3, action="建立流动党员台账,每季度联系一次", owner=owner, due_date=today + dt.timedelta(days=60))
    system.risk_add(actor=admin, root=root, kind="opportunity", title="线上学习平台提高学习覆盖面", process="党员教育",
                    likelihood=3, impact=2, action="在倒班支部试点线上学习积分", owner=owner, due_date=today + dt.timedelta(days=90))
    trained = 0
    if people.get("shuji_b1"):
        unit = Unit.objects.filter(code="HX-Z1-B1").first() or root
        system.training_record(actor=admin, unit=unit, member=people["shuji_b1"], course="新任党支部书记任前培训班", hours=8,
                               taken_on=today - dt.timedelta(days=400), requirement="preservice")
        system.training_record(actor=admin, unit=unit, member=people["shuji_b1"], course="党支部书记年度轮训", hours=16,
                               taken_on=today - dt.timedelta(days=340), requirement="rotation")
        trained += 2
    if people.get("neishen"):
        unit = Unit.objects.filter(code="HX-Z3-B1").first() or root
        system.training_record(actor=admin, unit=unit, member=people["neishen"], course="党建质量管理体系内审员培训", hours=16,
                               taken_on=today - dt.timedelta(days=200), requirement="auditor")
        trained += 1
    survey = system.survey_create(actor=admin, root=root, title=f"{today.year}年度党员满意度调查", population="members",
                                  start=today - dt.timedelta(days=10), end=today + dt.timedelta(days=20),
                                  questions=[{"text": "组织生活的质量", "kind": "scale"}, {"text": "学习教育的针对性", "kind": "scale"},
                                             {"text": "党组织联系服务党员", "kind": "scale"},
                                             {"text": "对党建工作的总体评价", "kind": "choice", "choices": ["满意", "基本满意", "不满意"]}])
    q1, q2, q3, q4 = survey.questions.all()
    system.survey_tally(survey, actor=admin, respondents=48,
                        counts={q1.pk: {"5": 20, "4": 18, "3": 7, "2": 3}, q2.pk: {"5": 15, "4": 17, "3": 12, "2": 4},
                                q3.pk: {"5": 22, "4": 19, "3": 5, "1": 2}, q4.pk: {"满意": 36, "基本满意": 10, "不满意": 2}})
    system.survey_answer(survey, actor=admin, answers={q1.pk: "4", q2.pk: "3", q3.pk: "5", q4.pk: "基本满意"})
    return f"相关方 {len(parties)} 个;风险和机遇 3 项(立项 1 项);培训记录 {trained} 条;满意度调查 1 次(答卷 49 份)"
