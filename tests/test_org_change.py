"""组织设置调整 (seed 001 三(二)1): a unit is set up, merged, split or dissolved only by a request
approved by the higher organisation (a 上级批复 of the new unit's 上级党组织 or one above it);
carrying it out creates the units, moves members by dated memberships and closes the old units.
Each refusal is in Chinese with nothing saved."""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from procedures.library_loader import load_library
from qms import ledger
from qms import services as core
from qms.models import AdminUnit, LedgerEntry, Membership, Position, Role, Unit, UnitKind
from qms.permissions import NotPermitted
from tests import factories
from workflows import org_change
from workflows import org_change_flows as flows
from workflows.models import Occurrence, OrgChange, OrgChangeState, State
from workflows.scheduler import schedule

pytestmark = pytest.mark.django_db
D = dt.date
TODAY = timezone.localdate()
EARLY = TODAY - dt.timedelta(days=400)


@pytest.fixture
def org(db):
    load_library()
    top = factories.unit("T", UnitKind.COMMITTEE, name="测试党委")
    c = factories.unit("C", UnitKind.GENERAL_BRANCH, parent=top, name="机关党总支")
    b1 = factories.unit("B1", UnitKind.BRANCH, parent=c, name="第一党支部")
    b2 = factories.unit("B2", UnitKind.BRANCH, parent=c, name="第二党支部")
    g1 = factories.unit("B1-G1", UnitKind.GROUP, parent=b1, name="第一党小组")
    m1 = [factories.member(b1, f"一支部党员{i}", start=EARLY) for i in range(4)]
    m2 = [factories.member(b2, f"二支部党员{i}", start=EARLY) for i in range(3)]
    people = {"sec_c": factories.user("sec_c"), "sec_t": factories.user("sec_t"), "sec_b1": factories.user("sec_b1"),
              "admin": factories.user("admin")}
    for who, unit in (("sec_c", c), ("sec_t", top)):
        m = factories.member(b2, f"{unit.name}书记", start=EARLY)
        core.member_update(m, actor=None, reason="账号", user=people[who])
        core.position_assign(actor=None, member=m, unit=unit, title="secretary", start=EARLY, past_term=True)
    core.member_update(m1[0], actor=None, reason="账号", user=people["sec_b1"])
    core.position_assign(actor=None, member=m1[0], unit=b1, title="secretary", start=EARLY, past_term=True)
    core.role_grant(actor=None, user=people["admin"], role=Role.ADMIN, unit=top, valid_from=EARLY)
    return {"t": top, "c": c, "b1": b1, "b2": b2, "g1": g1, "m1": m1, "m2": m2, **people}


def _decision(org, kind, *, by="t", outcome="approved", number="测委〔2026〕8号", day=None):
    return core.decision_record(actor=org["sec_t"], unit=org["c"], decided_by_unit=org[by], kind=kind, doc_number=number,
                                date=day or TODAY, outcome=outcome)


BRANCH = {"code": "B3", "name": "第三党支部", "kind": UnitKind.BRANCH}


def test_a_branch_is_set_up_only_after_the_higher_organisation_approves(org):
    change = org_change.request(actor=org["sec_c"], parent=org["c"], kind="setup", reason="新设处室", new_units=[BRANCH])
    assert not Unit.objects.filter(code="B3").exists()  # nothing exists before the approval
    assert flows.open_task_titles(change) == ["上级批复"]
    with pytest.raises(ValidationError, match="当前进度为“已请示,待上级批复”,不能办理“实施”"):
        org_change.carry_out(change, actor=org["sec_c"], effective_on=TODAY)
    change = org_change.answer(change, actor=org["sec_c"], decision=_decision(org, "org_setup"))
    assert change.state == OrgChangeState.APPROVED and flows.open_task_titles(change) == ["实施"]
    change = org_change.carry_out(change, actor=org["sec_c"], effective_on=TODAY)
    b3 = Unit.objects.get(code="B3")
    assert b3.parent == org["c"] and b3.founded_on == TODAY and "测委〔2026〕8号" in b3.founding_ref
    assert change.state == OrgChangeState.DONE and list(change.created_units.all()) == [b3]
    assert flows.process_of(change).status == "DONE"
    assert {e.action for e in LedgerEntry.objects.filter(obj_type=ledger.label_of(OrgChange))} >= {
        "org_change.request", "org_change.answer", "org_change.carry_out"}


