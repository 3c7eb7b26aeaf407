"""Internal audit: plan with independence and time-limited access, checklist from the scope,
reproducible stratified sampling, findings → nonconformities, report PDF (issue 5 §1–6, §9)."""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audits.internal import services as svc
from audits.internal.report import report_pdf
from audits.models import Nonconformity
from procedures.library_loader import load_library
from qms import ledger, signatures
from qms import services as core
from qms.models import Role, RoleGrant, UnitKind
from qms.pdfcheck import check_pdf
from qms.permissions import NotPermitted
from qms.scoping import scopes_for
from tests import factories
from tests.conftest import IN_CI
from workflows.models import Occurrence, State
from workflows.scheduler import schedule

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


@pytest.fixture
def org():
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    g1 = factories.unit("G1", UnitKind.GENERAL_BRANCH, parent=c, name="第一总支")
    g2 = factories.unit("G2", UnitKind.GENERAL_BRANCH, parent=c, name="第二总支")
    b1 = factories.unit("B1", UnitKind.BRANCH, parent=g1, name="一支部")
    b2 = factories.unit("B2", UnitKind.BRANCH, parent=g1, name="二支部")
    b3 = factories.unit("B3", UnitKind.BRANCH, parent=g2, name="三支部")
    for b in (b1, b2, b3):
        for i in range(3):
            factories.member(b, f"{b.code}-{i}")
    admin = factories.user("adm")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=c, valid_from=dt.date(2020, 1, 1))
    auditor = factories.user("aud")
    core.member_update(b3.memberships.first().member, actor=None, reason="账号", user=auditor)
    insider = factories.user("insider")
    core.member_update(b1.memberships.first().member, actor=None, reason="账号", user=insider)
    schedule(today=TODAY - dt.timedelta(days=200), through=TODAY)
    for occ in Occurrence.objects.filter(unit__in=[b1, b2], due_date__lt=TODAY)[:40]:
        Occurrence.objects.filter(pk=occ.pk).update(state=State.CLOSED)  # fixture: a year of executed records
    return {"c": c, "g1": g1, "b1": b1, "b2": b2, "b3": b3, "admin": admin, "auditor": auditor, "insider": insider}


def _plan(org, lead=None, units=None):
    return svc.audit_plan(actor=org["admin"], year=TODAY.year, title="年度内审", root=org["c"], units=units or [org["b1"], org["b2"]],
                          lead=lead or org["auditor"], start=TODAY, end=TODAY + dt.timedelta(days=5))


def _meeting(org, **extra):
    return {"held_on": TODAY, "place": "党委会议室", "auditors": [org["auditor"]],
            "auditees": [org["b1"].memberships.first().member, org["b2"].memberships.first().member],
            "notes": "介绍审核计划、范围和方法", **extra}


def test_independence_is_enforced_with_the_conflict_named(org):
    with pytest.raises(ValidationError, match="属于或任职于“一支部”,不能审核“一支部”"):
        _plan(org, lead=org["insider"])
    with pytest.raises(ValidationError, match="不能审核“第一总支”"):
        _plan(org, lead=org["insider"], units=[org["g1"]])  # the auditor's unit lies inside it
    assert not RoleGrant.objects.filter(role=Role.INTERNAL_AUDITOR).exists()


def test_the_conflict_names_no_unit_outside_the_planners_scope(org):
    """The secretary of 一支部 plans an audit of the branch with a lead auditor who holds office
    in the committee above: refused, without naming the committee (outside the secretary's
    scope)."""
    secretary = factories.user("sec-b1")
    member = org["b1"].memberships.order_by("pk").last().member
    core.member_update(member, actor=None, reason="账号", user=secretary)
    core.position_assign(actor=None, member=member, unit=org["b1"], title="secretary", start=dt.date(2024, 1, 1))
    officer = factories.user("committee-officer")
    core.member_update(org["b3"].memberships.order_by("pk").last().member, actor=None, reason="账号", user=officer)
    core.position_assign(actor=None, member=org["b3"].memberships.order_by("pk").last().member, unit=org["c"],
                         title="organization", start=dt.date(2024, 1, 1))
    with pytest.raises(ValidationError) as exc:
        svc.audit_plan(actor=secretary, year=TODAY.year, title="支部自查", root=org["b1"], units=[org["b1"]], lead=officer,
                       start=TODAY, end=TODAY + dt.timedelta(days=5))
    text = ";".join(exc.value.messages)
    assert "属于或任职于其上级组织,不能审核“一支部”" in text and "测试党委" not in text


