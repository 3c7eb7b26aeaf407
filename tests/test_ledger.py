"""The integrity ledger: chain, verification and tamper detection (reliability.md T5, T8, T24)."""
from __future__ import annotations

import datetime as dt
import types
from pathlib import PurePosixPath
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from audits.internal.models import Audit
from qms import ledger, services
from qms.models import AdminUnit, HigherDecision, LedgerEntry, Member, Unit
from tests import factories
from tests.conftest import tamper

pytestmark = pytest.mark.django_db


def run_verify() -> tuple[int, str, str]:
    import io

    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_ledger", stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_every_service_write_has_an_entry_and_chain_verifies(tree):
    result = ledger.verify()
    assert result.ok, result.problems
    # 6 units + 7 members × (member, membership, event)
    assert result.entries == 6 + 7 * 3
    seqs = list(LedgerEntry.objects.values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    code, out, _ = run_verify()
    assert code == 0 and "校验通过" in out


@pytest.mark.django_db(transaction=True)
def test_record_outside_transaction_is_refused():
    au = AdminUnit(code="X", name="x")
    with pytest.raises(ledger.LedgerError, match="^留痕必须与变更在同一事务中写入") as refused:
        ledger.record("x", au, obj_id=1)
    assert "transaction.atomic()" in str(refused.value)  # the developer is told where to call it


def test_entries_chain_and_timestamps_are_monotonic(tree):
    rows = list(LedgerEntry.objects.order_by("seq"))
    assert rows[0].prev_hash == ledger.GENESIS_HASH
    for a, b in zip(rows, rows[1:], strict=False):
        assert b.prev_hash == a.hash
        assert b.ts >= a.ts


def test_amendment_keeps_every_version_and_requires_reason(tree):
    m = tree["m1"][0]
    for i in range(3):
        services.member_update(m, actor=None, reason=f"更正第{i}次", phone=f"1390000000{i}")
    hist = list(ledger.history(m))
    assert [e.action for e in hist] == ["member.enroll", "member.update", "member.update", "member.update"]
    assert [e.after["phone"] for e in hist] == ["", "13900000000", "13900000001", "13900000002"]
    assert hist[2].before["phone"] == "13900000000"
    with pytest.raises(Exception, match="原因"):
        services.member_update(m, actor=None, reason="  ", phone="1")
    assert Member.objects.get(pk=m.pk).phone == "13900000002"


def test_edit_of_ledger_row_is_detected_with_first_bad_seq(tree):
    tamper("UPDATE qms_ledgerentry SET reason = %s WHERE seq = 5", ["篡改"])
    result = ledger.verify()
    assert not result.ok
    assert result.first_bad_seq == 5
    assert any(p.kind == "hash" and p.seq == 5 for p in result.problems)
    code, _, err = run_verify()
    assert code == 1 and "第一个出错的序号:5" in err


def test_deleted_ledger_row_is_detected(tree):
    tamper("DELETE FROM qms_ledgerentry WHERE seq = 7")
    result = ledger.verify()
    assert result.first_bad_seq == 7
    assert {p.kind for p in result.problems} >= {"gap", "link"}


def test_reordered_rows_are_detected(tree):
    tamper("UPDATE qms_ledgerentry SET seq = -1 WHERE seq = 3")
    tamper("UPDATE qms_ledgerentry SET seq = 3 WHERE seq = 4")
    tamper("UPDATE qms_ledgerentry SET seq = 4 WHERE seq = -1")
    result = ledger.verify()
    assert result.first_bad_seq == 3


def _insert_behind_the_product(*, seq: int, ts: dt.datetime, action: str, obj_type: str, obj_id: str,
                               prev_hash: str, entry_hash: str | None = None) -> None:
    """An entry by the system with no before, after or reason, written straight into the table;
    its hash, unless given, is the right one, so the chain still holds."""
    row = dict(seq=seq, ts=ts, actor_id=None, actor_name="系统", action=action, obj_type=obj_type, obj_id=obj_id,
               before=None, after=None, reason="")
    entry_hash = entry_hash or ledger.chain_hash(prev_hash, ledger.canonical(**row))
    tamper(
        "INSERT INTO qms_ledgerentry (seq, ts, actor_id, actor_name, action, obj_type, obj_id, before, after, reason, prev_hash, hash)"
        " VALUES (%s, %s, NULL, %s, %s, %s, %s, NULL, NULL, '', %s, %s)",
        [seq, ts, row["actor_name"], action, obj_type, obj_id, prev_hash, entry_hash],
    )


def test_appended_forgery_is_detected(tree):
    head_seq, head_hash = ledger.head()
    _insert_behind_the_product(seq=head_seq + 1, ts=dt.datetime.now(dt.UTC), action="member.update",
                               obj_type="qms.member", obj_id="1", prev_hash=head_hash, entry_hash="f" * 64)
    assert ledger.verify().first_bad_seq == head_seq + 1


def test_object_edited_behind_the_apps_back_is_detected(tree):
    m = tree["m2"][1]
    last = ledger.history(m).last()
    tamper("UPDATE qms_member SET name = %s WHERE id = %s", ["冒名", m.pk])
    result = ledger.verify()
    assert not result.ok
    p = next(p for p in result.problems if p.kind == "object")
    assert p.seq == last.seq and "name" in p.message


def test_object_deleted_or_inserted_behind_the_apps_back_is_detected(tree):
    ev = tree["m2"][2].events.first()
    tamper("DELETE FROM qms_memberevent WHERE id = %s", [ev.pk])
    tamper("INSERT INTO qms_adminunit (code, name) VALUES ('GHOST', '幽灵单位')")
    kinds = {p.kind for p in ledger.verify().problems}
    assert {"vanished", "unrecorded"} <= kinds


def test_canonical_form_is_stable_and_order_independent():
    ts = dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
    a = ledger.canonical(seq=1, ts=ts, actor_id=None, actor_name="系统", action="a", obj_type="t", obj_id="1",
                         before={"b": 1, "a": [1, 2]}, after=None, reason="")
    b = ledger.canonical(seq=1, ts=ts, actor_id=None, actor_name="系统", action="a", obj_type="t", obj_id="1",
                         before={"a": [1, 2], "b": 1}, after=None, reason="")
    assert a == b
    assert b'"ts":"2026-01-02T03:04:05.123456Z"' in a
    assert "系统".encode() in a  # UTF-8, not \\u escapes


def test_failed_service_leaves_no_entry(tree):
    before = LedgerEntry.objects.count()
    with pytest.raises(Exception):  # noqa: B017 - any validation failure
        factories.member(tree["b1"], name="", id_number=factories.id_number(999))
    assert LedgerEntry.objects.count() == before
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017
        services.admin_unit_create(actor=None, code="AU1", name="单位")
        raise RuntimeError("rollback")
    assert LedgerEntry.objects.count() == before
    assert ledger.verify().ok


def test_decimal_snapshot_is_the_same_before_and_after_the_database():
    from decimal import Decimal

    from workflows.models import DuesPayment

    p = DuesPayment(amount=Decimal("40"), income=Decimal("4000"), month=dt.date(2026, 1, 1), paid_on=dt.date(2026, 1, 2), way="cash")
    snap = ledger.snapshot(p)
    assert snap["amount"] == "40.00" and snap["income"] == "4000.00"


def test_a_batch_append_chains_like_single_appends_and_verifies(tree, django_assert_num_queries):
    """record_many (the scheduler's first pass): consecutive seq, each hash over the previous,
    one snapshot per object; verify accepts it and still catches an edit inside the batch."""
    seq0, _ = ledger.head()
    with transaction.atomic():
        admins = [AdminUnit.objects.create(code=f"BATCH{i}", name=f"批量单位{i}") for i in range(5)]
        entries = ledger.record_many("admin_unit.create", admins)
        ledger.record("admin_unit.update", admins[0], before=ledger.snapshot(admins[0]), reason="单条追加接在批量之后")
    assert [e.seq for e in entries] == list(range(seq0 + 1, seq0 + 6))
    assert all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:], strict=False))
    assert entries[0].after == ledger.snapshot(admins[0]) and entries[0].before is None
    assert {e.reason for e in entries} == {""}  # no reason given: none written
    assert ledger.verify().ok
    with pytest.raises(ledger.LedgerError):
        ledger.record_many("x", [AdminUnit(code="unsaved", name="未保存")])  # outside a transaction and unsaved
    head = ledger.head()
    with django_assert_num_queries(0):
        assert ledger.record_many("x", []) == []  # nothing to write: no lock taken, nothing read
    assert ledger.head() == head
    tamper("UPDATE qms_ledgerentry SET reason = 'x' WHERE seq = %s", [seq0 + 3])
    result = ledger.verify()
    assert not result.ok and result.first_bad_seq == seq0 + 3