def test_the_new_units_own_higher_organisation_may_approve_it(org):
    """成立党支部 is decided by its 上级党组织: the 总支 itself (or one above), never a unit below or beside."""
    d = _decision(org, "org_setup", by="c")
    assert d.decided_by_unit == org["c"]
    with pytest.raises(ValidationError, match="作出批复的应是“机关党总支”或它的上级党组织"):
        core.decision_record(actor=org["admin"], unit=org["c"], decided_by_unit=org["b1"], kind="org_setup",
                             doc_number="x", date=TODAY, outcome="approved")


def test_a_refusal_ends_the_request_and_sets_up_nothing(org):
    change = org_change.request(actor=org["sec_c"], parent=org["c"], kind="setup", reason="新设", new_units=[BRANCH])
    change = org_change.answer(change, actor=org["sec_c"], decision=_decision(org, "org_setup", outcome="rejected"))
    assert change.state == OrgChangeState.REFUSED
    assert flows.process_of(change).status == "DONE" and flows.open_task_titles(change) == []
    with pytest.raises(ValidationError, match="不能办理“实施”"):
        org_change.carry_out(change, actor=org["sec_c"], effective_on=TODAY)
    assert not Unit.objects.filter(code="B3").exists()


def test_the_approval_must_be_of_the_right_matter_and_organisation(org):
    change = org_change.request(actor=org["sec_c"], parent=org["c"], kind="setup", reason="新设", new_units=[BRANCH])
    with pytest.raises(ValidationError, match="须有上级党组织同意的批复.事项.成立党组织"):
        org_change.answer(change, actor=org["sec_c"], decision=None)
    with pytest.raises(ValidationError, match="不是关于“机关党总支”成立党组织的批复"):
        org_change.answer(change, actor=org["sec_c"], decision=_decision(org, "org_dissolve"))
    assert OrgChange.objects.get(pk=change.pk).state == OrgChangeState.REQUESTED


def test_a_branch_secretary_below_may_not_request_for_the_general_branch(org):
    with pytest.raises(NotPermitted):
        org_change.request(actor=org["sec_b1"], parent=org["c"], kind="setup", reason="新设", new_units=[BRANCH])
    assert OrgChange.objects.count() == 0


@pytest.mark.parametrize(("row", "message"), [
    ({"code": "B1", "name": "重复", "kind": UnitKind.BRANCH}, "组织编码 B1 已存在"),
    ({"code": "B9", "name": "", "kind": UnitKind.BRANCH}, "组织名称不能为空"),
    ({"code": "B9", "name": "某党委", "kind": UnitKind.GROUP}, "党小组不能设在“党总支”之下"),
    ({"code": "B9", "name": "项目临时党支部", "kind": UnitKind.TEMP_BRANCH}, "临时党支部应写明为执行的任务或项目"),
    ({"code": "B9", "name": "项目临时党支部", "kind": UnitKind.TEMP_BRANCH, "task": "某工程项目"}, "临时党支部应填写任务结束日期"),
])
def test_a_proposed_unit_is_checked_when_requested(org, row, message):
    with pytest.raises(ValidationError, match=message):
        org_change.request(actor=org["sec_c"], parent=org["c"], kind="setup", reason="新设", new_units=[row])
    assert OrgChange.objects.count() == 0


def test_a_joint_branch_covers_at_most_five_units(org):
    aus = [core.admin_unit_create(actor=None, code=f"AU{i}", name=f"单位{i}") for i in range(6)]
    row = {"code": "J1", "name": "联合党支部", "kind": UnitKind.JOINT_BRANCH, "admin_units": [a.pk for a in aus]}
    with pytest.raises(ValidationError, match="联合党支部覆盖 6 个单位,不应超过 5 个"):
        org_change.request(actor=org["sec_c"], parent=org["c"], kind="setup", reason="联合", new_units=[row])
    row["admin_units"] = [a.pk for a in aus[:5]]
    change = org_change.request(actor=org["sec_c"], parent=org["c"], kind="setup", reason="联合", new_units=[row])
    org_change.answer(change, actor=org["sec_c"], decision=_decision(org, "org_setup"))
    org_change.carry_out(change, actor=org["sec_c"], effective_on=TODAY)
    assert Unit.objects.get(code="J1").admin_units.count() == 5


