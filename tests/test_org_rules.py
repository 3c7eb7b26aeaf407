"""Organisation rules by unit kind (seed 001 三(二)1, 三(二)8; seed 002 一): thresholds with the
population each counts, committee sizes per kind, 纪检 posts, seat limits, tree shape and the
term range — each a rule of qms/rules/structure.toml or tree.toml with its source, overridable
per organisation where it is a number."""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from qms import ledger, services
from qms.models import (
    COMMITTEE_TITLES,
    LedgerEntry,
    Member,
    MemberCategory,
    PolicyOverride,
    Position,
    PositionTitle,
    Role,
    Unit,
    UnitKind,
)
from qms.rules import defaults, rules_for, shape
from qms.structure import tree_warnings
from tests import factories

pytestmark = pytest.mark.django_db
D = dt.date
ON = D(2025, 6, 1)


def warned(unit: Unit, code: str | None = None) -> list:
    ws = [w for w in tree_warnings(unit, on=ON) if w.unit_id == unit.pk]
    return [w for w in ws if code is None or w.code == code]


def add(unit: Unit, n: int, category: str = MemberCategory.FULL, prefix: str = "补") -> list:
    return [factories.member(unit, f"{prefix}{unit.code}{i}", category=category) for i in range(n)]


def seat(unit: Unit, members, titles) -> None:
    for m, title in zip(members, titles, strict=True):
        services.position_assign(actor=None, member=m, unit=unit, title=title, start=D(2025, 1, 1))


COMMITTEE_OF = {  # committee seats with the 纪检 post each kind needs
    UnitKind.COMMITTEE: ["secretary", "discipline_secretary"] + ["committee_member"] * 10,
    UnitKind.GENERAL_BRANCH: ["secretary", "discipline"] + ["committee_member"] * 10,
    UnitKind.BRANCH: ["secretary", "discipline"] + ["committee_member"] * 10,
}


def committee(unit: Unit, size: int, pool) -> None:
    seat(unit, pool[:size], COMMITTEE_OF[unit.kind][:size])


@pytest.fixture
def pool(tree):
    """People to seat on a 党委 or 总支 (enrolled in a branch of another 总支)."""
    g2 = factories.unit("G2", UnitKind.GENERAL_BRANCH, parent=tree["committee"], name="第二党总支")
    b3 = factories.unit("B3", UnitKind.BRANCH, parent=g2, name="第三党支部")
    return add(b3, 12, prefix="委员")


# ----------------------------------------------------------------- thresholds and their population


def test_fewer_than_three_full_members_means_a_joint_branch(tree):
    b = factories.unit("S", UnitKind.BRANCH, parent=tree["general"], name="小支部")
    add(b, 2)
    add(b, 1, MemberCategory.PROBATIONARY, prefix="预")  # 3 党员, but the seed counts 正式党员
    (w,) = warned(b, "joint_branch_needed")
    assert "正式党员 2 名,不足3名" in w.message and "联合党支部" in w.message
    assert w.source.startswith("seed 001 三(二)1")
    add(b, 1)  # 3 正式党员: no longer "不足3名"
    assert warned(b, "joint_branch_needed") == []
    jb = factories.unit("J", UnitKind.JOINT_BRANCH, parent=tree["committee"], name="联合支部")
    add(jb, 1)
    assert warned(jb, "joint_branch_needed") == []  # a 联合党支部 is the answer, not the problem


def test_committee_required_above_seven_counts_probationary_members(tree):
    b2 = tree["b2"]  # 3 正式党员
    add(b2, 3)
    add(b2, 1, MemberCategory.PROBATIONARY, prefix="预")  # 7 党员
    assert warned(b2, "no_committee") == []
    add(b2, 1, MemberCategory.PROBATIONARY, prefix="预二")  # 8 党员, of them 6 正式: the seed says 党员人数
    (w,) = warned(b2, "no_committee")
    assert w.message.startswith("党员 8 名,超过7名,应设支部委员会")
    assert defaults()["branch_committee_required_above"].counts == "党员"


def test_small_branch_below_seven_has_only_secretary_and_deputy(tree):
    b2 = tree["b2"]
    add(b2, 3)  # 6 党员
    ms = list(Member.objects.filter(memberships__unit=b2).order_by("pk"))
    seat(b2, ms[:2], ["secretary", "deputy_secretary"])
    assert warned(b2, "small_branch_offices") == []
    seat(b2, ms[2:3], ["organization"])
    (w,) = warned(b2, "small_branch_offices")
    assert "党员 6 名,不足7名,只设书记1人,必要时可设副书记1名" in w.message and "组织委员" in w.message
    add(b2, 1)  # 7 党员: not "不足7名"
    assert warned(b2, "small_branch_offices") == []