def test_entries_the_fast_encoder_writes_differently_still_verify_and_tampering_is_still_found():
    """``verify`` hashes through orjson and falls back to the standard encoder (the one that
    wrote the entry) when the hash does not match: a float written ``1e-07`` by the standard
    library (``1e-7`` by orjson) and an integer beyond 64 bits (which orjson neither writes
    nor reads exactly) must verify, and an edit of either must still be found."""
    values = [{"ratio": 1e-07}, {"big": 2**70}, {"name": "党员\u2028\x01\"引号\""}, {"nested": {"b": [1.5, None], "a": "甲"}}]
    with transaction.atomic():
        for i, after in enumerate(values):
            ledger.record("test.value", obj_type="test.value", obj_id=i, after=after)
    assert ledger._fast_canonical(1, "t", None, "", "", "", "", None, {"ratio": 1e-07}, "") != ledger.canonical(
        seq=1, ts="t", actor_id=None, actor_name="", action="", obj_type="", obj_id="", before=None,
        after={"ratio": 1e-07}, reason="")  # the premise: the two encoders do differ here
    result = ledger.verify(check_objects=False)
    assert result.ok, result.problems
    assert result.entries == len(values)

    tamper("UPDATE qms_ledgerentry SET after = %s WHERE seq = 2", ['{"big": 1180591620717411303425}'])
    result = ledger.verify(check_objects=False)
    assert [(p.seq, p.kind) for p in result.problems] == [(2, "hash")]


