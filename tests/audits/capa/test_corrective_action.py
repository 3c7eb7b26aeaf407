"""Nonconformities and corrective action (ISO 9001 §10.2), the problem register and 整改率
(issue 5, items 7–8)."""
from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from audits.capa import services
from audits.models import NCState, Nonconformity
from qms import ledger
from qms import services as core
from qms.models import Member, Notification, Role, UnitKind
from qms.pdfcheck import check_pdf
from qms.permissions import NotPermitted
from tests import factories
from tests.conftest import IN_CI

pytestmark = pytest.mark.django_db
D = dt.date
TODAY = timezone.localdate()


@pytest.fixture
def org():
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b1 = factories.unit("B1", UnitKind.BRANCH, parent=c, name="第一党支部")
    b2 = factories.unit("B2", UnitKind.BRANCH, parent=c, name="第二党支部")
    m1 = [factories.member(b1, f"一支{i}") for i in range(3)]
    factories.member(b2, "二支0")
    sec, auditor, up = factories.user("sec"), factories.user("auditor"), factories.user("up")
    core.member_update(m1[0], actor=None, reason="账号", user=sec)
    core.position_assign(actor=None, member=m1[0], unit=b1, title="secretary", start=D(2024, 1, 1))
    core.role_grant(actor=None, user=auditor, role=Role.ADMIN, unit=c, valid_from=D(2020, 1, 1))
    upm = factories.member(b2, "党委书记")
    core.member_update(upm, actor=None, reason="账号", user=up)
    core.position_assign(actor=None, member=upm, unit=c, title="secretary", start=D(2024, 1, 1))
    return {"c": c, "b1": b1, "b2": b2, "m1": m1, "sec": sec, "auditor": auditor, "up": up}


def _raise(org, grade="minor"):
    return services.nc_raise(actor=org["auditor"], unit=org["b1"], source="spot_check", grade=grade, clause="DJ-CX-02",
                             requirement="每月至少召开1次支委会", evidence="3月、4月无支委会记录")


def _to_implemented(org, nc):
    services.nc_acknowledge(nc, actor=org["sec"])
    services.nc_analyse(nc, actor=org["sec"], why=["为何未开会", "书记出差", "无人代为召集"], root_cause="缺少书记不在时的代召集制度")
    services.nc_plan(nc, actor=org["sec"], correction="补开支委会", corrective_action="建立副书记代召集制度",
                     owner=org["m1"][1], due_date=TODAY + dt.timedelta(days=30))
    services.nc_implement(nc, actor=org["sec"], evidence="已补开并印发制度(见5月记录)", done_on=TODAY)
    return nc


def test_finding_needs_clause_and_evidence(org):
    with pytest.raises(ValidationError, match="条款、客观证据"):
        services.nc_raise(actor=org["auditor"], unit=org["b1"], source="spot_check", grade="minor", clause=" ", requirement="x", evidence="")
    assert not Nonconformity.objects.exists()