def test_small_branch_at_most_one_deputy_secretary_is_refused(tree):
    b2 = tree["b2"]  # 3 党员
    a, b, c = tree["m2"]
    seat(b2, [a], ["deputy_secretary"])
    n, positions = LedgerEntry.objects.count(), Position.objects.count()
    with pytest.raises(ValidationError) as e:
        services.position_assign(actor=None, member=b, unit=b2, title="deputy_secretary", start=D(2025, 1, 1))
    msg = " ".join(e.value.messages)
    assert "不足7名" in msg and "副书记最多 1 名" in msg and "三(二)1" in msg
    assert (LedgerEntry.objects.count(), Position.objects.count()) == (n, positions)
    add(b2, 4)  # 7 党员: the limit is for a branch of fewer than 7
    services.position_assign(actor=None, member=b, unit=b2, title="deputy_secretary", start=D(2025, 1, 1))
    assert Position.objects.filter(unit=b2, title="deputy_secretary", end__isnull=True).count() == 2


def test_one_secretary_per_unit_from_data_and_overridable(tree):
    b1 = tree["b1"]
    a, b = tree["m1"][:2]
    seat(b1, [a], ["secretary"])
    with pytest.raises(ValidationError, match="已有在任书记 1 名"):
        seat(b1, [b], ["secretary"])
    services.policy_override_set(actor=None, unit=tree["committee"], key="secretary_max", value=2, source="本委试行办法第3条")
    seat(b1, [b], ["secretary"])
    assert Position.objects.filter(unit=b1, title="secretary").count() == 2


def test_more_than_fifty_full_members_considers_a_general_branch(tree):
    b1 = tree["b1"]  # 4 正式党员
    add(b1, 46)
    assert warned(b1, "too_many_members") == []  # 50: not more than 50
    add(b1, 1)
    (w,) = warned(b1, "too_many_members")
    assert w.message.startswith("正式党员 51 名,超过50名") and "总支部委员会" in w.message


def test_more_than_hundred_full_members_considers_a_base_committee_counted_over_the_subtree(tree):
    g = tree["general"]  # B1 4 + B2 3 正式党员
    add(tree["b1"], 46)  # 50
    add(tree["b2"], 47)  # 50 → the 总支 has 100
    add(tree["b2"], 1, MemberCategory.PROBATIONARY, prefix="预")  # a 预备党员 does not count
    assert warned(g, "committee_considered") == []
    add(tree["b2"], 1)  # 101 正式党员 under the 总支
    (w,) = warned(g, "committee_considered")
    assert w.message.startswith("正式党员 101 名,超过100名") and "基层委员会" in w.message
    # the branch of 51 is told about the 总支, not the 基层委员会
    assert [x.code for x in warned(tree["b2"]) if x.code in ("too_many_members", "committee_considered")] == ["too_many_members"]


# ------------------------------------------------------------------------------ committee sizes


def test_committee_size_branch_three_to_five_up_to_seven(tree):
    b1 = tree["b1"]
    ms = add(b1, 6)  # 10 党员: a 支委会 is due
    committee(b1, 7, ms + tree["m1"])
    assert warned(b1, "committee_size") == []
    seat(b1, tree["m1"][3:4], ["youth"])
    (w,) = warned(b1, "committee_size")
    assert "支部委员会现有 8 人" in w.message and "由3至5人组成,一般不超过7人" in w.message


def test_002_01_committee_size_party_committee_up_to_11(tree, pool):
    c = tree["committee"]
    committee(c, 9, pool)  # a 9-member 党委 is within seed 002 一
    assert warned(c) == []
    committee_members = pool[9:11]
    seat(c, committee_members, ["committee_member"] * 2)  # 11
    assert warned(c, "committee_size") == []
    seat(c, pool[11:12], ["committee_member"])  # 12
    (w,) = warned(c, "committee_size")
    assert "委员会现有 12 人,应为3至11人" in w.message and w.source.startswith("seed 002 一")


def test_committee_size_general_branch_three_to_seven_is_this_products_default(tree, pool):
    g = tree["general"]
    committee(g, 2, pool)
    (w,) = warned(g, "committee_size")
    assert "应为3至7人" in w.message and "本系统默认" in w.source
    seat(g, pool[2:3], ["committee_member"])  # 3
    assert warned(g, "committee_size") == []
    seat(g, pool[3:7], ["committee_member"] * 4)  # 7
    assert warned(g, "committee_size") == []
    seat(g, pool[7:8], ["committee_member"])  # 8
    assert "现有 8 人" in warned(g, "committee_size")[0].message


# ------------------------------------------------------------------------------------ 纪检 posts