def test_catching_up_added_fields_with_a_historical_model_leaves_derived_fields_out(tree):
    """A data migration hands ``catch_up_added_fields`` its historical models, which carry no
    ``ledger_exclude``: a unit's path and depth (derived, never ledgered) must not be taken for
    new fields and written into an entry that ``verify`` would then find different."""
    from django.db.migrations.executor import MigrationExecutor

    historical = MigrationExecutor(connection).loader.project_state(("qms", "0004_notifications")).apps
    with transaction.atomic():
        written = ledger.catch_up_added_fields(historical, "qms", ("Unit",), "test")
    assert written == 0
    assert ledger.verify().ok


def test_a_rows_many_to_many_ids_are_in_its_snapshot_sorted_and_empty_before_it_is_saved(tree):
    unit = tree["b1"]
    second, first = AdminUnit.objects.create(code="A2", name="乙单位"), AdminUnit.objects.create(code="A1", name="甲单位")
    unit.admin_units.set([second, first])
    assert ledger.snapshot(unit)["admin_units"] == sorted([first.pk, second.pk])
    unsaved = Unit(code="NEW", name="新支部", kind=tree["b2"].kind, parent=tree["general"])
    assert ledger.snapshot(unsaved)["admin_units"] == []
    # a row with three many-to-many fields: each is there, empty
    assert {k: v for k, v in ledger.snapshot(Audit()).items() if k in ("units", "documents", "team")} == {
        "units": [], "documents": [], "team": []}


def test_an_entry_needs_an_object_type_and_id_and_has_no_reason_unless_given(tree):
    with transaction.atomic():
        entry = ledger.record("test.value", obj_type="test.value", obj_id=1, after={"n": 1})
        for missing in (dict(obj_type="test.value"), dict(obj_id=2)):
            with pytest.raises(ledger.LedgerError, match="^留痕记录缺少对象类型或对象ID$"):
                ledger.record("test.value", after={"n": 1}, **missing)
    assert entry.reason == "" and LedgerEntry.objects.get(seq=entry.seq).reason == ""