def test_ticket_to_verified_closure_and_effectiveness(org, monkeypatch):
    nc = _raise(org)
    assert nc.code == f"NC-{TODAY.year}-0001"
    assert Notification.objects.filter(user=org["sec"], key=f"nc:{nc.pk}:raised").exists()
    services.nc_acknowledge(nc, actor=org["sec"])
    with pytest.raises(ValidationError, match="根本原因"):
        services.nc_analyse(nc, actor=org["sec"], why=["a"], root_cause="")
    services.nc_analyse(nc, actor=org["sec"], why=["一", "二"], root_cause="制度缺失")
    with pytest.raises(ValidationError, match="不能早于今天"):
        services.nc_plan(nc, actor=org["sec"], correction="c", corrective_action="a", owner=org["m1"][1], due_date=TODAY - dt.timedelta(days=1))
    services.nc_plan(nc, actor=org["sec"], correction="c", corrective_action="a", owner=org["m1"][1], due_date=TODAY + dt.timedelta(days=10))
    with pytest.raises(ValidationError, match="证据"):
        services.nc_implement(nc, actor=org["sec"], evidence="", done_on=TODAY)
    services.nc_implement(nc, actor=org["sec"], evidence="已整改", done_on=TODAY)
    with pytest.raises(ValidationError):
        services.nc_close(nc, actor=org["auditor"], password="pass-12345")  # not verified yet
    with pytest.raises(NotPermitted, match="实施人不能验证"):
        services.nc_verify(nc, actor=org["sec"], note="自己验证", password="pass-12345")
    services.nc_reject(nc, actor=org["auditor"], reason="证据不足")
    assert nc.state == NCState.PLANNED
    services.nc_implement(nc, actor=org["sec"], evidence="补充记录和制度文件", done_on=TODAY)
    services.nc_verify(nc, actor=org["auditor"], note="已核实", password="pass-12345")
    with pytest.raises(ValidationError, match="不允许评价有效性,应在整改单关闭之后进行"):  # no date yet to name
        services.nc_review_effectiveness(nc, actor=org["auditor"], effective=True, note="提前评价")
    services.nc_close(nc, actor=org["auditor"], password="pass-12345")
    assert nc.state == NCState.CLOSED and nc.effectiveness_due > TODAY
    with pytest.raises(ValidationError, match="有效性评价应在"):
        services.nc_review_effectiveness(nc, actor=org["auditor"], effective=False, note="再次发生")
    # time passes to the review date (editing the row instead would now be refused as tampering)
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: nc.effectiveness_due)
    services.nc_review_effectiveness(nc, actor=org["auditor"], effective=False, note="6月又未开会")
    follow = Nonconformity.objects.get(follows=nc)
    assert follow.state == NCState.RAISED and follow.source == "follow_up"
    assert [e.action for e in ledger.history(nc)][:3] == ["nc.raise", "nc.acknowledge", "nc.analyse"]


def test_implementer_cannot_verify(org):
    nc = _to_implemented(org, _raise(org))
    core.role_grant(actor=None, user=org["sec"], role=Role.ADMIN, unit=org["c"], valid_from=D(2020, 1, 1))
    org["sec"].__dict__.pop("_qms_scopes", None)  # scopes are cached per request; this is a new "request"
    with pytest.raises(NotPermitted, match="实施人不能验证"):
        services.nc_verify(nc, actor=org["sec"], note="x", password="pass-12345")


TABLE = {
    NCState.RAISED: {"acknowledge"}, NCState.ACKNOWLEDGED: {"analyse"}, NCState.ANALYSED: {"plan"},
    NCState.PLANNED: {"implement"}, NCState.IMPLEMENTED: {"verify", "reject"}, NCState.VERIFIED: {"close"},
    NCState.CLOSED: {"confirm_effective", "confirm_ineffective"}, NCState.EFFECTIVE: set(), NCState.INEFFECTIVE: set(),
}


@pytest.mark.parametrize("state", list(TABLE))
def test_transition_table(state):
    nc = Nonconformity(state=state, root_cause="r", correction="c", corrective_action="a", owner_id=1, due_date=TODAY,
                       implementation_evidence="e", effectiveness_due=TODAY)
    assert {t.name for t in nc.get_available_state_transitions()} == TABLE[state]


def test_rectification_rate_on_a_hand_built_case(org):
    a, b = _raise(org), _raise(org)
    _raise(org)  # still open
    _raise(org, grade="observation")  # not a nonconformity: not counted
    for nc in (a, b):
        _to_implemented(org, nc)
        services.nc_verify(nc, actor=org["auditor"], note="ok", password="pass-12345")
        services.nc_close(nc, actor=org["auditor"], password="pass-12345")
    Nonconformity.objects.filter(pk=a.pk).update(raised_on=TODAY - dt.timedelta(days=10))
    Nonconformity.objects.filter(pk=b.pk).update(raised_on=TODAY - dt.timedelta(days=40), due_date=TODAY - dt.timedelta(days=5))
    st = services.rectification(Nonconformity.objects.all())
    assert (st.total, st.rectified, st.on_time) == (3, 2, 1)
    assert st.rate == round(2 / 3, 4) and st.on_time_rate == round(1 / 3, 4) and st.mean_days == 25.0


def test_overdue_escalates_to_the_unit_above_once(org):
    nc = _to_implemented(org, _raise(org))
    Nonconformity.objects.filter(pk=nc.pk).update(due_date=TODAY - dt.timedelta(days=1))
    assert services.escalate_overdue() == 1
    assert services.escalate_overdue() == 0
    assert Notification.objects.get(user=org["up"], key=f"nc:{nc.pk}:overdue").level == "danger"


