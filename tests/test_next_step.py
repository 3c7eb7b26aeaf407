"""下一步, always: each occurrence, ticket, audit and document page says in one line who acts
next (by name and position) and by when, for every state; each successful action's message
names what happened; a meeting held on another day than planned says so in words."""
from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from procedures.library_loader import load_library
from procedures.models import Document, VersionStatus
from qms import services as core
from qms.models import Role, UnitKind
from tests import factories
from workflows.models import Occurrence, State
from workflows.scheduler import schedule

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


@pytest.fixture
def org(db):
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b1 = factories.unit("B1", UnitKind.BRANCH, parent=c, name="第一党支部")
    b2 = factories.unit("B2", UnitKind.BRANCH, parent=c, name="第二党支部")
    m1 = [factories.member(b1, f"一支{i}") for i in range(4)]
    m2 = [factories.member(b2, f"二支{i}") for i in range(3)]
    users = {n: factories.user(n) for n in ("sec1", "checker", "csec")}
    core.member_update(m1[0], actor=None, reason="账号", user=users["sec1"])
    core.position_assign(actor=None, member=m1[0], unit=b1, title="secretary", start=dt.date(2024, 1, 1))
    core.member_update(m2[1], actor=None, reason="账号", user=users["checker"])
    core.position_assign(actor=None, member=m2[1], unit=c, title="organization", start=dt.date(2024, 1, 1))
    core.member_update(m2[2], actor=None, reason="账号", user=users["csec"])
    core.position_assign(actor=None, member=m2[2], unit=c, title="secretary", start=dt.date(2024, 1, 1))
    for login, name in (("adm", "王管理"), ("rev", "赵审核"), ("apr", "钱批准")):
        users[login] = factories.user(login, first_name=name)
        core.role_grant(actor=None, user=users[login], role=Role.ADMIN, unit=c, valid_from=dt.date(2020, 1, 1))
    users["aud"] = factories.user("aud", first_name="孙审核员")
    return {"c": c, "b1": b1, "b2": b2, "m1": m1, "m2": m2, "users": users}


def _line(page: str) -> str:
    m = re.search(r"data-next-step><strong>下一步(?:([^<]*))?:</strong>(.*?)</p>", page, re.S)
    assert m, page[:1500]
    return html.unescape(m.group(2))


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _post(client, url, data=None):
    r = client.post(url, data or {}, follow=True)
    return r, _messages(r)


# ------------------------------------------------------------------------------ occurrences