def test_plan_grants_read_access_for_the_audit_only_and_builds_the_checklist(org):
    audit = _plan(org)
    grants = RoleGrant.objects.filter(user=org["auditor"], role=Role.INTERNAL_AUDITOR)
    assert {g.unit.code for g in grants} == {"B1", "B2"} and all(g.valid_until == audit.end for g in grants)
    assert {s.unit_code for s in scopes_for(org["auditor"], on=TODAY) if s.level == "internal_auditor"} == {"B1", "B2"}
    assert not [s for s in scopes_for(org["auditor"], on=audit.end + dt.timedelta(days=1)) if s.level == "internal_auditor"]
    texts = [i.text for i in audit.items.filter(unit=org["b1"])]
    assert any("召开支部党员大会" in t and "应开展 4 次" in t for t in texts)
    assert any("任期" in t for t in texts) and audit.items.filter(clause="10.2").count() == 2


def test_sampling_is_reproducible_and_stratified(org):
    audit = _plan(org)
    first = [s.occurrence_id for s in svc.sample_draw(audit, actor=org["admin"], seed=2026, per_unit=3)]
    again = [s.occurrence_id for s in svc.sample_draw(audit, actor=org["admin"], seed=2026, per_unit=3)]
    other = [s.occurrence_id for s in svc.sample_draw(audit, actor=org["admin"], seed=7, per_unit=3)]
    assert first == again and len(first) == 6 and first != other
    assert {s.stratum for s in audit.sample.all()} == {"B1", "B2"}
    audit.refresh_from_db()
    assert "随机种子 7" in audit.sample_method
    with pytest.raises(ValidationError):
        svc.sample_draw(audit, actor=org["admin"], seed=1)


def test_checklist_findings_report(org, tmp_path):
    audit = _plan(org)
    svc.sample_draw(audit, actor=org["admin"], seed=2026, ratio=0.2)
    with pytest.raises(NotPermitted, match="只能由本次审核的审核组长办理"):  # ISO 19011 §6.4.3: the lead chairs
        svc.audit_open(audit, actor=org["admin"], **_meeting(org))
    with pytest.raises(ValidationError, match="受审核组织的党员"):  # b3's member is not an auditee of this audit
        svc.audit_open(audit, actor=org["auditor"], **_meeting(org, auditees=[org["b3"].memberships.last().member]))
    with pytest.raises(ValidationError, match="审核组成员"):
        svc.audit_open(audit, actor=org["auditor"], **_meeting(org, auditors=[org["insider"]]))
    with pytest.raises(ValidationError, match="地点"):
        svc.audit_open(audit, actor=org["auditor"], **_meeting(org, place=" "))
    audit = svc.audit_open(audit, actor=org["auditor"], **_meeting(org))
    opening = audit.meetings.get(kind="opening")
    assert opening.auditees.count() == 2 and list(opening.auditors.all()) == [org["auditor"]]
    items = list(audit.items.all())
    with pytest.raises(ValidationError, match="客观证据"):
        svc.item_record(items[0], actor=org["auditor"], result="nonconform", note="")
    svc.item_record(items[0], actor=org["auditor"], result="nonconform", note="抽查3月支委会记录缺表决情况")
    svc.item_record(items[1], actor=org["auditor"], result="observation", note="签到表字迹潦草")
    with pytest.raises(NotPermitted, match="审核组成员"):
        svc.item_record(items[2], actor=org["admin"], result="conform", note="")
    nc = svc.finding_raise(items[0], actor=org["auditor"], grade="minor")
    obs = svc.finding_raise(items[1], actor=org["auditor"], grade="minor")
    assert nc.source == "internal_audit" and nc.audit == audit and obs.grade == "observation"
    with pytest.raises(ValidationError, match="未填写结论"):
        svc.audit_report(audit, actor=org["auditor"], conclusion="基本符合", **_meeting(org), password="pass-12345")
    for i in items[2:]:
        svc.item_record(i, actor=org["auditor"], result="conform", note="")
    with pytest.raises(ValidationError, match="登录密码不正确"):  # 电子签名: the lead's own password, nothing saved
        svc.audit_report(audit, actor=org["auditor"], conclusion="体系基本有效运行", **_meeting(org), password="wrong")
    assert not audit.meetings.filter(kind="closing").exists()
    audit = svc.audit_report(audit, actor=org["auditor"], conclusion="体系基本有效运行,发现一般不符合1项、观察项1项",
                             **_meeting(org, notes="通报审核发现,受审核方确认"), password="pass-12345")
    assert audit.state == "reported" and audit.meetings.get(kind="closing").notes.startswith("通报") and Nonconformity.objects.filter(audit=audit).count() == 2
    (sig,) = signatures.of(audit)  # 电子签名: the lead signs the report off (确认)
    assert sig.meaning == "confirm" and sig.signer_id == org["auditor"].pk and signatures.verify()[1] == []
    problems = ledger.verify().problems  # the fixture set occurrence states directly: only those show
    assert problems and all("workflows.occurrence" in p.message for p in problems)
    if shutil.which("pdftotext") is None:
        if IN_CI:
            pytest.fail("CI 必须安装 poppler-utils")
        pytest.skip("需要 pdftotext")
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(report_pdf(audit))
    text = "".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split())
    for s in ("内部审核报告", "审核目的", "审核范围", "审核准则", "抽样方法", "随机种子2026", "一般不符合1项", nc.code, "体系基本有效运行",
              "首次会议", "末次会议", "党委会议室", "通报审核发现", "".join(signatures.text(sig).split())):
        assert s in text, s
    assert check_pdf(pdf) == []  # every page within its margins, nothing overlapping


