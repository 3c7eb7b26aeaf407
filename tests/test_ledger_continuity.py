"""Ledger continuity: a row edited outside the product can no longer be "laundered" by the
next legitimate change (the new entry's ``before`` carrying the tampered value).

The probe, for a record, an occurrence, a nonconformity, a member and an external link:
edit the row in the database → ``verify`` names it → change it through the product → the
change is refused with a plain message, nothing is saved, the administrators are told, and
``verify`` still names the row. Old entries whose ``before`` differs from the previous
``after`` are reported by ``verify`` as a continuity break (the object, the fields, both
sequence numbers). Runs on SQLite and on PostgreSQL (CI runs this file on both)."""
from __future__ import annotations

import datetime as dt
import io
import logging
import threading

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from audits.capa import services as capa
from audits.evidence import services as packs
from audits.models import Nonconformity, PackLink
from procedures.library_loader import load_library
from qms import ledger
from qms import services as core
from qms.models import Member, Notification, Role, UnitKind
from tests import factories
from workflows import services as work
from workflows.models import Occurrence, Record, State
from workflows.scheduler import schedule

pytestmark = pytest.mark.django_db
D = dt.date
TODAY = timezone.localdate()


@pytest.fixture
def org(db):
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b = factories.unit("B", UnitKind.BRANCH, parent=c, name="第一党支部")
    b2 = factories.unit("B2", UnitKind.BRANCH, parent=c, name="第二党支部")
    members = [factories.member(b, f"党员{i}", start=D(2020, 1, 1)) for i in range(4)]
    sec, admin = factories.user("sec"), factories.user("admin")
    core.member_update(members[0], actor=None, reason="账号", user=sec)
    core.position_assign(actor=None, member=members[0], unit=b, title="secretary", start=D(2024, 1, 1))
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=c, valid_from=D(2020, 1, 1))
    return {"c": c, "b": b, "b2": b2, "m": members, "sec": sec, "admin": admin}


def _tamper(model, pk, **values) -> None:
    """What an attacker holding the application's database credentials can do."""
    model.objects.filter(pk=pk).update(**values)


def _problems(kind: str | None = None) -> list[ledger.Problem]:
    return [p for p in ledger.verify().problems if kind is None or p.kind == kind]


def _refused(call) -> ledger.TamperedError:
    """The change is refused with the plain message; nothing is written to the ledger."""
    head = ledger.head()
    with pytest.raises(ledger.TamperedError, match="该记录在系统之外被修改过,已停止操作并通知体系管理员") as refused:
        call()
    assert ledger.head() == head
    return refused.value


def _alerted(org, obj_type: str, pk) -> None:
    ledger.flush_tamper_alerts()
    note = Notification.objects.get(user=org["admin"], key__startswith=f"tamper:{obj_type}:{pk}:")
    assert "在系统之外被修改过" in note.title and note.level == "danger"


def test_a_tampered_nonconformity_cannot_be_laundered_by_acknowledging_it(org):
    nc = capa.nc_raise(actor=org["admin"], unit=org["b"], source="spot_check", grade="minor", clause="DJ-CX-02",
                       requirement="每月至少召开1次支委会", evidence="3月、4月无支委会记录")
    _tamper(Nonconformity, nc.pk, evidence="已按要求召开")
    [p] = _problems("object")
    assert f"audits.nonconformity:{nc.pk}" in p.message and "evidence" in p.message
    _refused(lambda: capa.nc_acknowledge(nc, actor=org["sec"]))
    nc.refresh_from_db()
    assert nc.state == "raised"
    [p] = _problems("object")  # still named: the change did not make the row look legitimate
    assert "evidence" in p.message
    _alerted(org, "audits.nonconformity", nc.pk)