def test_raise_from_a_gap():
    from procedures.library_loader import load_library
    from workflows.models import Occurrence, State
    from workflows.scheduler import schedule

    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b = factories.unit("B", UnitKind.BRANCH, parent=c, name="第一党支部")
    factories.member(b, "甲")
    schedule(today=TODAY - dt.timedelta(days=120))
    occ = Occurrence.objects.filter(unit=b, due_date__lt=TODAY).first()
    Occurrence.objects.filter(pk=occ.pk).update(state=State.MISSED)  # fixture: the daily job marked it
    occ.refresh_from_db()
    nc = services.nc_raise_from_gap(occ, actor=None)
    assert nc.source == "gap" and nc.occurrence == occ and "未开展" in nc.evidence and occ.obligation.source in nc.requirement
    with pytest.raises(ValidationError, match="已立项"):
        services.nc_raise_from_gap(occ, actor=None)


def test_register_pages_excel_pdf_and_scope(client, org, tmp_path):
    nc = _raise(org)
    services.nc_raise(actor=org["auditor"], unit=org["b2"], source="spot_check", grade="major", clause="7.5", requirement="r", evidence="二支部的问题")
    client.force_login(org["sec"])
    body = client.get(reverse("nc_register")).content.decode()
    assert nc.code in body and "二支部的问题" not in body and "整改率" in body
    other = Nonconformity.objects.get(unit=org["b2"])
    assert client.get(reverse("nc_detail", args=[other.pk])).status_code == 404
    wb = load_workbook(io.BytesIO(client.get(reverse("nc_register_xlsx")).content))
    assert wb["问题清单"].max_row == 2 and wb.sheetnames == ["问题清单", "整改率"]
    client.post(reverse("nc_action", args=[nc.pk, "acknowledge"]), follow=True)
    nc.refresh_from_db()
    assert nc.state == NCState.ACKNOWLEDGED
    if shutil.which("pdftotext") is None:
        if IN_CI:
            pytest.fail("CI 必须安装 poppler-utils")
        pytest.skip("需要 pdftotext")
    pdf = tmp_path / "f.pdf"
    pdf.write_bytes(client.get(reverse("nc_feedback_pdf", args=[nc.pk])).content)
    text = "".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split())
    assert "问题整改反馈单" in text and nc.code in text and "3月、4月无支委会记录" in text
    assert check_pdf(pdf) == []  # every page within its margins, nothing overlapping


def test_an_owner_from_another_branch_is_not_found_never_named(client, org):
    """The 整改责任人 is posted by id: one outside the secretary's scope is not found, and the
    answer carries no name (qms/scoping.py)."""
    nc = _raise(org)
    services.nc_acknowledge(nc, actor=org["sec"])
    services.nc_analyse(nc, actor=org["sec"], why=["一"], root_cause="制度缺失")
    other = Member.objects.get(name="二支0")
    client.force_login(org["sec"])
    body = client.post(reverse("nc_action", args=[nc.pk, "plan"]), {"correction": "补开", "corrective_action": "建立制度",
                       "owner": other.pk, "due_date": (TODAY + dt.timedelta(days=9)).isoformat()}, follow=True).content.decode()
    nc.refresh_from_db()
    assert nc.state == NCState.ANALYSED and nc.owner_id is None
    assert "整改责任人不在本组织名单中" in body and "二支0" not in body


