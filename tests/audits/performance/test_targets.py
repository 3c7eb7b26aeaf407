"""目标管理(层层分解): a hand-built tree 党委 → 总支 → 支部 → 党小组 → 党员 with targets cascaded
to member level, progress rolled up (sums for counts, means for rates, computed rates from the
records), each refusal with nothing half-saved, and the missed-target ticket (a controllable
clock, raised once)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from audits.capa.models import NCSource, Nonconformity
from audits.performance import targets as tsvc
from audits.performance.models import Target, TargetReport, TargetTask
from procedures.library_loader import load_library
from qms import ledger
from qms import services as core
from qms.models import LedgerEntry, Role
from qms.permissions import NotPermitted
from tests import factories
from tests.audits.performance.test_objectives_scoring import _occurrences
from workflows.models import State

pytestmark = pytest.mark.django_db
Y = 2026
D = dt.date
YEAR_END, DEC_1 = D(Y, 12, 31), D(Y, 12, 1)


@pytest.fixture
def org(tree):
    """small_tree with logins: a 体系管理员 over the committee, B1's secretary, two members of
    B1 (one owns targets), and B2's secretary (outside B1)."""
    admin = factories.user("admin", first_name="周管理")  # pages show names, never logins
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=tree["committee"], valid_from=D(2020, 1, 1))
    people = {}
    for key, m in (("sec_b1", tree["m1"][2]), ("owner", tree["m1"][0]), ("peer", tree["m1"][1]), ("sec_b2", tree["m2"][0])):
        people[key] = factories.user(key)
        core.member_update(m, actor=None, reason="账号", user=people[key])
    core.position_assign(actor=None, member=tree["m1"][2], unit=tree["b1"], title="secretary", start=D(2024, 1, 1))
    core.position_assign(actor=None, member=tree["m2"][0], unit=tree["b2"], title="secretary", start=D(2024, 1, 1))
    return {**tree, "admin": admin, **people}


def _add(org, owner, value, parent=None, *, measure="study_notes", due=YEAR_END, actor=None, title=None):
    member = owner if not hasattr(owner, "path") else None
    return tsvc.target_add(actor=actor or org["admin"], year=Y, measure=measure, title=title or f"分解目标 {value}",
                           value=Decimal(str(value)), due_date=due, unit=None if member else owner, parent=parent,
                           member=member, source="seed 004 篇8" if parent is None else "")


def cascade(org):
    """学习心得 (counts, sum): 党委 20 → 总支 20 → B1 12 (→ 党小组一 6 → two members 3 + 3; → one
    member 4), B2 8; 满意度 (rate, mean): 党委 90 → B1, B2."""
    c = _add(org, org["committee"], 20)
    g = _add(org, org["general"], 20, c)
    b1 = _add(org, org["b1"], 12, g)
    b2 = _add(org, org["b2"], 8, g)
    g1 = _add(org, org["g1"], 6, b1, actor=org["sec_b1"])
    m_a = _add(org, org["m1"][1], 3, g1, actor=org["sec_b1"])
    m_b = _add(org, org["m1"][3], 3, g1, actor=org["sec_b1"])
    own = _add(org, org["m1"][0], 4, b1, actor=org["sec_b1"], due=D(Y, 6, 30))
    return {"c": c, "g": g, "b1": b1, "b2": b2, "g1": g1, "m_a": m_a, "m_b": m_b, "own": own}


def _nodes(org, unit=None, today=DEC_1):
    return {n.target.pk: n for n in tsvc.flat(tsvc.tree(unit or org["committee"], Y, today=today))}