def test_the_alert_waits_for_the_failed_transaction_then_tells_each_active_administrator_once_and_the_log(org, caplog):
    """Who is told: every active 体系管理员 and superuser, nobody else; what the log says; and
    nothing is sent from inside a transaction that is to be rolled back (kept for later)."""
    factories.user("boss", is_superuser=True)
    gone = factories.user("gone")
    core.role_grant(actor=None, user=gone, role=Role.ADMIN, unit=org["c"], valid_from=D(2020, 1, 1))
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    nc = capa.nc_raise(actor=org["admin"], unit=org["b"], source="spot_check", grade="minor", clause="DJ-CX-02",
                       requirement="每月至少召开1次支委会", evidence="3月、4月无支委会记录")
    last_seq = ledger.history(nc).last().seq
    _tamper(Nonconformity, nc.pk, evidence="已按要求召开", requirement="每季度召开")
    refusal = _refused(lambda: capa.nc_acknowledge(nc, actor=org["sec"]))
    with transaction.atomic():
        transaction.set_rollback(True)
        assert ledger.flush_tamper_alerts() == []  # still inside the failed transaction
    key = f"tamper:audits.nonconformity:{nc.pk}:{last_seq}"
    assert not Notification.objects.filter(key=key).exists()
    with caplog.at_level(logging.ERROR, logger="qms.ledger"):
        [drift] = ledger.flush_tamper_alerts()
    assert (drift.obj_type, drift.obj_id, drift.last_seq, drift.fields) == (
        "audits.nonconformity", str(nc.pk), last_seq, ("evidence", "requirement"))
    assert refusal.drift == drift  # the refusal itself says what drifted, for its caller
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [(
        "qms.ledger", "ERROR",
        f"ledger continuity: audits.nonconformity:{nc.pk} differs from entry {last_seq} in evidence, requirement; change refused")]
    told = Notification.objects.filter(key=key)
    assert sorted(told.values_list("user__username", flat=True)) == ["admin", "boss"]
    assert {n.title for n in told} == {f"不符合项(编号 {nc.pk})在系统之外被修改过,相关操作已被拒绝,请运行台账校验并处理"}
    assert ledger.flush_tamper_alerts() == []  # told once


def test_a_new_thread_starts_with_no_alerts_pending():
    seen = []
    worker = threading.Thread(target=lambda: seen.append(ledger._pending_alerts()))
    worker.start()
    worker.join()
    assert seen == [[]]


def test_through_the_web_the_refusal_is_a_plain_message_and_the_administrator_is_told(org, client):
    nc = capa.nc_raise(actor=org["admin"], unit=org["b"], source="spot_check", grade="minor", clause="DJ-CX-02",
                       requirement="每月至少召开1次支委会", evidence="3月、4月无支委会记录")
    _tamper(Nonconformity, nc.pk, evidence="已按要求召开")
    head = ledger.head()
    client.force_login(org["sec"])
    r = client.post(reverse("nc_action", args=[nc.pk, "acknowledge"]), follow=True)
    assert r.status_code < 500
    assert "该记录在系统之外被修改过" in r.content.decode()
    assert ledger.head() == head
    assert Notification.objects.filter(user=org["admin"], key__startswith=f"tamper:audits.nonconformity:{nc.pk}:").exists()


def _occurrence(org) -> Occurrence:
    schedule(today=TODAY)
    return (Occurrence.objects.filter(unit=org["b"], obligation_key="branch_general_meeting", period_start__lte=TODAY)
            .order_by("-period_start").first())


def test_a_tampered_occurrence_and_record_cannot_be_laundered(org):
    occ = _occurrence(org)
    day = max(occ.period_start, TODAY - dt.timedelta(days=1))
    work.occurrence_plan(occ, actor=org["sec"], planned_date=day, place="党员活动室", topic="学习贯彻党章")
    work.record_save(occ, actor=org["sec"], elements={"time": f"{day.isoformat()}T09:00", "speeches": "书记传达"})

    _tamper(Record, occ.record.pk, elements={"time": f"{day.isoformat()}T09:00", "speeches": "全体党员发言(补写)"})
    _refused(lambda: work.record_save(occ, actor=org["sec"], elements={"speeches": "书记传达;党员发言"}))
    _alerted(org, "workflows.record", occ.record.pk)
    assert any(f"workflows.record:{occ.record.pk}" in p.message for p in _problems("object"))

    _tamper(Occurrence, occ.pk, place="会议室(改)")
    _refused(lambda: work.occurrence_plan(occ, actor=org["sec"], planned_date=day, place="党员活动室", topic="学习贯彻党章"))
    occ.refresh_from_db()
    assert occ.state == State.PLANNED
    _alerted(org, "workflows.occurrence", occ.pk)


def test_a_tampered_member_cannot_be_laundered_by_an_amendment(org):
    m = org["m"][2]
    _tamper(Member, m.pk, phone="13900000000")
    _refused(lambda: core.member_update(m, actor=org["admin"], reason="更正姓名", name="党员二"))
    assert Member.objects.get(pk=m.pk).name == "党员2"
    _alerted(org, "qms.member", m.pk)