def test_audit_through_the_pages(client, org):
    from django.urls import reverse

    from audits.models import Audit

    # both are internal auditors (only such people are offered as lead); the insider belongs to 一支部
    for who, where in (("insider", "b1"), ("auditor", "c")):
        core.role_grant(actor=None, user=org[who], role=Role.INTERNAL_AUDITOR, unit=org[where], valid_from=dt.date(2020, 1, 1))
    client.force_login(org["admin"])
    start, end = TODAY.isoformat(), (TODAY + dt.timedelta(days=3)).isoformat()
    body = client.post(reverse("audit_new"), {"title": "页面内审", "units": [org["b1"].pk], "lead": org["insider"].pk, "start": start, "end": end}, follow=True).content.decode()
    assert "独立性冲突" in body and not Audit.objects.exists()
    r = client.post(reverse("audit_new"), {"title": "页面内审", "units": [org["b1"].pk, org["b2"].pk], "lead": org["auditor"].pk, "start": start, "end": end})
    audit = Audit.objects.get()
    assert r.status_code == 302
    client.force_login(org["auditor"])
    client.post(reverse("audit_action", args=[audit.pk, "sample"]), {"seed": "2026", "per_unit": "2"})
    client.post(reverse("audit_action", args=[audit.pk, "open"]), {
        "held_on": TODAY.isoformat(), "place": "会议室", "notes": "首次会议", "auditors": [org["auditor"].pk],
        "auditees": [org["b1"].memberships.first().member.pk]})
    audit.refresh_from_db()
    assert audit.state == "in_progress"
    item = audit.items.first()
    client.post(reverse("audit_action", args=[audit.pk, "item"]), {"item": item.pk, "result": "nonconform", "note": "缺少记录"})
    client.post(reverse("audit_action", args=[audit.pk, "finding"]), {"item": item.pk, "grade": "minor"})
    page = client.get(reverse("audit_detail", args=[audit.pk])).content.decode()
    assert "NC-" in page and "随机种子 2026" in page
    assert client.get(reverse("audit_report_pdf", args=[audit.pk]))["Content-Type"] == "application/pdf"
    client.force_login(org["insider"])  # not in the team, and the audit is not in their scope
    assert client.get(reverse("audit_detail", args=[audit.pk])).status_code == 403


def test_programme_puts_risky_units_first_and_is_idempotent(org, client):
    from django.urls import reverse

    from audits.capa import services as capa
    from audits.models import ProgrammeEntry

    capa.nc_raise(actor=org["admin"], unit=org["b3"], source="spot_check", grade="minor", clause="7.5", requirement="r", evidence="e1")
    capa.nc_raise(actor=org["admin"], unit=org["b3"], source="spot_check", grade="minor", clause="7.5", requirement="r", evidence="e2")
    entries = svc.programme_build(org["c"], TODAY.year, actor=org["admin"])
    assert [e.unit.code for e in entries][0] == "B3" and entries[0].priority == 1
    assert "未关闭不符合项 2 项" in entries[0].reason and all("上年未审核" in e.reason for e in entries)
    assert {e.unit.code for e in entries} == {"B1", "B2", "B3"}
    assert len(svc.programme_build(org["c"], TODAY.year, actor=org["admin"])) == 3 and ProgrammeEntry.objects.count() == 3
    client.force_login(org["admin"])
    body = client.get(reverse("audit_programme")).content.decode()
    assert "三支部" in body and "未关闭不符合项 2 项" in body