@pytest.mark.django_db(transaction=True)
def test_concurrent_verify_and_reject_one_wins():
    import threading

    from django.db import connections

    from tests.conftest import require_postgres

    require_postgres()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b = factories.unit("B1", UnitKind.BRANCH, parent=c, name="第一党支部")
    ms = [factories.member(b, f"一支{i}") for i in range(2)]
    sec, a1, a2 = factories.user("sec"), factories.user("a1"), factories.user("a2")
    core.member_update(ms[0], actor=None, reason="账号", user=sec)
    core.position_assign(actor=None, member=ms[0], unit=b, title="secretary", start=D(2024, 1, 1))
    for u in (a1, a2):
        core.role_grant(actor=None, user=u, role=Role.ADMIN, unit=c, valid_from=D(2020, 1, 1))
    org = {"b1": b, "m1": ms, "sec": sec, "auditor": a1}
    nc = _to_implemented(org, _raise(org))
    barrier, results = threading.Barrier(2), []

    def act(user, verify):
        try:
            mine = Nonconformity.objects.get(pk=nc.pk)
            barrier.wait(10)
            (services.nc_verify(mine, actor=user, note="ok", password="pass-12345") if verify else services.nc_reject(mine, actor=user, reason="不足"))
            results.append("ok")
        except ValidationError as exc:
            results.append(exc.messages[0])
        finally:
            connections.close_all()

    ts = [threading.Thread(target=act, args=(a1, True)), threading.Thread(target=act, args=(a2, False))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert results.count("ok") == 1, results
    final = Nonconformity.objects.get(pk=nc.pk).state
    assert final in (NCState.VERIFIED, NCState.PLANNED)
    assert ledger.history(Nonconformity.objects.get(pk=nc.pk)).filter(action__in=["nc.verify", "nc.reject"]).count() == 1


def test_register_page_queries_do_not_grow_with_units(org, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(org["auditor"])
    _raise(org)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("nc_register"))
    for i in range(5):
        u = factories.unit(f"X{i}", UnitKind.BRANCH, parent=org["c"], name=f"新支部{i}")
        services.nc_raise(actor=org["auditor"], unit=u, source="spot_check", grade="minor", clause="7.5", requirement="r", evidence="e")
    with CaptureQueriesContext(connection) as many:
        body = client.get(reverse("nc_register")).content.decode()
    assert "新支部4" in body and len(many.captured_queries) == len(few.captured_queries)


def test_implementation_evidence_files_all_or_nothing(org, client, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = str(tmp_path)
    nc = _raise(org)
    services.nc_acknowledge(nc, actor=org["sec"])
    services.nc_analyse(nc, actor=org["sec"], why=["为什么"], root_cause="制度缺失")
    services.nc_plan(nc, actor=org["sec"], correction="补开", corrective_action="建立制度", owner=org["m1"][1],
                     due_date=TODAY + dt.timedelta(days=9))
    fake = SimpleUploadedFile("会议记录.pdf", b"MZ not a pdf", content_type="application/pdf")
    with pytest.raises(ValidationError, match="内容与扩展名不符"):
        services.nc_implement(nc, actor=org["sec"], evidence="已补开", done_on=TODAY, uploads=[fake])
    nc.refresh_from_db()
    assert nc.state == NCState.PLANNED and not nc.attachments.exists()  # nothing half-saved
    client.force_login(org["sec"])
    pdf = SimpleUploadedFile("补开会议记录.pdf", b"%PDF-1.4 minutes", content_type="application/pdf")
    client.post(reverse("nc_action", args=[nc.pk, "implement"]), {"evidence": "已补开", "done_on": TODAY.isoformat(), "evidence_file": pdf})
    nc.refresh_from_db()
    att = nc.attachments.get()
    assert nc.state == NCState.IMPLEMENTED and att.name == "补开会议记录.pdf" and len(att.sha256) == 64
    assert "补开会议记录.pdf" in client.get(reverse("nc_detail", args=[nc.pk])).content.decode()
    body = b"".join(client.get(reverse("nc_attachment", args=[nc.pk, att.pk])).streaming_content)
    assert body == b"%PDF-1.4 minutes"
    assert ledger.history(att).filter(action="nc.attach").exists()
    outsider = factories.user("outsider")
    client.force_login(outsider)
    assert client.get(reverse("nc_attachment", args=[nc.pk, att.pk])).status_code == 404


def test_register_overview_equals_a_count_by_hand(org):
    """The register's one-query overview against a count in Python over the same tickets:
    the cards (整改率 over all), the lowest units in order (ties by code), how many units have
    nonconformities, and how many tickets are listed — observations in the list only, a unit
    with observations alone in no rate."""
    import random

    rnd = random.Random(7)
    units = [factories.unit(f"R{i}", UnitKind.BRANCH, parent=org["c"], name=f"整改支部{i}") for i in range(6)]
    only_obs = factories.unit("R9", UnitKind.BRANCH, parent=org["c"], name="只有观察项")
    for u in units + [only_obs]:
        for k in range(rnd.randint(1, 5)):
            grade = "observation" if u is only_obs or k == 0 else rnd.choice(["minor", "major"])
            nc = services.nc_raise(actor=org["auditor"], unit=u, source="spot_check", grade=grade, clause="7.5",
                                   requirement="r", evidence=f"{u.code}-{k}")
            if rnd.random() < 0.5:  # fixture: a ticket closed some days after raising, on time or not
                raised = TODAY - dt.timedelta(days=rnd.randint(5, 60))
                closed = raised + dt.timedelta(days=rnd.randint(1, 20))
                Nonconformity.objects.filter(pk=nc.pk).update(
                    state=rnd.choice(["closed", "effective"]), raised_on=raised, closed_on=closed,
                    due_date=raised + dt.timedelta(days=rnd.choice([3, 30])))
    qs = Nonconformity.objects.all()
    by_hand: dict[str, list] = {}
    for nc in qs.select_related("unit"):
        if nc.grade == "observation":
            continue
        row = by_hand.setdefault(nc.unit.code, [nc.unit.name, 0, 0, 0, 0])
        done = nc.state in ("closed", "effective", "ineffective") and nc.closed_on is not None
        row[1] += 1
        row[2] += done
        row[3] += done and (nc.due_date is None or nc.closed_on <= nc.due_date)
        row[4] += (nc.closed_on - nc.raised_on).days if done else 0
    order = sorted(by_hand, key=lambda code: (by_hand[code][2] / by_hand[code][1], code))

    for n in (3, 30):
        ov = services.register_overview(qs, n)
        assert ov.listed == qs.count() and ov.units_total == len(by_hand)
        assert ov.stats == services.rectification(qs)
        assert [(name, s.total, s.rectified, s.on_time) for name, s in ov.lowest] == [
            tuple(by_hand[code][:4]) for code in order[:n]]
        for (_name, s), code in zip(ov.lowest, order, strict=False):
            rect, days = by_hand[code][2], by_hand[code][4]
            assert s.mean_days == (round(days / rect, 1) if rect else None)
    empty = services.register_overview(qs.none(), 30)
    assert (empty.listed, empty.units_total, empty.lowest, empty.stats.total) == (0, 0, [], 0)


def test_effectiveness_review_delay_and_gap_grade_are_the_organisations_rules(org):
    """H12/H13: 90 days and 一般不符合 are this product's defaults (audits/capa/rules.toml), each
    overridable by the organisation with its own source; an override without one is refused."""
    nc = _to_implemented(org, _raise(org))
    services.nc_verify(nc, actor=org["auditor"], note="已核实", password="pass-12345")
    closed = services.nc_close(nc, actor=org["auditor"], password="pass-12345")
    assert closed.effectiveness_due == TODAY + dt.timedelta(days=90)
    with pytest.raises(ValidationError, match="必须注明本组织制度依据"):
        core.policy_override_set(actor=org["auditor"], unit=org["c"], key="effectiveness_review_days", value=30, source=" ")
    core.policy_override_set(actor=org["auditor"], unit=org["c"], key="effectiveness_review_days", value=30,
                             source="本党委《整改工作办法》第五条")
    nc2 = _to_implemented(org, _raise(org))
    services.nc_verify(nc2, actor=org["auditor"], note="已核实", password="pass-12345")
    assert services.nc_close(nc2, actor=org["auditor"], password="pass-12345").effectiveness_due == TODAY + dt.timedelta(days=30)


def test_a_gap_is_raised_as_major_where_the_organisation_says_so():
    from procedures.library_loader import load_library
    from workflows.models import Occurrence, State
    from workflows.scheduler import schedule

    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b = factories.unit("B", UnitKind.BRANCH, parent=c, name="第一党支部")
    factories.member(b, "甲")
    schedule(today=TODAY - dt.timedelta(days=120))
    missed = list(Occurrence.objects.filter(unit=b, due_date__lt=TODAY)[:2])
    Occurrence.objects.filter(pk__in=[o.pk for o in missed]).update(state=State.MISSED)
    assert services.nc_raise_from_gap(Occurrence.objects.get(pk=missed[0].pk), actor=None).grade == "minor"
    core.policy_override_set(actor=None, unit=c, key="gap_nonconformity_major", value=1, source="本党委《督查办法》")
    assert services.nc_raise_from_gap(Occurrence.objects.get(pk=missed[1].pk), actor=None).grade == "major"