def test_party_committee_sets_up_a_discipline_commission(tree, pool):
    c = tree["committee"]
    seat(c, pool[:3], ["secretary", "organization", "discipline"])  # a 纪检委员 is not a 纪委
    (w,) = warned(c, "no_discipline_post")
    assert "未登记机关纪委" in w.message and w.source == "seed 001 三(二)1:设机关党委的应设立机关纪委"
    seat(c, pool[3:4], ["discipline_secretary"])
    assert warned(c, "no_discipline_post") == []


def test_general_branch_and_branch_committee_have_a_discipline_member(tree, pool):
    g = tree["general"]
    seat(g, pool[:3], ["secretary", "organization", "propaganda"])
    assert "党总支、支部委员会应设纪检委员" in warned(g, "no_discipline_post")[0].message
    seat(g, pool[3:4], ["discipline"])
    assert warned(g, "no_discipline_post") == []
    b1 = tree["b1"]
    seat(b1, tree["m1"][:3], ["secretary", "organization", "propaganda"])
    assert len(warned(b1, "no_discipline_post")) == 1


def test_branch_without_committee_names_a_person_for_discipline(tree):
    b2 = tree["b2"]
    a, b, _c = tree["m2"]
    assert warned(b2, "no_discipline_post") == []  # nothing recorded: a vacancy, not a missing post
    seat(b2, [a], ["secretary"])
    (w,) = warned(b2, "no_discipline_post")
    assert "未登记纪检工作负责人:不设委员会的支部应指定专人负责纪检工作" in w.message
    seat(b2, [b], ["discipline_contact"])  # not a committee seat
    assert warned(b2) == []
    assert PositionTitle.DISCIPLINE_CONTACT not in COMMITTEE_TITLES


def test_offices_by_kind_are_data_and_refused_in_chinese(tree):
    with pytest.raises(ValidationError) as e:
        seat(tree["committee"], tree["m1"][:1], ["discipline_contact"])
    assert "党委(基层委员会)不设纪检工作负责人" in e.value.messages[0]
    with pytest.raises(ValidationError) as e:
        seat(tree["b1"], tree["m1"][:1], ["discipline_secretary"])
    assert "纪委书记只在党委(基层委员会)任职" in e.value.messages[0]
    with pytest.raises(ValidationError, match="党小组不设书记"):
        seat(tree["g1"], tree["m1"][:1], ["secretary"])


# ----------------------------------------------------------------------- overrides per organisation


def test_overriding_a_threshold_changes_the_warning(tree, pool):
    c = tree["committee"]
    committee(c, 10, pool)
    assert warned(c) == []
    services.policy_override_set(actor=None, unit=c, key="party_committee_size_max", value=9, source="本委《党委工作规则》第4条")
    (w,) = warned(c, "committee_size")
    assert "应为3至9人" in w.message and w.source == "本委《党委工作规则》第4条"
    rule = rules_for(tree["b1"])["party_committee_size_max"]
    assert rule.kinds == ("committee",) and rule.overridden_by == "测试党委"
    # a rule with a population keeps it under an override
    services.policy_override_set(actor=None, unit=c, key="branch_committee_required_above", value=3, source="本委细则第2条")
    assert rules_for(tree["b1"])["branch_committee_required_above"].counts == "党员"
    assert [w.code for w in warned(tree["b1"])] == ["no_committee"]  # 4 党员 > 3
    # a 纪检 requirement switched off by the organisation's own rule
    b2 = tree["b2"]
    seat(b2, tree["m2"][:1], ["secretary"])
    assert warned(b2, "no_discipline_post")
    services.policy_override_set(actor=None, unit=c, key="discipline_contact_required", value=0, source="本委细则第9条")
    assert warned(b2, "no_discipline_post") == []
    assert ledger.verify().ok


def test_an_override_that_removes_the_source_is_refused(tree):
    c = tree["committee"]
    services.policy_override_set(actor=None, unit=c, key="committee_size_max", value=6, source="本委细则第1条")
    n = LedgerEntry.objects.count()
    for bad in ("", "   "):
        with pytest.raises(ValidationError) as e:
            services.policy_override_set(actor=None, unit=c, key="committee_size_max", value=5, source=bad)
        assert "必须注明本组织制度依据" in e.value.messages[0]
    o = PolicyOverride.objects.get(unit=c, key="committee_size_max")
    assert (o.value, o.source) == (6, "本委细则第1条") and LedgerEntry.objects.count() == n


# ---------------------------------------------------------------------------------- tree shape


def test_tree_shape_is_data_with_sources():
    s = shape()
    assert set(s.parents) == set(UnitKind.values) == set(s.titles)
    for allowed, source in [*s.parents.values(), *s.titles.values()]:
        assert allowed and source.strip()
    assert all(t in PositionTitle.values for allowed, _s in s.titles.values() for t in allowed)
    for rule in defaults().values():
        assert all(k in UnitKind.values for k in rule.kinds)