def test_occurrence_page_names_who_acts_next_in_every_state(client, org):
    schedule(today=TODAY)
    occ = (Occurrence.objects.filter(unit=org["b1"], obligation_key="branch_general_meeting", period_start__lte=TODAY - dt.timedelta(days=2))
           .order_by("-period_start").first())
    planned, held = TODAY - dt.timedelta(days=2), TODAY - dt.timedelta(days=1)
    page = lambda: client.get(reverse("occurrence_detail", args=[occ.pk])).content.decode()  # noqa: E731
    act = lambda a, data=None: _post(client, reverse("occurrence_action", args=[occ.pk, a]), data)  # noqa: E731
    client.force_login(org["users"]["sec1"])

    line = _line(page())
    assert line.startswith("待 一支0(支部书记)制定计划") and f"截止 {occ.due_date:%m-%d}" in line

    _, msgs = act("plan", {"planned_date": planned.isoformat(), "place": "党员活动室", "topic": "学习党章"})
    assert msgs == [f"已保存计划:{planned:%m-%d} 在党员活动室开展“学习党章”"]
    assert _line(page()).startswith(f"待 一支0(支部书记)于 {planned:%m-%d} 开展并提交记录")

    _, msgs = act("save", {"speeches": "发言若干", "votes_for": "3", "votes_against": "0", "votes_abstain": "0"})
    assert msgs[0].startswith("记录已保存")
    for i, m in enumerate(org["m1"]):
        _, msgs = act("attend", {"member": m.pk, "presence": "present" if i < 3 else "absent", "reason": "" if i < 3 else "出差",
                                 "on_leave": "1"})
        assert msgs == [f"已登记 {m.name}:{'出席' if i < 3 else '请假'}"]
    _, msgs = act("resolution", {"text": "开展专题学习", "owner": org["m1"][1].pk, "due_date": (TODAY + dt.timedelta(days=10)).isoformat()})
    assert msgs == [f"已添加决议“开展专题学习”,责任人 一支1,时限 {TODAY + dt.timedelta(days=10):%m-%d}"]

    _, msgs = act("submit", {"held_on": held.isoformat()})
    occ.refresh_from_db()
    assert occ.state == State.HELD, msgs
    assert msgs[0].startswith(f"已提交记录(计划 {planned:%m-%d},实际 {held:%m-%d} 开展")
    assert "待 上级委员" not in msgs[0] and "二支1(党委组织委员)检查记录" in msgs[0]
    body = page()
    assert f"计划 {planned:%m-%d},实际 {held:%m-%d} 开展" in body
    assert occ.record.elements["time"].startswith(held.isoformat())  # the prefilled 时间 follows the day held
    assert _line(body).startswith("待 二支1(党委组织委员)检查记录")

    client.force_login(org["users"]["checker"])
    _, msgs = act("check", {"password": "pass-12345"})
    assert msgs == ["已检查,记录已冻结"]
    client.force_login(org["users"]["sec1"])
    line = _line(page())
    assert line.startswith("待 一支0(支部书记)督促落实 2 项决议或补课(")
    assert "一支1" in line and "一支3" in line  # the resolution's owner and the absentee's make-up

    for fu in occ.record.followups.all():
        _, msgs = act("followup_done", {"followup": fu.pk, "done_on": TODAY.isoformat(), "outcome": "已完成"})
        assert msgs == [f"已登记“{fu.text}”落实完成"]
    assert _line(page()).startswith("待 一支0(支部书记)闭环(A)")
    _, msgs = act("close")
    assert msgs == ["已闭环(A),本次事项完成"]
    assert _line(page()) == "已完成:已闭环"


def test_a_missed_occurrence_names_the_level_above_and_a_cancelled_one_is_done(client, org):
    from workflows import services

    schedule(today=TODAY - dt.timedelta(days=200), through=TODAY)
    late = Occurrence.objects.filter(unit=org["b1"], state=State.OPEN, due_date__lt=TODAY).order_by("due_date").first()
    services.mark_missed()
    client.force_login(org["users"]["csec"])
    line = _line(client.get(reverse("occurrence_detail", args=[late.pk])).content.decode())
    assert line == "待 二支2(党委书记)将本期未开展立项整改"

    future = Occurrence.objects.filter(unit=org["b1"], state=State.OPEN, due_date__gt=TODAY).order_by("due_date").first()
    r, msgs = _post(client, reverse("occurrence_action", args=[future.pk, "cancel"]), {"reason": "与主题党日合并"})
    assert msgs == ["已同意取消本次:与主题党日合并"]
    assert _line(r.content.decode()) == "已完成:已取消(与主题党日合并)"


def test_vacant_office_is_named_as_vacant(client, org):
    schedule(today=TODAY)
    occ = Occurrence.objects.filter(unit=org["b2"], obligation_key="branch_general_meeting").order_by("-period_start").first()
    client.force_login(org["users"]["adm"])
    assert _line(client.get(reverse("occurrence_detail", args=[occ.pk])).content.decode()).startswith(
        "待 支部书记(暂无人任职,请先任命)制定计划")


# --------------------------------------------------------------------------------- tickets


