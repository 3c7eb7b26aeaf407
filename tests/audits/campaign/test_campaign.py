"""自查 + 抽查 检查活动: a campaign from announcement through 自查, sampling (same seed → same
sample, strata respected), inspection records and findings to the summary; each refusal (a
self-assessment after the deadline, an inspector sampled into their own unit, a score outside
an item's range) leaves nothing half-saved; the summary command's output."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from audits.campaign import services as svc
from audits.campaign import summary
from audits.campaign.models import (
    Campaign,
    CampaignState,
    CampaignUnit,
    ItemScore,
    SelfEvidence,
    UnitState,
)
from audits.capa.models import Nonconformity
from qms import ledger
from qms import services as core
from qms.citations import cite
from qms.models import Notification, Role, UnitKind
from qms.permissions import NotPermitted
from tests import factories

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
START = TODAY - dt.timedelta(days=20)  # announced twenty days ago
DEADLINE = TODAY - dt.timedelta(days=5)  # the 自查 deadline has passed
BEFORE = TODAY - dt.timedelta(days=10)  # a day before the deadline


def _login(member, username):
    u = factories.user(username, first_name=member.name)
    core.member_update(member, actor=None, reason="账号", user=u)
    return u


@pytest.fixture
def org():
    """党委 C → 党总支 Z1 (4 支部), 党总支 Z2 (3 支部), 2 directly led 支部 and a 联合党支部; the
    committee's secretary is a member of Z1-B1; a 体系管理员 and a 内审员 over C; each branch's
    secretary has a login."""
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    z1 = factories.unit("Z1", UnitKind.GENERAL_BRANCH, parent=c, name="第一党总支")
    z2 = factories.unit("Z2", UnitKind.GENERAL_BRANCH, parent=c, name="第二党总支")
    branches = [factories.unit(f"Z1-B{i}", parent=z1, name=f"一总支第{i}支部") for i in range(1, 5)]
    branches += [factories.unit(f"Z2-B{i}", parent=z2, name=f"二总支第{i}支部") for i in range(1, 4)]
    branches += [factories.unit(f"B{i}", parent=c, name=f"机关第{i}支部") for i in range(1, 3)]
    branches.append(factories.unit("LH", UnitKind.JOINT_BRANCH, parent=c, name="后勤联合支部"))
    out = {"c": c, "z1": z1, "z2": z2, "branches": branches}
    for b in branches:
        m = factories.member(b, f"{b.code}书记")
        out[f"sec:{b.code}"] = _login(m, f"sec_{b.code.lower().replace('-', '_')}")
        core.position_assign(actor=None, member=m, unit=b, title="secretary", start=dt.date(2024, 1, 1))
    for z in (z1, z2):
        m = factories.member(branches[0] if z is z1 else branches[4], f"{z.code}总支书记")
        out[f"sec:{z.code}"] = _login(m, f"sec_{z.code.lower()}")
        core.position_assign(actor=None, member=m, unit=z, title="secretary", start=dt.date(2024, 1, 1))
    m = factories.member(branches[0], "党委书记")
    out["sec_c"] = _login(m, "sec_c")
    core.position_assign(actor=None, member=m, unit=c, title="secretary", start=dt.date(2024, 1, 1))
    out["plain"] = _login(factories.member(branches[1], "普通党员"), "plain")
    for key, role in (("admin", Role.ADMIN), ("ia", Role.INTERNAL_AUDITOR)):
        out[key] = factories.user(key, first_name={"admin": "党委办公室", "ia": "内审员甲"}[key])
        core.role_grant(actor=None, user=out[key], role=role, unit=c, valid_from=dt.date(2020, 1, 1))
    return out


def _announce(org, **kw) -> Campaign:
    args = {"actor": org["admin"], "root": org["c"], "title": "贯彻落实《条例》专项检查", "deadline": DEADLINE, "today": START}
    return svc.campaign_announce(**{**args, **kw})


def _scores(c: Campaign, share=Decimal("0.9")) -> dict:
    return {i.pk: str((i.max_score * share).quantize(Decimal("0.1"))) for i in c.items.all()}


def _entry(c, code) -> CampaignUnit:
    return CampaignUnit.objects.get(campaign=c, unit__code=code)


def _pdf(name="自查台账.pdf"):
    return SimpleUploadedFile(name, b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n")


def test_announcement_takes_the_checklist_from_the_rules_and_every_unit_in_scope(org):
    c = _announce(org)
    spec = svc.default_checklist()
    items = list(c.items.order_by("order"))
    assert [i.text for i in items] == [i["text"] for i in spec["items"]]
    assert all(i.source.startswith("seed ") for i in items) and c.max_total == Decimal(100)
    codes = set(c.units.values_list("unit__code", flat=True))
    assert codes == {"Z1", "Z2", "LH"} | {b.code for b in org["branches"]}  # not the committee itself
    assert _entry(c, "Z1-B2").general_branch == org["z1"] and _entry(c, "B1").general_branch is None
    assert set(c.units.values_list("state", flat=True)) == {UnitState.PENDING}
    # each unit's secretary is told to submit by the deadline
    assert Notification.objects.filter(user=org["sec:Z1-B1"], title__contains=f"{DEADLINE:%Y-%m-%d} 前提交").exists()


def test_a_campaign_of_chosen_kinds_with_an_edited_checklist(org):
    c = _announce(org, kinds=[UnitKind.BRANCH],
                  items=[{"text": "三会一课", "source": "seed 000 三(四)", "max_score": 60},
                         {"text": "党费", "source": "seed 000 三(四)", "max_score": 40}])
    assert c.units.count() == 9 and c.max_total == Decimal(100)
    svc.checklist_set(c, actor=org["sec_c"], items=[{"text": "三会一课", "source": "seed 000 三(四)", "max_score": 100}])
    assert list(c.items.values_list("max_score", flat=True)) == [Decimal(100)]
    with pytest.raises(ValidationError, match="分值须大于 0"):
        svc.checklist_set(c, actor=org["sec_c"], items=[{"text": "x", "source": "y", "max_score": 0}])
    with pytest.raises(ValidationError, match="依据"):
        _announce(org, items=[{"text": "没有依据的检查项", "source": "", "max_score": 10}])
    # a branch secretary cannot announce for the committee
    with pytest.raises(NotPermitted):
        _announce(org, actor=org["sec:B1"])


def test_self_assessment_with_scores_text_and_evidence(org):
    c = _announce(org)
    e = svc.self_assess_submit(_entry(c, "Z1-B1"), actor=org["sec:Z1-B1"], report="对照检查表逐项自查,发现两个问题",
                               scores=_scores(c), uploads=[_pdf()], today=BEFORE)
    assert e.state == UnitState.SUBMITTED and e.submitted_on == BEFORE
    assert ItemScore.objects.filter(entry=e).count() == c.items.count()
    assert SelfEvidence.objects.get(entry=e).sha256
    # a second submission is refused
    with pytest.raises(ValidationError, match="已提交"):
        svc.self_assess_submit(e, actor=org["sec:Z1-B1"], report="再交", scores=_scores(c), today=BEFORE)
    # another branch's secretary may not submit for it
    with pytest.raises(NotPermitted):
        svc.self_assess_submit(_entry(c, "Z1-B2"), actor=org["sec:Z1-B1"], report="代交", scores=_scores(c), today=BEFORE)


def _nothing_saved(c, code, head):
    e = _entry(c, code)
    assert e.state == UnitState.PENDING and not e.scores.exists() and not e.evidence.exists()
    assert ledger.head() == head


def test_a_score_outside_an_items_range_is_refused_and_nothing_is_saved(org):
    c = _announce(org)
    first = c.items.order_by("order").first()
    head = ledger.head()
    for bad in (str(first.max_score + 1), "-1", "很好", ""):
        scores = {**_scores(c), first.pk: bad}
        with pytest.raises(ValidationError) as err:
            svc.self_assess_submit(_entry(c, "Z1-B1"), actor=org["sec:Z1-B1"], report="自查", scores=scores,
                                   uploads=[_pdf()], today=BEFORE)
        assert "第1项" in err.value.messages[0]
        _nothing_saved(c, "Z1-B1", head)
    # a bad file: refused, and the scores are not kept either
    with pytest.raises(ValidationError, match="不允许的文件类型"):
        svc.self_assess_submit(_entry(c, "Z1-B1"), actor=org["sec:Z1-B1"], report="自查", scores=_scores(c),
                               uploads=[SimpleUploadedFile("x.exe", b"MZ")], today=BEFORE)
    _nothing_saved(c, "Z1-B1", head)


def test_a_self_assessment_after_the_deadline_is_refused_and_the_unit_escalates(org):
    c = _announce(org)
    head = ledger.head()
    with pytest.raises(ValidationError, match="已逾期,不能再提交"):
        svc.self_assess_submit(_entry(c, "Z2-B1"), actor=org["sec:Z2-B1"], report="迟交的自查报告", scores=_scores(c),
                               today=DEADLINE + dt.timedelta(days=1))
    _nothing_saved(c, "Z2-B1", head)
    svc.self_assess_submit(_entry(c, "Z1-B1"), actor=org["sec:Z1-B1"], report="按期", scores=_scores(c), today=BEFORE)
    # reminders before the deadline (campaign_reminder_days = 3), to the units that have not submitted
    svc.escalate_overdue(today=DEADLINE - dt.timedelta(days=2))
    assert Notification.objects.filter(user=org["sec:Z2-B1"], title__contains="将于").exists()
    assert not Notification.objects.filter(user=org["sec:Z1-B1"], title__contains="将于").exists()
    # the day after: marked 逾期未提交; campaign_escalation_days (1) past it: the level above and the announcer are told
    sent = svc.escalate_overdue(today=DEADLINE + dt.timedelta(days=1))
    assert _entry(c, "Z2-B1").state == UnitState.OVERDUE and _entry(c, "Z1-B1").state == UnitState.SUBMITTED
    assert Notification.objects.filter(user=org["sec:Z2"], title__contains="二总支第1支部逾期未提交自查报告").exists()
    assert Notification.objects.filter(user=org["admin"], title__contains="逾期未提交").count() == c.units.count() - 1
    assert sent > 0 and svc.escalate_overdue(today=DEADLINE + dt.timedelta(days=2)) == 0  # once
    with pytest.raises(ValidationError, match="已逾期"):
        svc.self_assess_submit(_entry(c, "Z2-B1"), actor=org["sec:Z2-B1"], report="迟交", scores=_scores(c), today=BEFORE)


def _teams(org, c):
    a = svc.team_create(c, actor=org["sec_c"], name="第一检查小组", leader=org["ia"])
    b = svc.team_create(c, actor=org["sec_c"], name="第二检查小组", leader=org["sec_c"], members=[org["sec:Z2"]])
    return a, b


def test_teams_are_the_committees_staff(org):
    c = _announce(org)
    a, b = _teams(org, c)
    assert set(b.members.all()) == {org["sec_c"], org["sec:Z2"]}
    with pytest.raises(ValidationError, match="党务工作人员"):
        svc.team_create(c, actor=org["sec_c"], name="第三检查小组", leader=org["plain"])
    with pytest.raises(ValidationError, match="已有名为"):
        svc.team_create(c, actor=org["sec_c"], name="第一检查小组", leader=org["ia"])


def _submit_some(org, c, codes):
    for code in codes:
        svc.self_assess_submit(_entry(c, code), actor=org[f"sec:{code}"], report=f"{code} 自查报告", scores=_scores(c),
                               today=BEFORE)


def _sample(c, seed):
    return sorted(svc.sample_draw(c, actor=None, seed=seed, percent=50), key=lambda e: e.unit.code)


def test_sampling_is_stratified_reproducible_and_recorded(org):
    c = _announce(org)
    _teams(org, c)
    with pytest.raises(ValidationError, match="截止后才能抽样"):
        svc.sample_draw(c, actor=org["sec_c"], seed=1, today=DEADLINE)
    _submit_some(org, c, ["Z1-B1", "Z1-B2", "Z2-B1", "B1"])
    first = [e.unit.code for e in _sample(c, 2026)]
    again = [e.unit.code for e in _sample(c, 2026)]
    assert first == again  # same seed → same sample
    assert any([e.unit.code for e in _sample(c, seed)] != first for seed in range(1, 30))  # the seed matters
    _sample(c, 2026)
    c.refresh_from_db()
    assert c.state == CampaignState.INSPECTION and c.sample_seed == 2026 and "随机种子 2026" in c.sample_method
    strata: dict[str, list[CampaignUnit]] = {}
    for e in c.units.select_related("unit", "general_branch"):
        strata.setdefault(svc.stratum_of(e), []).append(e)
    assert len(strata) == 6  # 党总支 ×2 (each its own), 支部 under Z1 / Z2 / 党委直属, the 联合支部
    n = c.units.count()
    for key, entries in strata.items():
        drawn = [e for e in entries if e.sampled]
        assert 1 <= len(drawn) <= len(entries), key  # every stratum with units gives at least one
        assert len(drawn) >= (6 * len(entries)) // n, key  # and its proportional share (50% of 12 = 6)
        assert all(e.stratum == key for e in drawn)
    assert c.sample_size == sum(e.sampled for e in c.units.all())
    # units without a report when the sample is drawn are 逾期未提交
    assert _entry(c, "Z2-B3").state == UnitState.OVERDUE and _entry(c, "Z1-B1").state == UnitState.SUBMITTED


def test_the_allocation_is_proportional_with_a_minimum_per_stratum():
    assert svc.allocate({"a": 8, "b": 2}, 5, 1) == {"a": 4, "b": 1}
    assert svc.allocate({"a": 40, "b": 8, "c": 0}, 6, 1) == {"a": 5, "b": 1}
    assert svc.allocate({"a": 1, "b": 1, "c": 1}, 2, 1) == {"a": 1, "b": 1, "c": 1}  # the minimum wins
    assert svc.allocate({"a": 3, "b": 3}, 6, 1) == {"a": 3, "b": 3}


def test_an_inspector_is_never_assigned_to_their_own_unit(org):
    c = _announce(org)
    a, b = _teams(org, c)  # team b: the committee's secretary (a member of Z1-B1) and Z2's secretary
    for seed in range(1, 15):
        _sample(c, seed)
        for e in c.units.filter(sampled=True).select_related("unit"):
            if e.unit.code in ("Z1-B1", "Z1", "Z2") or e.unit.code.startswith("Z2-"):
                assert e.team == a, (seed, e.unit.code)
    e = c.units.filter(sampled=True, team=a, unit__code__startswith="Z2").first() or c.units.filter(sampled=True, team=a).first()
    head = ledger.head()
    if e.unit.code.startswith("Z2") or e.unit.code in ("Z1-B1", "Z1"):
        with pytest.raises(ValidationError, match="回避本单位"):
            svc.team_assign(e, b, actor=org["sec_c"])
        assert ledger.head() == head and CampaignUnit.objects.get(pk=e.pk).team == a
    # drawn with Z2-B1 in the sample: moving it to team b is refused, naming the conflict
    z2b1 = _entry(c, "Z2-B1")
    z2b1.sampled = True
    z2b1.team = a
    z2b1.save()
    with pytest.raises(ValidationError, match="不能检查“二总支第1支部”"):
        svc.team_assign(z2b1, b, actor=org["sec_c"])
    assert CampaignUnit.objects.get(pk=z2b1.pk).team == a


def _inspection(org, entry, *, share="0.7", **kw):
    c = entry.campaign
    args = {"visited_on": TODAY, "visit_notes": "查看党员活动室和公开栏", "archive_notes": "查阅三会一课记录12份",
            "forum_sessions": 1, "forum_attendance": 9, "forum_notes": "党员反映学习形式单一",
            "questionnaires_issued": 20, "questionnaires_returned": 18, "questionnaires_satisfied": 15,
            "scores": _scores(c, Decimal(share))}
    return svc.inspection_record(entry, actor=kw.pop("actor", org["ia"]), **{**args, **kw})


def test_from_announcement_through_inspection_and_findings_to_the_summary(org):
    c = _announce(org)
    a, _b = _teams(org, c)
    _submit_some(org, c, [b.code for b in org["branches"][:7]])
    drawn = _sample(c, 2026)
    for e in drawn:
        svc.team_assign(e, a, actor=org["sec_c"])  # team a (the internal auditor) inspects all
    submitted = next(e for e in drawn if e.state == UnitState.SUBMITTED)
    # bad inspection input: refused, nothing saved
    head = ledger.head()
    first = c.items.order_by("order").first()
    for bad in ({"scores": {**_scores(c), first.pk: str(first.max_score + Decimal("0.5"))}},
                {"forum_sessions": 2, "forum_attendance": 0}, {"questionnaires_returned": 25},
                {"visited_on": TODAY + dt.timedelta(days=1)}, {"archive_notes": " "}):
        with pytest.raises(ValidationError):
            _inspection(org, submitted, **bad)
        assert ledger.head() == head and CampaignUnit.objects.get(pk=submitted.pk).state == UnitState.SUBMITTED
    # only the team assigned to the unit (or a 体系管理员) records the inspection
    with pytest.raises(NotPermitted):
        _inspection(org, submitted, actor=org["sec_c"])
    for e in drawn:
        _inspection(org, e)
    row = ItemScore.objects.get(entry=submitted, item=first)
    assert row.difference == row.inspected_score - row.self_score < 0  # inspected 70 %, self-assessed 90 %
    # a not-sampled unit has no inspection
    other = c.units.filter(sampled=False).first()
    with pytest.raises(ValidationError, match="未被抽中"):
        _inspection(org, other, actor=org["admin"])
    # a finding becomes a nonconformity (督查) of the unit, in the same register
    f = svc.finding_raise(submitted, actor=org["ia"], item=first, grade="minor", evidence="支部委员会换届未报批")
    nc = Nonconformity.objects.get(pk=f.nonconformity_id)
    assert (nc.unit, nc.source, nc.state, nc.grade) == (submitted.unit, "spot_check", "raised", "minor")
    assert cite(first.source) in nc.requirement and "seed" not in nc.requirement and "换届未报批" in nc.evidence
    with pytest.raises(ValidationError, match="客观证据"):
        svc.finding_raise(submitted, actor=org["ia"], item=first, grade="minor", evidence=" ")
    # the summary: per kind, per 党总支, in total
    s = summary.summarise(c)
    assert s.total.units == c.units.count() and s.total.sampled == len(drawn) == s.total.inspected
    assert s.total.findings == 1 and s.total.submitted == 7
    assert s.total.forum_sessions == len(drawn) and s.total.forum_attendance == 9 * len(drawn)
    assert s.total.inspected_mean == Decimal("70.0")
    kinds = {g.name: g for g in s.by_kind}
    assert set(kinds) == {"党总支", "党支部", "联合党支部"} and sum(g.units for g in kinds.values()) == s.total.units
    branches = {g.name: g for g in s.by_branch}
    assert set(branches) == {"第一党总支", "第二党总支", "党委直属"}
    assert branches[submitted.general_branch.name if submitted.general_branch_id else "党委直属"].findings == 1
    unit_row = next(r for r in s.rows if r.code == submitted.unit.code)
    assert unit_row.self_total == Decimal("90.0") and unit_row.inspected_total == Decimal("70.0")
    assert unit_row.difference == Decimal("-20.0")
    # the close: the conclusion for the 总结会
    with pytest.raises(ValidationError, match="检查总结"):
        svc.campaign_close(c, actor=org["sec_c"], conclusion="")
    done = svc.campaign_close(c, actor=org["sec_c"], conclusion="总体较好,问题已列入整改台账")
    assert done.state == CampaignState.CLOSED
    # the command's output, JSON and CSV
    out = io.StringIO()
    call_command("campaign_summary", "--campaign", str(c.pk), "--format", "json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["total"]["findings"] == 1 and data["campaign"]["sample_seed"] == 2026
    assert {g["name"] for g in data["by_general_branch"]} == {"第一党总支", "第二党总支", "党委直属"}
    assert next(u for u in data["units"] if u["code"] == submitted.unit.code)["difference"] == -20.0
    out = io.StringIO()
    call_command("campaign_summary", "--campaign", str(c.pk), "--format", "csv", stdout=out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0][:3] == ["分组", "名称", "单位数"] and rows[-1][:3] == ["全部", "合计", str(c.units.count())]
    assert {r[1] for r in rows if r[0] == "单位类别"} == {"党总支", "党支部", "联合党支部"}


def test_the_summary_files_excel_and_pdf(org):
    from openpyxl import load_workbook

    c = _announce(org)
    _submit_some(org, c, ["Z1-B1"])
    book = load_workbook(io.BytesIO(summary.xlsx(summary.summarise(c))))
    assert book.sheetnames == ["汇总", "受检单位"]
    assert book["汇总"]["A1"].value.startswith("贯彻落实《条例》专项检查")
    assert [r[0].value for r in book["受检单位"].iter_rows(min_row=2)][:2] == ["Z1", "Z1-B1"]
    pdf = summary.pdf(summary.summarise(c))
    assert pdf.startswith(b"%PDF")


def test_the_command_refuses_an_unknown_campaign_in_chinese():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="没有编号为 999 的检查活动"):
        call_command("campaign_summary", "--campaign", "999", "--format", "json", stdout=io.StringIO())


def test_a_campaign_as_one_stage_of_a_three_year_plan(org):
    """seed 001 四(四): 一年整治、两年提升、三年巩固 — each stage a campaign in its own year."""
    year = TODAY.year
    plan = svc.plan_create(actor=org["sec_c"], root=org["c"], title="三年整治计划", start_year=year)
    assert [s["name"] for s in svc.plan_spec()["stages"]] == ["整治", "提升", "巩固"]
    c = svc.campaign_announce(actor=org["admin"], root=org["c"], title="整治阶段自查", deadline=TODAY + dt.timedelta(days=5),
                              plan=plan, stage="rectify")
    assert c.plan == plan and c.stage == "rectify" and list(plan.campaigns.all()) == [c]
    head = ledger.head()
    with pytest.raises(ValidationError, match=f"“提升”阶段在 {year + 1} 年"):
        svc.campaign_announce(actor=org["admin"], root=org["c"], title="提升", deadline=TODAY + dt.timedelta(days=5),
                              plan=plan, stage="improve")
    with pytest.raises(ValidationError, match="已有检查活动"):
        svc.campaign_announce(actor=org["admin"], root=org["c"], title="再整治", deadline=TODAY + dt.timedelta(days=5),
                              plan=plan, stage="rectify")
    with pytest.raises(ValidationError, match="请选择计划及其阶段"):
        svc.campaign_announce(actor=org["admin"], root=org["c"], title="无计划", deadline=TODAY + dt.timedelta(days=5),
                              plan=plan, stage="nonsense")
    assert ledger.head() == head
    with pytest.raises(NotPermitted):
        svc.plan_create(actor=org["sec:B1"], root=org["c"], title="支部越权", start_year=year)