def test_cascade_to_member_level_rolls_up_sums(org):
    t = cascade(org)
    assert t["own"].unit == org["g2"] and t["own"].member == org["m1"][0]  # a member's target sits in their 党小组
    tsvc.target_report(t["m_a"], actor=org["peer"], value="2", note="写了两篇")  # the owner themself
    tsvc.target_report(t["m_b"], actor=org["sec_b1"], value="3", note="书记代填")  # the branch's secretary
    tsvc.target_report(t["own"], actor=org["owner"], value="4", note="已完成")
    tsvc.target_report(t["b2"], actor=org["sec_b2"], value="8", note="八篇")
    n = _nodes(org)
    assert (n[t["g1"].pk].progress, n[t["g1"].pk].how) == (Decimal(5), "下级合计")
    assert n[t["b1"].pk].progress == 9 and n[t["g"].pk].progress == 17 and n[t["c"].pk].progress == 17
    assert n[t["own"].pk].met is True and n[t["g1"].pk].met is False and n[t["c"].pk].met is False
    assert [x.depth for x in tsvc.flat(tsvc.tree(org["committee"], Y))][:3] == [0, 1, 2]
    # a later report replaces the earlier one; the tree of B1 starts at B1's targets
    tsvc.target_report(t["m_a"], actor=org["peer"], value="3", note="补写一篇")
    n = _nodes(org, org["b1"])
    assert set(n) == {t[k].pk for k in ("b1", "g1", "m_a", "m_b", "own")}
    assert n[t["b1"].pk].progress == 10
    assert LedgerEntry.objects.filter(action="target.report").count() == 5
    assert LedgerEntry.objects.filter(action="target.add").count() == 8


def test_rates_roll_up_as_means_and_computed_rates_come_from_the_records(org):
    load_library()
    _occurrences(org["b1"], [State.HELD, State.HELD], due=D(Y, 3, 31))
    _occurrences(org["b2"], [State.HELD, State.MISSED], due=D(Y, 3, 31))
    c = _add(org, org["committee"], 95, measure="sanhui")
    g = _add(org, org["general"], 95, c, measure="sanhui")
    b1, b2 = _add(org, org["b1"], 95, g, measure="sanhui"), _add(org, org["b2"], 95, g, measure="sanhui")
    s = _add(org, org["committee"], 90, measure="satisfaction")
    s1, s2 = _add(org, org["b1"], 90, s, measure="satisfaction"), _add(org, org["b2"], 90, s, measure="satisfaction")
    tsvc.target_report(s1, actor=org["sec_b1"], value="80", note="问卷")
    tsvc.target_report(s2, actor=org["sec_b2"], value="100", note="问卷")
    n = _nodes(org)
    assert (n[b1.pk].progress, n[b1.pk].how) == (Decimal("100.0"), "系统计算")
    assert n[b2.pk].progress == Decimal("50.0") and n[g.pk].progress == Decimal("75.0") and n[c.pk].progress == Decimal("75.0")
    assert n[b1.pk].met and not n[c.pk].met
    assert (n[s.pk].progress, n[s.pk].how) == (Decimal("90.0"), "下级平均") and n[s.pk].met
    # rates are not additive: three children of 90 % under a parent of 90 % are fine
    _add(org, org["general"], 90, s, measure="satisfaction")
    with pytest.raises(ValidationError, match="由系统按记录计算"):
        tsvc.target_report(b1, actor=org["admin"], value="100", note="手填")


def _refused(fn, match):
    head, counts = ledger.head(), (Target.objects.count(), TargetReport.objects.count(), TargetTask.objects.count())
    with pytest.raises((ValidationError, NotPermitted), match=match):
        fn()
    assert ledger.head() == head
    assert (Target.objects.count(), TargetReport.objects.count(), TargetTask.objects.count()) == counts


def test_a_child_whose_owner_is_not_below_the_parent_is_refused(org):
    t = cascade(org)
    _refused(lambda: _add(org, org["b2"], 1, t["b1"]), "第二党支部不是第一党支部的下级组织")
    _refused(lambda: _add(org, org["b1"], 1, t["b1"]), "不是第一党支部的下级组织")
    _refused(lambda: _add(org, org["committee"], 1, t["g"]), "测试党委不是第一党总支的下级组织")
    _refused(lambda: _add(org, org["m2"][1], 1, t["b1"]), "二支部1不在第一党支部")
    _refused(lambda: _add(org, org["m1"][1], 1, t["g1"].children.first() or t["m_a"]), "党员个人目标不能再分解")
    _refused(lambda: _add(org, org["m1"][1], 1, None), "须从所在组织的目标分解")
    _refused(lambda: _add(org, org["b1"], 1, t["g"], measure="volunteer"), "下级目标的指标应与上级目标相同")
    _refused(lambda: _add(org, org["m1"][1], 50, None, measure="sanhui"), "须从所在组织的目标分解")