def test_tree_shape_refusal_names_its_source(tree):
    with pytest.raises(ValidationError) as e:
        factories.unit("X1", UnitKind.GROUP, parent=tree["committee"])
    msg = e.value.messages[0]
    assert msg.startswith("党小组不能设在“党委(基层委员会)”之下") and "划分党小组" in msg and "seed" not in msg


# ------------------------------------------------------------------------------------------ terms


def test_term_within_one_year_of_the_default_by_kind(tree):
    g = tree["general"]
    for years in (2, 3, 4):
        factories.unit(f"T{years}", UnitKind.BRANCH, parent=g, term_years=years)
    for years in (1, 5):
        with pytest.raises(ValidationError) as e:
            factories.unit(f"T{years}", UnitKind.BRANCH, parent=g, term_years=years)
        msg = e.value.messages[0]
        assert "任期应在2至4年之间" in msg and "一般为3年" in msg and "不超过1年" in msg and "三(二)8" in msg
    factories.unit("C6", UnitKind.COMMITTEE, parent=tree["committee"], term_years=6)
    with pytest.raises(ValidationError, match="任期应在4至6年之间"):
        factories.unit("C7", UnitKind.COMMITTEE, parent=tree["committee"], term_years=7)
    with pytest.raises(ValidationError, match="党小组不实行任期制"):
        factories.unit("GX", UnitKind.GROUP, parent=tree["b1"], term_years=3)
    assert not Unit.objects.filter(code__in=["T1", "T5", "C7", "GX"]).exists()


def test_unit_update_out_of_range_term_is_refused_and_nothing_saved(tree):
    b1 = tree["b1"]
    n = LedgerEntry.objects.count()
    with pytest.raises(ValidationError, match="任期应在2至4年之间"):
        services.unit_update(b1, actor=None, reason="延期换届", term_years=6, name="改名")
    b1.refresh_from_db()
    assert (b1.term_years, b1.name, LedgerEntry.objects.count()) == (None, "第一党支部", n)
    with pytest.raises(ValidationError, match="须有上级党组织同意的批复"):  # 延期 only as approved
        services.unit_update(b1, actor=None, reason="延期一年", term_years=4)
    ok = services.decision_record(actor=None, unit=b1, decided_by_unit=tree["general"], kind="term_extend",
                                  doc_number="总支〔2026〕1号", date=D(2026, 1, 5), outcome="approved")
    services.unit_update(b1, actor=None, reason="经上级批准延期一年", term_years=4, decision=ok)
    b1.refresh_from_db()
    assert b1.term_years == 4 and ledger.history(b1).last().reason == "经上级批准延期一年(依据上级批复 总支〔2026〕1号)"
    with pytest.raises(ValidationError):
        services.unit_update(b1, actor=None, reason="调整", term_years=10)
    # an organisation's own default term moves the range with it
    services.policy_override_set(actor=None, unit=tree["committee"], key="term_years_branch", value=2, source="本委《支部工作细则》第5条")
    with pytest.raises(ValidationError, match="任期应在1至3年之间"):
        services.unit_update(tree["b2"], actor=None, reason="调整", term_years=4)


def test_term_pages_show_the_rules_and_refuse_in_chinese(client, tree):
    admin = factories.user("adm")
    services.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=tree["committee"], valid_from=D(2020, 1, 1))
    client.force_login(admin)
    services.policy_override_set(actor=None, unit=tree["committee"], key="term_years_branch", value=2, source="本委《支部工作细则》第5条")
    page = client.get(reverse("unit_edit", args=["B1"])).content.decode()
    assert "党支部、联合党支部、临时党支部2年" in page and "延期或提前换届一般不超过1年" in page
    assert "《关于进一步加强和改进机关党的建设的实施意见》三(二)8" in page
    n = LedgerEntry.objects.count()
    r = client.post(reverse("unit_edit", args=["B1"]), {"code": "B1", "name": "第一党支部", "kind": "branch", "parent": tree["general"].pk,
                                                       "term_start": "2024-01-01", "term_years": "6", "reason": "延期"})
    assert r.status_code == 200 and "任期应在1至3年之间" in r.content.decode()
    assert LedgerEntry.objects.count() == n and Unit.objects.get(code="B1").term_years is None


def test_warnings_on_the_unit_page_name_rule_and_source(client, tree, pool):
    admin = factories.user("adm")
    services.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=tree["committee"], valid_from=D(2020, 1, 1))
    client.force_login(admin)
    committee(tree["committee"], 12, pool)
    page = client.get(reverse("unit_detail", args=["C"])).content.decode()
    assert "委员会现有 12 人,应为3至11人" in page and "seed" not in page
    assert "大的厅局机关党委成员不超过11人" in page