def test_checklist_items_can_be_added_removed_reordered_and_reused_as_a_template(org):
    from audits.models import ChecklistItem, ChecklistTemplate
    from qms.models import LedgerEntry

    audit = _plan(org)
    n = audit.items.count()
    with pytest.raises(NotPermitted, match="审核组成员"):
        svc.item_add(audit, actor=org["insider"], unit=org["b1"], clause="9.1", text="x")
    with pytest.raises(ValidationError, match="不在本次审核范围"):
        svc.item_add(audit, actor=org["auditor"], unit=org["b3"], clause="9.1", text="x")
    added = svc.item_add(audit, actor=org["auditor"], unit=org["b1"], clause="9.1.3", text="支部对执行情况开展自查并分析")
    assert audit.items.count() == n + 1 and list(audit.items.all())[-1] == added
    svc.item_move(added, actor=org["auditor"], up=True)
    order = [i.pk for i in audit.items.all()]
    assert order.index(added.pk) == n - 1
    svc.item_move(added, actor=org["auditor"], up=False)
    assert [i.pk for i in audit.items.all()][-1] == added.pk
    first = audit.items.first()
    with pytest.raises(ValidationError, match="原因"):
        svc.item_remove(first, actor=org["auditor"], reason="")
    svc.item_remove(first, actor=org["auditor"], reason="与第2项重复")
    assert not ChecklistItem.objects.filter(pk=first.pk).exists()
    assert LedgerEntry.objects.filter(action="checklist.remove", obj_id=str(first.pk), after__isnull=True, reason="与第2项重复").exists()

    tpl = svc.template_save(audit, actor=org["auditor"], name="支部年度内审")
    assert {"clause": "9.1.3", "text": "支部对执行情况开展自查并分析"} in tpl.items
    assert len(tpl.items) == len({(i.clause, i.text) for i in audit.items.all()})
    with pytest.raises(ValidationError, match="已存在"):
        svc.template_save(audit, actor=org["auditor"], name="支部年度内审")
    other = svc.audit_plan(actor=org["admin"], year=TODAY.year, title="专项审核", root=org["c"], units=[org["b2"]],
                           lead=org["auditor"], start=TODAY, end=TODAY + dt.timedelta(days=2))
    assert ChecklistTemplate.objects.get() in svc.templates_for(other)
    added_n = svc.template_apply(other, tpl, actor=org["auditor"])
    assert other.items.filter(unit=org["b2"], clause="9.1.3").count() == 1 and added_n >= 1
    assert svc.template_apply(other, tpl, actor=org["auditor"]) == 0  # nothing twice

    audit = svc.audit_open(audit, actor=org["auditor"], **_meeting(org))
    item = audit.items.first()
    svc.item_record(item, actor=org["auditor"], result="conform", note="")
    with pytest.raises(ValidationError, match="已填写结论"):
        svc.item_remove(item, actor=org["auditor"], reason="x")
    for i in audit.items.filter(result=""):
        svc.item_record(i, actor=org["auditor"], result="na", note="")
    svc.audit_report(audit, actor=org["auditor"], conclusion="符合", **_meeting(org), password="pass-12345")
    with pytest.raises(ValidationError, match="不能再修改"):
        svc.item_add(audit, actor=org["auditor"], unit=None, clause="1", text="x")


def test_an_internal_auditor_may_plan_a_plain_member_may_not(org):
    neutral = factories.user("lead")
    core.role_grant(actor=None, user=neutral, role=Role.INTERNAL_AUDITOR, unit=org["c"], valid_from=dt.date(2020, 1, 1))
    audit = svc.audit_plan(actor=neutral, year=TODAY.year, title="内审员编制", root=org["c"], units=[org["b2"]], lead=neutral,
                           start=TODAY, end=TODAY + dt.timedelta(days=3))
    assert audit.lead == neutral
    with pytest.raises(NotPermitted, match="您无权编制审核计划"):
        svc.audit_plan(actor=org["insider"], year=TODAY.year, title="x", root=org["c"], units=[org["b2"]], lead=neutral,
                       start=TODAY, end=TODAY + dt.timedelta(days=3))


def test_the_programmes_risk_numbers_are_the_organisations_rules(org):
    """H11: the risk points and priority bands are this product's defaults (audits/internal/rules.toml),
    overridable per organisation: with the 优先 band raised to 4, two open tickets no longer make it."""
    from audits.capa import services as capa
    from qms import services as core
    from qms.rules import defaults

    for key in ("programme_rate_watch", "programme_rate_poor", "programme_open_nc_max", "programme_priority_high",
                "programme_priority_mid"):
        assert "本系统默认" in defaults()[key].source
    capa.nc_raise(actor=org["admin"], unit=org["b3"], source="spot_check", grade="minor", clause="7.5", requirement="r", evidence="e1")
    capa.nc_raise(actor=org["admin"], unit=org["b3"], source="spot_check", grade="minor", clause="7.5", requirement="r", evidence="e2")
    core.policy_override_set(actor=org["admin"], unit=org["c"], key="programme_priority_high", value=4, source="本党委审核方案")
    entries = svc.programme_build(org["c"], TODAY.year, actor=org["admin"])
    assert entries[0].unit.code == "B3" and entries[0].priority == 2