def test_children_summing_above_an_additive_parent_are_refused(org):
    t = cascade(org)
    _refused(lambda: _add(org, org["g2"], 3, t["b1"]), "下级目标合计 13篇,超过上级目标 12篇")
    _add(org, org["g2"], 2, t["b1"])  # exactly up to the parent is fine
    _refused(lambda: _add(org, org["b2"], 1, t["g"]), "已承接该目标")
    _refused(lambda: _add(org, org["m1"][3], 5, None, measure="study_notes"), "须从所在组织的目标分解")
    _refused(lambda: _add(org, org["g2"], 1, t["b1"], due=D(Y + 1, 1, 31)), f"完成期限应在 {Y} 年内")
    _refused(lambda: _add(org, org["general"], 0, None), "目标值应大于 0")
    _refused(lambda: _add(org, org["general"], 120, None, measure="satisfaction"), "百分比目标值不能超过 100")
    _refused(lambda: tsvc.target_add(actor=org["admin"], year=Y, measure="nothing", title="x", value=1, due_date=D(Y, 5, 1),
                                     unit=org["b1"]), "请选择目标的指标")


def test_only_the_owner_or_its_officers_report_progress(org):
    t = cascade(org)
    _refused(lambda: tsvc.target_report(t["own"], actor=org["peer"], value="1", note="代填"), "您无权填报目标进度")
    _refused(lambda: tsvc.target_report(t["own"], actor=org["sec_b2"], value="1", note="代填"), "您无权填报目标进度")
    _refused(lambda: tsvc.target_report(t["b1"], actor=org["owner"], value="1", note="代填"), "您无权")
    _refused(lambda: tsvc.target_report(t["g1"], actor=org["sec_b1"], value="1", note="汇总"), "进度由下级目标汇总")
    _refused(lambda: tsvc.target_report(t["own"], actor=org["owner"], value="1", note=" "), "请填写进度说明")
    _refused(lambda: tsvc.target_report(t["own"], actor=org["owner"], value="-1", note="x"), "不小于 0")
    # cascading is the officers' act: a member may not set targets
    _refused(lambda: _add(org, org["m1"][3], 1, t["b1"], actor=org["owner"]), "您无权设定和分解目标")
    _refused(lambda: _add(org, org["g1"], 1, t["b2"], actor=org["sec_b1"]), "您无权设定和分解目标")
    tsvc.target_report(t["own"], actor=org["owner"], value="1", note="本人")


def test_monthly_tasks_planned_done_and_overdue(org):
    t = cascade(org)
    a = tsvc.task_add(t["own"], actor=org["sec_b1"], month=3, text="撰写学习心得")
    b = tsvc.task_add(t["own"], actor=org["sec_b1"], month=5, text="交流心得")
    tsvc.task_add(t["own"], actor=org["sec_b1"], month=6, text="总结")
    _refused(lambda: tsvc.task_add(t["own"], actor=org["sec_b1"], month=7, text="太晚"), "不能晚于目标的完成期限")
    _refused(lambda: tsvc.task_add(t["own"], actor=org["sec_b1"], month=13, text="x"), "请选择月份")
    _refused(lambda: tsvc.task_add(t["own"], actor=org["owner"], month=4, text="x"), "您无权")
    tsvc.task_done(a, actor=org["owner"], done_on=D(Y, 3, 20))
    _refused(lambda: tsvc.task_done(a, actor=org["owner"]), "已于 2026-03-20 登记完成")
    _refused(lambda: tsvc.task_done(b, actor=org["peer"]), "您无权")
    cells = {c.task.text: c.state for c in _nodes(org, today=D(Y, 6, 3))[t["own"].pk].tasks}
    assert cells == {"撰写学习心得": "done", "交流心得": "overdue", "总结": "planned"}