def test_an_entry_names_the_user_who_made_the_change_and_the_system_otherwise(tree):
    secretary = factories.user("wang_fang")
    with transaction.atomic():
        by_user = ledger.record("test.value", obj_type="test.value", obj_id=1, after={"n": 1}, actor=secretary)
        by_system = ledger.record("test.value", obj_type="test.value", obj_id=2, after={"n": 2})
    assert (by_user.actor_id, by_user.actor_name) == (secretary.pk, "wang_fang")
    assert (by_system.actor_id, by_system.actor_name) == (None, "系统")
    with transaction.atomic():  # something acting without a login of its own is the system, too
        by_object = ledger.record("test.value", obj_type="test.value", obj_id=3, after={"n": 3},
                                  actor=types.SimpleNamespace())
    assert (by_object.actor_id, by_object.actor_name) == (None, "系统")
    stored = {e.seq: e.actor_name for e in LedgerEntry.objects.filter(seq__in=[by_user.seq, by_system.seq])}
    assert stored == {by_user.seq: "wang_fang", by_system.seq: "系统"}
    assert ledger.verify().ok


def test_an_entry_without_an_object_or_after_records_none_and_an_objects_own_id_can_be_overridden(tree):
    unit = tree["b1"]
    with transaction.atomic():
        deleted = ledger.record("test.gone", obj_type="test.value", obj_id=9)
        aliased = ledger.record("test.alias", unit, obj_type="test.alias", obj_id="B1-alias")
    assert deleted.after is None and LedgerEntry.objects.get(seq=deleted.seq).after is None
    assert (aliased.obj_type, aliased.obj_id) == ("test.alias", "B1-alias")
    assert aliased.after == ledger.snapshot(unit)


def test_an_entry_is_never_dated_before_the_head_even_when_the_clock_is_behind_it(tree):
    """T24: time is monotonic in seq. A head dated an hour ahead (a clock corrected backwards
    after it was written) gives the next entry the head's time, not the earlier clock time."""
    head_seq, head_hash = ledger.head()
    ahead = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
    _insert_behind_the_product(seq=head_seq + 1, ts=ahead, action="test.value", obj_type="test.value", obj_id="1",
                               prev_hash=head_hash)
    with transaction.atomic():
        entry = ledger.record("test.value", obj_type="test.value", obj_id=2, after={"n": 2})
    assert entry.seq == head_seq + 2 and entry.ts == ahead
    assert LedgerEntry.objects.get(seq=entry.seq).ts == ahead
    assert ledger.verify().ok


def test_times_are_ledgered_in_utc_whatever_zone_they_come_in(tree):
    beijing = dt.datetime(2026, 7, 1, 10, 32, tzinfo=ZoneInfo("Asia/Shanghai"))
    with transaction.atomic():
        entry = ledger.record("test.value", obj_type="test.value", obj_id=1,
                              after={"signed_at": beijing, "day": beijing.date()})
    assert LedgerEntry.objects.get(seq=entry.seq).after == {"signed_at": "2026-07-01T02:32:00+00:00", "day": "2026-07-01"}


def test_a_batch_of_one_or_two_is_written_whole(tree):
    seq0, _ = ledger.head()
    with transaction.atomic():
        one = [AdminUnit.objects.create(code="ONE", name="单个单位")]
        two = [AdminUnit.objects.create(code=f"TWO{i}", name=f"两个单位{i}") for i in range(2)]
        ledger.record_many("admin_unit.create", one)
        ledger.record_many("admin_unit.create", two)
    stored = list(LedgerEntry.objects.filter(seq__gt=seq0).order_by("seq").values_list("seq", "obj_id"))
    assert stored == [(seq0 + 1, str(one[0].pk)), (seq0 + 2, str(two[0].pk)), (seq0 + 3, str(two[1].pk))]
    assert ledger.verify().ok


def test_a_file_is_ledgered_by_its_stored_name_and_no_file_as_empty():
    assert ledger.snapshot(HigherDecision(file="decisions/2026/07/批复.pdf"))["file"] == "decisions/2026/07/批复.pdf"
    assert ledger.snapshot(HigherDecision(file=""))["file"] == ""
    # anything else with a name of its own is ledgered as its whole text, not by that name
    with transaction.atomic():
        entry = ledger.record("test.value", obj_type="test.value", obj_id=1,
                              after={"path": PurePosixPath("decisions/2026/07/批复.pdf")})
    assert entry.after == {"path": "decisions/2026/07/批复.pdf"}