def test_a_link_whose_expiry_was_extended_outside_the_product_is_refused_not_visited(org, client):
    pack = packs.pack_request(actor=org["admin"], root=org["b"], start=D(TODAY.year, 1, 1), end=TODAY, enqueue=False)
    packs.pack_run(pack.pk)
    pack.refresh_from_db()
    link, token = packs.link_issue(pack, actor=org["admin"],
                                   auditor_name="李审核", organisation="某认证中心", expires_on=TODAY)
    assert client.get(reverse("pack_external", args=[token])).status_code == 200
    _tamper(PackLink, link.pk, expires_on=TODAY - dt.timedelta(days=1))  # make it look expired …
    _tamper(PackLink, link.pk, expires_on=TODAY + dt.timedelta(days=365))  # … then extend it by a year
    head = ledger.head()
    r = client.get(reverse("pack_external", args=[token]))
    assert r.status_code == 409 and "该记录在系统之外被修改过" in r.content.decode()
    assert ledger.head() == head  # the visit was not ledgered with the tampered date
    _alerted(org, "audits.packlink", link.pk)
    assert any(f"audits.packlink:{link.pk}" in p.message and "expires_on" in p.message for p in _problems("object"))


def test_every_change_of_a_ledgered_row_must_say_what_it_started_from(org):
    m = org["m"][1]
    with transaction.atomic(), pytest.raises(ledger.LedgerError, match="必须给出变更前数据") as refused:
        ledger.record("member.touch", m, actor=None)
    # the refusal names the change that was being recorded, so the log says which act forgot it
    assert str(refused.value).startswith("member.touch:")


def _launder_behind_the_check(obj, **values) -> None:
    """An entry written by older code (before the write-time check existed): the row was
    edited outside the product, then a change was ledgered from the tampered row."""
    type(obj).objects.filter(pk=obj.pk).update(**values)
    obj.refresh_from_db()
    with transaction.atomic():
        before = ledger.snapshot(obj)
        obj.name = obj.name + "(更正)"
        obj.save()
        ledger._append("member.update", [(ledger.label_of(obj), str(obj.pk), before, ledger.snapshot(obj))], actor=None, reason="更正")


def test_verify_reports_a_break_in_continuity_with_the_object_the_field_and_both_entries(org):
    m = org["m"][3]
    last = ledger.history(m).last().seq
    _launder_behind_the_check(m, phone="13900000000")
    # the row matches its last entry again: without continuity, verify would pass
    assert not _problems("object")
    [p] = _problems()
    assert p.kind == "continuity" and p.seq == ledger.head()[0]
    assert f"qms.member:{m.pk}" in p.message and "phone" in p.message and f"序号 {last}" in p.message
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("verify_ledger", stdout=io.StringIO(), stderr=err)
    assert exit_.value.code == 1 and "continuity" in err.getvalue()


def test_columns_added_later_are_not_breaks(org):
    """Only fields present in both entries are compared: an entry written before a column
    existed (its ``after`` lacks it) is continued by one that has it."""
    m = org["m"][1]
    with transaction.atomic():
        full = ledger.snapshot(m)
        older = {k: v for k, v in full.items() if k != "phone"}
        ledger._append("member.update", [("qms.member", str(m.pk), full, older)], actor=None, reason="旧版本写入的条目")
        ledger.record("member.update", m, actor=None, before=ledger.snapshot(m), reason="新版本写入的条目")
    assert ledger.verify().ok


def test_the_check_costs_one_query_per_entry(org, django_assert_num_queries):
    m = org["m"][1]
    with transaction.atomic():
        before = ledger.snapshot(m)
        queries = 4 if connection.vendor == "postgresql" else 2  # + advisory lock and clock on PostgreSQL
        with django_assert_num_queries(queries + 1):  # last entry of the object, head, insert
            ledger.record("member.touch", m, actor=None, before=before, reason="核对")


def test_refused_changes_save_nothing_even_inside_a_larger_service(org):
    """A service that changes several rows is refused as a whole when one of them is tampered:
    a transfer closes the membership (edited outside: an earlier start) and opens another."""
    from qms.models import Membership

    m = org["m"][1]
    ms = m.current_membership()
    _tamper(Membership, ms.pk, start=D(2010, 1, 1))
    head = ledger.head()
    with pytest.raises(ledger.TamperedError):
        core.member_transfer(m, actor=org["admin"], to_unit=org["b2"], date=TODAY, note="调整")
    assert ledger.head() == head
    assert Member.objects.get(pk=m.pk).current_membership().unit == org["b"]
    assert Membership.objects.filter(member=m).count() == 1