def test_a_missed_target_raises_one_ticket_once(org):
    t = cascade(org)
    tsvc.target_report(t["own"], actor=org["owner"], value="1", note="只写了一篇")
    met = _add(org, org["m1"][2], 2, t["b1"], actor=org["sec_b1"], due=D(Y, 6, 30))
    tsvc.target_report(met, actor=org["sec_b1"], value="2", note="完成")
    assert tsvc.raise_missed(today=D(Y, 6, 30)) == 0  # not yet past due
    assert tsvc.raise_missed(today=D(Y, 7, 1)) == 1
    nc = Nonconformity.objects.get(source=NCSource.TARGET_MISSED)
    assert nc.unit == org["g2"] and "学习心得体会达到 4篇" in nc.requirement and "完成 1篇(填报)" in nc.evidence
    assert Target.objects.get(pk=t["own"].pk).nonconformity == nc
    assert LedgerEntry.objects.filter(action="target.missed", obj_id=str(t["own"].pk)).count() == 1
    assert tsvc.raise_missed(today=D(Y, 7, 2)) == 0  # idempotent
    # at the year's end every unmet target of the tree is raised, each once
    assert tsvc.raise_missed(today=D(Y + 1, 1, 1)) == 7
    assert tsvc.raise_missed(today=D(Y + 1, 1, 2)) == 0
    assert Nonconformity.objects.filter(source=NCSource.TARGET_MISSED).count() == 8


def test_the_daily_task_is_scheduled_and_runs(org):
    from audits.tasks import raise_missed_targets_task
    from qms.celery import app

    assert app.conf.beat_schedule["raise-missed-targets"]["task"] == "audits.raise_missed_targets"
    assert raise_missed_targets_task.name in app.tasks
    _add(org, org["b1"], 3, None, due=D(Y, 1, 31))  # past due on the real clock (the brief runs after January)
    assert raise_missed_targets_task.delay().get() == 1
    assert raise_missed_targets_task.delay().get() == 0


def test_a_target_is_adjusted_with_its_reason_and_the_cascade_stays_whole(org):
    t = cascade(org)
    tsvc.target_set(t["b2"], actor=org["admin"], value="6", due_date=D(Y, 11, 30), reason="支部人数减少")
    b2 = Target.objects.get(pk=t["b2"].pk)
    assert (b2.value, b2.due_date) == (Decimal(6), D(Y, 11, 30))
    entry = LedgerEntry.objects.filter(action="target.amend").get()
    assert entry.reason == "支部人数减少"
    _refused(lambda: tsvc.target_set(t["b2"], actor=org["admin"], value="9", due_date=YEAR_END, reason="增加"),
             "调整后下级目标合计 21篇,超过上级目标 20篇")
    _refused(lambda: tsvc.target_set(t["b1"], actor=org["admin"], value="9", due_date=YEAR_END, reason="减少"),
             "下级目标已合计 10篇,调整后的目标不能低于此数")
    _refused(lambda: tsvc.target_set(t["b1"], actor=org["admin"], value="12", due_date=D(Y, 5, 31), reason="提前"),
             "不能早于下级目标的完成期限")
    _refused(lambda: tsvc.target_set(t["b1"], actor=org["admin"], value="12", due_date=YEAR_END, reason=" "), "须说明原因")
    _refused(lambda: tsvc.target_set(t["b1"], actor=org["sec_b1"], value="12", due_date=YEAR_END, reason="自己改"),
             "您无权设定和分解目标")  # a branch's own target is adjusted by the level that set it
    tsvc.target_set(t["own"], actor=org["sec_b1"], value="3", due_date=D(Y, 6, 30), reason="调整")


def test_the_page_shows_the_adjust_form_in_the_page_and_adjusts(org, client):
    """调整目标 is a form on the page (not lost in the tab's title), and it adjusts with the reason."""
    t = cascade(org)
    client.force_login(org["admin"])
    url = f"/audits/targets/{org['general'].code}/{Y}/"
    page = client.get(url).content.decode()
    title, main = page.split("</title>")[0], page.split("<main>")[1]
    assert "<form" not in title and "<h2>调整目标</h2>" in main
    r = client.post(url, {"action": "amend", "target": t["b2"].pk, "value": "6", "due_date": f"{Y}-11-30",
                          "reason": "支部人数减少"})
    assert r.status_code == 302
    assert Target.objects.get(pk=t["b2"].pk).value == Decimal(6)