def test_ticket_page_names_who_acts_next_in_every_state(client, org):
    from audits.capa import services as capa

    u = org["users"]
    nc = capa.nc_raise(actor=u["adm"], unit=org["b1"], source="spot_check", grade="minor", clause="DJ-CX-01",
                       requirement="签到表应由本人签名", evidence="代签")
    page = lambda: client.get(reverse("nc_detail", args=[nc.pk])).content.decode()  # noqa: E731
    act = lambda a, data=None: _post(client, reverse("nc_action", args=[nc.pk, a]), data)  # noqa: E731
    client.force_login(u["sec1"])
    assert _line(page()) == "待 一支0(支部书记)确认不符合项"
    _, msgs = act("acknowledge")
    assert msgs == ["已确认不符合项。下一步:待 一支0(支部书记)分析根本原因(五问法)"]
    _, msgs = act("analyse", {"why1": "为什么代签", "root_cause": "会前未准备签到表"})
    assert msgs[0].startswith("已提交原因分析。下一步:待 一支0(支部书记)制定纠正措施")
    due = TODAY + dt.timedelta(days=7)
    _, msgs = act("plan", {"correction": "重签", "corrective_action": "会前打印签到表", "owner": org["m1"][2].pk, "due_date": due.isoformat()})
    assert msgs[0].startswith(f"已制定整改措施:责任人 一支2,期限 {due:%Y-%m-%d}")
    assert _line(page()) == f"待 一支2(整改责任人)完成整改并登记整改证据,截止 {due:%m-%d}"
    _, msgs = act("implement", {"evidence": "已重签", "done_on": TODAY.isoformat()})
    assert msgs[0].startswith("已登记整改实施,等待验证。下一步:待 王管理(提出人)验证整改")
    client.force_login(u["adm"])
    assert _line(page()).startswith("待 王管理(提出人)验证整改")
    _, msgs = act("verify", {"note": "属实", "password": "pass-12345"})
    assert msgs[0].startswith("已验证整改,可以关闭。下一步:待 王管理(提出人)关闭不符合项")
    _, msgs = act("close", {"password": "pass-12345"})
    nc.refresh_from_db()
    assert msgs[0].startswith(f"已关闭不符合项,{nc.effectiveness_due:%Y-%m-%d} 起评价整改有效性")
    assert _line(page()) == f"待 王管理(提出人)自 {nc.effectiveness_due:%Y-%m-%d} 起评价整改有效性"


def test_a_ticket_the_raiser_implemented_goes_to_the_level_above(client, org):
    from audits.capa import services as capa
    from audits.capa.nextstep import nc_next_step

    u = org["users"]
    nc = capa.nc_raise(actor=u["sec1"], unit=org["b1"], source="spot_check", grade="minor", clause="DJ-CX-01",
                       requirement="要求", evidence="证据")
    capa.nc_acknowledge(nc, actor=u["sec1"])
    capa.nc_analyse(nc, actor=u["sec1"], why=["为什么"], root_cause="原因")
    capa.nc_plan(nc, actor=u["sec1"], correction="纠正", corrective_action="措施", owner=org["m1"][1], due_date=TODAY)
    nc = capa.nc_implement(nc, actor=u["sec1"], evidence="已整改", done_on=TODAY)
    assert nc_next_step(nc).text == "待 二支2(党委书记)验证整改(实施人不能验证)"


# ---------------------------------------------------------------------------------- audits


def test_audit_page_names_the_lead_and_the_dates(client, org):
    from audits.internal import services as svc

    u = org["users"]
    audit = svc.audit_plan(actor=u["adm"], year=TODAY.year, title="年度内审", root=org["c"], units=[org["b1"]], lead=u["aud"],
                           start=TODAY, end=TODAY + dt.timedelta(days=5))
    client.force_login(u["aud"])
    page = lambda: client.get(reverse("audit_detail", args=[audit.pk])).content.decode()  # noqa: E731
    assert _line(page()) == f"待 孙审核员(审核组长)抽取样本并召开首次会议,截止 {TODAY:%m-%d}"
    _, msgs = _post(client, reverse("audit_action", args=[audit.pk, "open"]), {
        "held_on": TODAY.isoformat(), "place": "党委会议室", "notes": "介绍审核计划", "auditors": [u["aud"].pk],
        "auditees": [org["m1"][0].pk]})
    assert msgs == ["已记录首次会议,审核开始实施"]
    line = _line(page())
    left = audit.items.filter(result="").count()
    assert line == f"待 孙审核员(审核组长)记录其余 {left} 项检查结论,召开末次会议,截止 {TODAY + dt.timedelta(days=5):%m-%d}"
    item = audit.items.first()
    _, msgs = _post(client, reverse("audit_action", args=[audit.pk, "item"]), {"item": item.pk, "result": "conform", "note": "查阅记录"})
    assert msgs == ["已记录检查结论:符合"]