def test_a_temporary_branch_keeps_its_task_and_end(org):
    row = {"code": "L1", "name": "培训班临时党支部", "kind": UnitKind.TEMP_BRANCH, "task": "青年干部培训班",
           "ends_on": TODAY + dt.timedelta(days=60)}
    change = org_change.request(actor=org["sec_c"], parent=org["c"], kind="setup", reason="培训", new_units=[row])
    org_change.answer(change, actor=org["sec_c"], decision=_decision(org, "org_setup"))
    org_change.carry_out(change, actor=org["sec_c"], effective_on=TODAY)
    u = Unit.objects.get(code="L1")
    assert (u.task, u.ends_on) == ("青年干部培训班", TODAY + dt.timedelta(days=60))


def test_merging_moves_members_by_dated_memberships_and_closes_the_other_branch(org):
    schedule(today=TODAY)
    change = org_change.request(actor=org["sec_c"], parent=org["c"], kind="merge", reason="机构合并",
                                sources=[org["b1"], org["b2"]], receiver=org["b2"])
    org_change.answer(change, actor=org["sec_c"], decision=_decision(org, "org_merge"))
    day = TODAY
    org_change.carry_out(change, actor=org["sec_c"], effective_on=day)
    b1 = Unit.objects.get(pk=org["b1"].pk)
    assert not b1.is_active and not Unit.objects.get(pk=org["g1"].pk).is_active
    m = org["m1"][1]
    spans = list(Membership.objects.filter(member=m).order_by("start").values_list("unit__code", "start", "end"))
    assert spans == [("B1", EARLY, day - dt.timedelta(days=1)), ("B2", day, None)]
    assert not Position.objects.filter(unit=b1, end__isnull=True).exists()  # the old secretary's office ended
    assert Position.objects.get(unit=b1, member=org["m1"][0]).end == day - dt.timedelta(days=1)
    assert not Occurrence.objects.filter(unit=b1, state__in=(State.OPEN, State.PLANNED), due_date__gte=day).exists()


def test_merging_into_a_new_branch(org):
    row = {"code": "B12", "name": "合并后的党支部", "kind": UnitKind.BRANCH}
    change = org_change.request(actor=org["sec_c"], parent=org["c"], kind="merge", reason="合并",
                                sources=[org["b1"], org["b2"]], new_units=[row])
    org_change.answer(change, actor=org["sec_c"], decision=_decision(org, "org_merge"))
    org_change.carry_out(change, actor=org["sec_c"], effective_on=TODAY)
    new = Unit.objects.get(code="B12")
    assert Membership.objects.filter(unit=new, end__isnull=True).count() == 4 + 3 + 2
    assert not Unit.objects.filter(pk__in=[org["b1"].pk, org["b2"].pk], is_active=True).exists()


def test_splitting_sends_every_member_where_the_request_says(org):
    rows = [{"code": "B1A", "name": "一支部甲", "kind": UnitKind.BRANCH}, {"code": "B1B", "name": "一支部乙", "kind": UnitKind.BRANCH}]
    m = org["m1"]
    with pytest.raises(ValidationError, match="一支部党员3 还没有确定去哪个新党支部"):
        org_change.request(actor=org["sec_c"], parent=org["c"], kind="split", reason="拆分", sources=[org["b1"]],
                           new_units=rows, allocation={m[0].pk: "B1A", m[1].pk: "B1A", m[2].pk: "B1B"})
    change = org_change.request(actor=org["sec_c"], parent=org["c"], kind="split", reason="拆分", sources=[org["b1"]],
                                new_units=rows, allocation={m[0].pk: "B1A", m[1].pk: "B1A", m[2].pk: "B1B", m[3].pk: "B1B"})
    org_change.answer(change, actor=org["sec_c"], decision=_decision(org, "org_split"))
    org_change.carry_out(change, actor=org["sec_c"], effective_on=TODAY)
    where = dict(Membership.objects.filter(member__in=m, end__isnull=True).values_list("member__name", "unit__code"))
    assert where == {"一支部党员0": "B1A", "一支部党员1": "B1A", "一支部党员2": "B1B", "一支部党员3": "B1B"}
    assert not Unit.objects.get(pk=org["b1"].pk).is_active


