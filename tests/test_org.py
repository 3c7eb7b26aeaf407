"""Organisation tree, people services and structural warnings (issue 2 §3, §4)."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.urls import reverse

from qms import ledger, services
from qms.models import (
    LedgerEntry,
    Member,
    Membership,
    MemberStatus,
    PolicyOverride,
    Role,
    Unit,
    UnitKind,
)
from qms.rules import defaults, rules_for
from qms.structure import tree_warnings
from tests import factories

pytestmark = pytest.mark.django_db
D = dt.date


def codes(ws, code):
    return [w for w in ws if w.unit_code == code]


def test_tree_paths_and_subtree(tree):
    c, b1 = tree["committee"], tree["b1"]
    assert b1.path.startswith(c.path) and b1.depth == 2
    assert set(c.subtree().values_list("code", flat=True)) == {"C", "G", "B1", "B2", "B1G1", "B1G2"}
    assert [u.code for u in tree["g1"].ancestors()] == ["C", "G", "B1", "B1G1"]


def test_kind_placement_rules(tree):
    with pytest.raises(ValidationError, match="党小组"):
        factories.unit("X1", UnitKind.GROUP, parent=tree["committee"])
    with pytest.raises(ValidationError, match="党总支"):
        factories.unit("X2", UnitKind.GENERAL_BRANCH, parent=tree["b1"])
    with pytest.raises(ValidationError, match="已存在"):
        factories.unit("B1", UnitKind.BRANCH, parent=tree["general"])
    with pytest.raises(ValidationError, match="组织编码"):
        factories.unit("坏 编码", UnitKind.BRANCH, parent=tree["general"])


def test_cycle_in_tree_is_refused_and_nothing_saved(tree):
    n = LedgerEntry.objects.count()
    g = tree["general"]
    c2 = factories.unit("C2", UnitKind.COMMITTEE, parent=tree["committee"])
    with pytest.raises(ValidationError, match="环"):
        services.unit_update(tree["committee"], actor=None, reason="测试", parent=c2)
    tree["committee"].refresh_from_db()
    assert tree["committee"].parent_id is None
    assert LedgerEntry.objects.count() == n + 1  # only C2's creation
    # a legal move rewrites the whole subtree's paths with one ledger entry
    services.unit_update(g, actor=None, reason="划转", parent=c2)
    b1 = Unit.objects.get(code="B1")
    assert b1.path.startswith(Unit.objects.get(code="C2").path)
    assert Unit.objects.get(code="B1G1").path.startswith(b1.path)
    assert ledger.verify().ok


def test_member_cannot_be_in_two_units_at_once(tree):
    m = tree["m1"][0]
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(member=m, unit=tree["b2"], start=D(2025, 1, 1))
    with pytest.raises(ValidationError, match="已在册"):
        factories.member(tree["b2"], name="重复", id_number=m.id_number)


def test_transfer_keeps_history_and_roster_on_a_date(tree):
    m = tree["m1"][0]
    services.member_transfer(m, actor=None, date=D(2025, 3, 1), to_unit=tree["b2"], note="工作调动")
    spans = list(m.memberships.order_by("start"))
    assert [(s.unit.code, s.start, s.end) for s in spans] == [("B1", D(2020, 1, 1), D(2025, 2, 28)), ("B2", D(2025, 3, 1), None)]
    assert any(s.covers(D(2025, 2, 28)) and s.unit.code == "B1" for s in spans)
    services.member_transfer(m, actor=None, date=D(2025, 6, 1), to_unit=None, note="转往外单位")
    m.refresh_from_db()
    assert m.status == MemberStatus.TRANSFERRED_OUT and m.current_membership() is None
    assert [e.kind for e in m.events.order_by("date", "id")] == ["enroll", "move", "transfer_out"]
    with pytest.raises(ValidationError):
        services.member_transfer(m, actor=None, date=D(2025, 7, 1), to_unit=tree["b1"])
    assert ledger.verify().ok


def test_member_validation_messages(tree):
    bad_id = factories.id_number(5)[:-1] + ("0" if factories.id_number(5)[-1] != "0" else "1")
    with pytest.raises(ValidationError) as e:
        factories.member(tree["b1"], name="王五", id_number=bad_id)
    assert "校验位" in str(e.value)
    with pytest.raises(ValidationError, match="转正日期"):
        factories.member(tree["b1"], name="赵六", full_on=None)
    with pytest.raises(ValidationError, match="党支部"):
        factories.member(tree["general"], name="钱七")
    with pytest.raises(ValidationError, match="不属于"):
        factories.member(tree["b2"], name="孙八", group=tree["g1"])


def test_death_ends_membership_and_positions(tree):
    m = tree["m2"][0]
    services.position_assign(actor=None, member=m, unit=tree["b2"], title="secretary", start=D(2024, 1, 1))
    services.member_status_change(m, actor=None, kind="death", date=D(2025, 5, 5), note="病故")
    m.refresh_from_db()
    assert m.status == MemberStatus.DECEASED
    assert m.memberships.get().end == D(2025, 5, 5)
    assert m.positions.get().end == D(2025, 5, 5)
    assert ledger.verify().ok


def test_single_secretary_per_unit(tree):
    services.position_assign(actor=None, member=tree["m1"][0], unit=tree["b1"], title="secretary", start=D(2024, 1, 1))
    with pytest.raises(ValidationError, match="已有在任书记"):
        services.position_assign(actor=None, member=tree["m1"][1], unit=tree["b1"], title="secretary", start=D(2024, 1, 1))
    with pytest.raises(ValidationError, match="党小组长"):
        services.position_assign(actor=None, member=tree["m1"][1], unit=tree["b1"], title="group_leader", start=D(2024, 1, 1))


# ---------------------------------------------------------------------- structural warnings


def test_branch_over_seven_full_members_without_committee_is_warned(tree):
    b2 = tree["b2"]
    for i in range(5):  # 3 + 5 = 8 > 7
        factories.member(b2, f"补充{i}")
    ws = codes(tree_warnings(tree["committee"], on=D(2025, 6, 1)), "B2")
    assert [w.code for w in ws] == ["no_committee"]
    assert "001 三(二)1" in ws[0].source
    # a committee of 3 (with its 纪检委员, seed 001 三(二)1) clears it
    for title, m in zip(("secretary", "organization", "discipline"), list(Member.objects.filter(memberships__unit=b2))[:3], strict=True):
        services.position_assign(actor=None, member=m, unit=b2, title=title, start=D(2025, 1, 1))
    assert codes(tree_warnings(tree["committee"], on=D(2025, 6, 1)), "B2") == []


def test_committee_size_joint_branch_and_big_branch(tree):
    b1 = tree["b1"]
    for i in range(47):
        factories.member(b1, f"大支部{i}")  # 4 + 47 = 51 > 50
    members = list(Member.objects.filter(memberships__unit=b1))
    for m, title in zip(members[:8], ["secretary", "deputy_secretary", "organization", "propaganda", "discipline", "youth", "committee_member", "committee_member"], strict=True):
        services.position_assign(actor=None, member=m, unit=b1, title=title, start=D(2024, 1, 1))
    kinds = {w.code for w in tree_warnings(b1, on=D(2025, 6, 1)) if w.unit_code == "B1"}
    assert kinds == {"too_many_members", "committee_size"}
    aus = [services.admin_unit_create(actor=None, code=f"AU{i}", name=f"单位{i}") for i in range(6)]
    jb = factories.unit("JB", UnitKind.JOINT_BRANCH, parent=tree["committee"], admin_units=aus)
    assert [w.code for w in tree_warnings(jb, on=D(2025, 6, 1))] == ["joint_too_wide"]


def test_term_expiry_uses_kind_default_and_override(tree):
    # B1: term from 2024-01-01, 3 years by default → expires 2027-01-01
    assert codes(tree_warnings(tree["b1"], on=D(2026, 12, 31)), "B1") == []
    assert [w.code for w in codes(tree_warnings(tree["b1"], on=D(2027, 1, 2)), "B1")] == ["term_expired"]
    # committee: 5 years from 2022-01-01
    assert codes(tree_warnings(tree["committee"], on=D(2026, 6, 1)), "C") == []
    assert codes(tree_warnings(tree["committee"], on=D(2027, 1, 2)), "C")[0].code == "term_expired"
    # an organisation's own rule: branches under C have 2-year terms
    services.policy_override_set(actor=None, unit=tree["committee"], key="term_years_branch", value=2, source="本委《支部工作细则》第5条")
    rule = rules_for(tree["b1"])["term_years_branch"]
    assert rule.value == 2 and rule.overridden_by == "测试党委"
    assert codes(tree_warnings(tree["b1"], on=D(2026, 1, 2)), "B1")[0].code == "term_expired"
    assert rules_for(tree["b1"])["branch_max_full_members"].value == defaults()["branch_max_full_members"].value
    assert PolicyOverride.objects.count() == 1 and ledger.verify().ok


def test_every_default_rule_has_a_source():
    """Every number has its source; a default of 0 only for a switch whose label says what 0 means."""
    for rule in defaults().values():
        assert rule.source.strip(), rule.key
        assert rule.value > 0 or (rule.value == 0 and "0 为" in rule.label), rule.key


def test_org_check_command_and_page(client, tree):
    for i in range(5):
        factories.member(tree["b2"], f"补充{i}")
    out = io.StringIO()
    call_command("org_check", "--unit", "C", stdout=out)
    assert "第二党支部" in out.getvalue() and "应设支部委员会" in out.getvalue()
    admin = factories.user("adm")
    services.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=tree["committee"], valid_from=D(2020, 1, 1))
    client.force_login(admin)
    r = client.get(reverse("org_check"))
    assert "应设支部委员会" in r.content.decode()
    r = client.get(reverse("home"))
    assert r.status_code == 200 and "组织设置提示" in r.content.decode()


def test_forms_reject_bad_input_in_chinese_and_save_nothing(client, tree):
    admin = factories.user("adm")
    services.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=tree["committee"], valid_from=D(2020, 1, 1))
    client.force_login(admin)
    n = LedgerEntry.objects.count()
    r = client.post(reverse("unit_edit", args=["C"]), {"code": "C", "name": "测试党委", "kind": "committee", "parent": tree["b1"].pk, "reason": "试图成环"})
    assert r.status_code == 200
    assert "不能" in r.content.decode()
    r = client.post(reverse("member_new"), {"name": "新人", "gender": "M", "id_number": "123", "category": "full", "unit": tree["b1"].pk, "start": "2025-01-01"})
    assert "身份证号应为18位" in r.content.decode()
    r = client.post(reverse("member_amend", args=[tree["m1"][0].pk]), {"name": "改名", "gender": "M", "id_number": tree["m1"][0].id_number, "category": "full", "joined_on": "2005-07-01", "full_on": "2006-07-01", "reason": ""})
    assert "这个字段是必填项" in r.content.decode() or "必填" in r.content.decode()
    assert LedgerEntry.objects.count() == n
    # a good amendment is saved with its reason
    r = client.post(reverse("member_amend", args=[tree["m1"][0].pk]), {"name": "改名", "gender": "M", "id_number": tree["m1"][0].id_number, "birth_date": "1980-05-17", "category": "full", "joined_on": "2005-07-01", "full_on": "2006-07-01", "reason": "户籍更名"})
    assert r.status_code == 302
    e = ledger.history(tree["m1"][0]).last()
    assert e.reason == "户籍更名" and e.before["name"] == "一支部0" and e.after["name"] == "改名"