# ------------------------------------------------------------------------------- documents


def test_document_page_names_drafter_reviewer_and_approver_in_turn(client, org):
    from procedures import services as docs

    u = org["users"]
    lib = Document.objects.get(owner=None, library_key="branch_committee_meeting")
    v = docs.document_adopt(lib, unit=org["c"], actor=u["adm"], label="测试-2026", change_reason="本委制度")
    page = lambda: client.get(reverse("procedure_detail", args=[v.document_id]) + f"?version={v.pk}").content.decode()  # noqa: E731
    act = lambda a, data=None: _post(client, reverse("procedure_version_action", args=[v.pk, a]), data)  # noqa: E731
    client.force_login(u["adm"])
    assert _line(page()) == "待 王管理(起草人)修改草稿并提交审核"
    _, msgs = act("submit")
    assert msgs[0].startswith(f"已提交审核:{v.document.code} 测试-2026。下一步:待 二支2(党委书记)审核")
    assert _line(page()) == "待 二支2(党委书记)审核(起草人不能审核)"
    client.force_login(u["rev"])
    _, msgs = act("review", {"password": "pass-12345"})
    assert msgs[0].startswith(f"已审核并签名:{v.document.code} 测试-2026。下一步:待 二支2(党委书记)批准")
    client.force_login(u["apr"])
    _, msgs = act("approve", {"effective_on": TODAY.isoformat(), "password": "pass-12345"})
    v.refresh_from_db()
    assert v.status == VersionStatus.EFFECTIVE
    assert msgs[0].startswith(f"已批准 {v.document.code} 测试-2026并发布生效。下一步:待 二支2(党委书记)定期评审")
    assert _line(page()).startswith("待 二支2(党委书记)定期评审本文件是否仍然适宜,截止")


def test_the_line_fits_a_phone(client, org):
    """The line wraps (no fixed width) and is one paragraph: nothing wider than the phone."""
    from pathlib import Path

    css = (Path(__file__).resolve().parent.parent / "static/qms/site.css").read_text()
    rule = re.search(r"\.next-step \{([^}]*)\}", css).group(1)
    assert "overflow-wrap: anywhere" in rule and "width" not in rule


def test_a_held_record_missing_an_element_says_who_completes_it_first(org, client):
    """The checker would refuse an incomplete record (seed 001 三(二)2 要素齐全), so the 下一步
    line names the unit's responsible person and what is missing, not the checker."""
    from workflows import services as wsvc

    schedule(today=TODAY)
    occ = (Occurrence.objects.filter(unit=org["b1"], obligation_key="branch_general_meeting",
                                     period_start__lte=TODAY - dt.timedelta(days=2)).order_by("-period_start").first())
    day = TODAY - dt.timedelta(days=1)
    wsvc.occurrence_plan(occ, actor=org["users"]["sec1"], planned_date=day, place="党员活动室", topic="学习党章")
    wsvc.record_save(occ, actor=org["users"]["sec1"], elements={"votes": {"for": 3, "against": 0, "abstain": 0}})
    wsvc.record_submit(occ, actor=org["users"]["sec1"], held_on=day)
    client.force_login(org["users"]["sec1"])
    line = _line(client.get(reverse("occurrence_detail", args=[occ.pk])).content.decode())
    assert line.startswith("待 一支0(支部书记)补全记录要素(") and "发言内容" in line and "检查记录" not in line