def test_a_member_who_joined_after_the_split_request_stops_it(org):
    rows = [{"code": "B1A", "name": "甲", "kind": UnitKind.BRANCH}, {"code": "B1B", "name": "乙", "kind": UnitKind.BRANCH}]
    alloc = {p.pk: "B1A" for p in org["m1"]}
    change = org_change.request(actor=org["sec_c"], parent=org["c"], kind="split", reason="拆分", sources=[org["b1"]],
                                new_units=rows, allocation=alloc)
    org_change.answer(change, actor=org["sec_c"], decision=_decision(org, "org_split"))
    factories.member(org["b1"], "新转入党员", start=EARLY)
    with pytest.raises(ValidationError, match="请示后党员名单有变化:新转入党员 还没有确定去哪个新党支部"):
        org_change.carry_out(change, actor=org["sec_c"], effective_on=TODAY)
    assert not Unit.objects.filter(code__in=["B1A", "B1B"]).exists()  # nothing half-done
    assert OrgChange.objects.get(pk=change.pk).state == OrgChangeState.APPROVED


def test_dissolving_needs_a_branch_to_receive_the_members(org):
    with pytest.raises(ValidationError, match="被撤销的党支部还有党员,请选择接收党员的党支部"):
        org_change.request(actor=org["sec_c"], parent=org["c"], kind="dissolve", reason="撤销", sources=[org["b1"]])
    change = org_change.request(actor=org["sec_c"], parent=org["c"], kind="dissolve", reason="撤销", sources=[org["b1"]],
                                receiver=org["b2"])
    org_change.answer(change, actor=org["sec_c"], decision=_decision(org, "org_dissolve"))
    org_change.carry_out(change, actor=org["sec_c"], effective_on=TODAY)
    assert Membership.objects.filter(unit=org["b2"], end__isnull=True).count() == 4 + 3 + 2
    assert not Unit.objects.get(pk=org["b1"].pk).is_active


def test_a_unit_with_units_below_cannot_be_dissolved_or_merged_first(org):
    with pytest.raises(ValidationError, match="“机关党总支”下还有第一党支部、第二党支部"):
        org_change.request(actor=org["sec_t"], parent=org["t"], kind="dissolve", reason="撤销", sources=[org["c"]])
    with pytest.raises(ValidationError, match="不是“机关党总支”的直属组织"):
        org_change.request(actor=org["sec_t"], parent=org["c"], kind="dissolve", reason="撤销", sources=[org["g1"]],
                           receiver=org["b2"])


def test_one_open_request_per_unit(org):
    org_change.request(actor=org["sec_c"], parent=org["c"], kind="dissolve", reason="撤销", sources=[org["b1"]], receiver=org["b2"])
    with pytest.raises(ValidationError, match="已有尚未办结的组织设置请示"):
        org_change.request(actor=org["sec_c"], parent=org["c"], kind="merge", reason="合并", sources=[org["b1"], org["b2"]],
                           receiver=org["b2"])


def test_carrying_out_is_dated_no_earlier_than_the_approval_and_not_in_the_future(org):
    change = org_change.request(actor=org["sec_c"], parent=org["c"], kind="setup", reason="新设", new_units=[BRANCH])
    org_change.answer(change, actor=org["sec_c"], decision=_decision(org, "org_setup"))
    with pytest.raises(ValidationError, match="实施日期不能早于上级批复日期"):
        org_change.carry_out(change, actor=org["sec_c"], effective_on=TODAY - dt.timedelta(days=1))
    with pytest.raises(ValidationError, match="实施日期不能晚于今天"):
        org_change.carry_out(change, actor=org["sec_c"], effective_on=TODAY + dt.timedelta(days=1))


def test_a_unit_recorded_directly_keeps_its_founding_approval(org):
    u = core.unit_create(actor=org["admin"], code="X1", name="已有党支部", kind=UnitKind.BRANCH, parent=org["c"],
                         founding_ref="测委〔2019〕3号")
    assert Unit.objects.get(pk=u.pk).founding_ref == "测委〔2019〕3号"
    assert AdminUnit.objects.count() == 0


def test_a_temporary_branch_past_its_task_is_flagged_for_dissolving(org):
    from qms.structure import unit_warnings

    u = core.unit_create(actor=org["admin"], code="L9", name="培训临时党支部", kind=UnitKind.TEMP_BRANCH, parent=org["c"],
                         founding_ref="测委〔2026〕1号", task="培训班", ends_on=TODAY - dt.timedelta(days=1))
    assert [w.code for w in unit_warnings(u)].count("temp_branch_ended") == 1
    core.policy_override_set(actor=org["admin"], unit=org["c"], key="temp_branch_close_after_end", value=0, source="本组织决定")
    assert "temp_branch_ended" not in [w.code for w in unit_warnings(u)]
