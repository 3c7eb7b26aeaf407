"""The ledger's parts that mutation testing (T21, bench/mutation.sh) found untested: the fast
canonical form ``verify`` tries first, the catch-up entry a migration writes for added columns,
verify's object check and the chain's breaks named in words, reading the ledger in pages,
checkpoints, and the small helpers around them."""
from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from qms import ledger, services
from qms.models import AdminUnit, LedgerEntry, Member, Role
from tests import factories
from tests.conftest import require_postgres, tamper

PAYLOADS = [
    dict(before=None, after={"name": "第一党支部", "code": "B1", "parent_id": 3, "ends_on": None, "ok": True}),
    dict(before={"z": 1, "a": [3, 1, 2], "m": {"y": "𠮷", "x": "党🎉"}}, after={"text": '引号"与\\反斜杠\n换行\u2028'}),
    dict(before={"n": -7, "f": 1.5, "big": 2**62, "empty": "", "list": []}, after=None),
]


@pytest.mark.parametrize("values", PAYLOADS)
def test_the_fast_form_verify_tries_first_is_the_form_the_ledger_writes(values):
    """``verify`` hashes with orjson first and falls back to ``canonical`` on a mismatch: a fast
    form that drifted would be caught only as a slower ``verify``, never as a wrong one — so it is
    held to the same bytes here."""
    head = dict(seq=12, ts="2026-12-07T08:00:00.000000Z", actor_id=None, actor_name="王芳", action="unit.update",
                obj_type="qms.unit", obj_id="5", reason="更正:名称")
    written = ledger.canonical(**head, **values)
    assert ledger._fast_canonical(**head, **values) == written
    text = written.decode()
    assert ledger._fast_loads(text) == ledger._loads(text) == ledger._loads(written) == ledger._fast_loads(written)
    assert ledger._fast_loads(values["after"]) is values["after"]  # already decoded (PostgreSQL's jsonb)


def test_the_fast_form_declines_what_orjson_cannot_write():
    assert ledger._fast_canonical(1, "t", None, "", "a", "t", "1", None, {"n": 2**70}, "") is None


@pytest.mark.django_db
def test_catch_up_notes_only_new_empty_fields_and_leaves_drift_to_verify():
    unit = factories.unit("U1", name="第一党支部")
    full = ledger.snapshot(unit)
    older = {k: v for k, v in full.items() if k not in ("founding_ref", "ends_on")}  # as if made before the columns
    ledger.record("unit.update", unit, before=full, after=older, reason="旧版本")
    assert ledger.catch_up_added_fields(apps, "qms", ("RosterColumnMapping",), "0099") == 0  # no rows: nothing
    assert ledger.catch_up_added_fields(apps, "qms", ("Unit",), "0099") == 1
    entry = LedgerEntry.objects.latest("seq")
    assert (entry.action, entry.obj_id, entry.before, entry.after) == ("schema.add_fields", str(unit.pk), older, full)
    assert entry.reason == "数据库结构升级(qms 0099):新增字段 ends_on, founding_ref,原有数据未变"
    assert ledger.verify().ok
    assert ledger.catch_up_added_fields(apps, "qms", ("Unit",), "0099") == 0  # caught up: nothing more

    # a row whose ledgered fields no longer match is not papered over: verify still names it
    other = factories.unit("U2", name="第二党支部")
    stale = {**{k: v for k, v in ledger.snapshot(other).items() if k != "founding_ref"}, "name": "旧名称"}
    ledger.record("unit.update", other, before=ledger.snapshot(other), after=stale, reason="旧版本")
    head = ledger.head()
    assert ledger.catch_up_added_fields(apps, "qms", ("Unit",), "0099") == 0
    assert ledger.head() == head
    result = ledger.verify()
    assert not result.ok and any(str(other.pk) in p.message for p in result.problems)


@pytest.mark.django_db
def test_verify_names_each_object_changed_behind_the_ledgers_back_exactly(tree):
    """Every row of every ledgered table is compared with its last entry: edited, deleted,
    inserted and deleted-then-still-there rows are each named once, with the entry's number."""

    edited, resurrected = tree["m2"][1], tree["m2"][2]
    event = tree["m1"][0].events.first()
    edited_seq = ledger.history(edited).last().seq
    event_seq = ledger.history(event).last().seq

    with transaction.atomic():  # an entry saying the member was deleted, the row left in place
        gone = ledger.record("member.delete", resurrected, before=ledger.snapshot(resurrected), after=None, reason="删除")
    tamper("UPDATE qms_member SET name = %s, phone = %s WHERE id = %s", ["冒名", "13800000000", edited.pk])
    tamper("DELETE FROM qms_memberevent WHERE id = %s", [event.pk])
    tamper("INSERT INTO qms_adminunit (code, name) VALUES ('GHOST', '幽灵单位')")
    ghost = AdminUnit.objects.get(code="GHOST")
    result = ledger.verify()
    assert sorted(((p.seq or 0, p.kind, p.message) for p in result.problems), key=lambda p: p[:2]) == sorted([
        (edited_seq, "object", f"qms.member:{edited.pk} 的当前数据与序号 {edited_seq} 的留痕不符(字段:name, phone)——数据被绕过系统修改"),
        (gone.seq, "resurrected", f"qms.member:{resurrected.pk} 已于序号 {gone.seq} 删除,但数据仍存在"),
        (event_seq, "vanished", f"qms.memberevent:{event.pk} 在序号 {event_seq} 有留痕,但数据已不存在(被绕过系统删除)"),
        (0, "unrecorded", f"qms.adminunit:{ghost.pk} 存在但没有任何留痕(绕过系统写入)"),
    ], key=lambda p: p[:2])
    assert result.objects == sum(cls._default_manager.count() for cls in ledger.registered_models().values())
    assert Member.objects.filter(pk=resurrected.pk).exists()
    assert ledger.verify(check_objects=False).problems == []  # the chain itself is whole


@pytest.mark.django_db
def test_verify_without_object_checks_counts_no_objects(tree):
    result = ledger.verify(check_objects=False)
    assert result.ok and result.objects == 0 and result.entries == LedgerEntry.objects.count()


def _expected_rows(first: int, last: int | None = None) -> list[tuple]:
    qs = LedgerEntry.objects.filter(seq__gte=first).order_by("seq")
    if last is not None:
        qs = qs.filter(seq__lte=last)
    return [(e.seq, ledger.format_ts(e.ts), e.actor_id, e.actor_name, e.action, e.obj_type, e.obj_id,
             e.before, e.after, e.reason, e.prev_hash, e.hash) for e in qs]


def _decoded(rows) -> list[tuple]:
    return [(*r[:7], ledger._loads(r[7]), ledger._loads(r[8]), *r[9:]) for r in rows]


@pytest.mark.django_db
@pytest.mark.parametrize("chunk", [1, 2, 3, 5000])
def test_the_ledger_is_read_in_pages_of_any_size_without_a_gap_or_a_repeat(tree, chunk):
    last = LedgerEntry.objects.latest("seq").seq
    assert last > 8
    assert _decoded(ledger._iter_entries(1, chunk=chunk)) == _expected_rows(1)
    assert _decoded(ledger._iter_entries(3, 7, chunk=chunk)) == _expected_rows(3, 7)
    assert _decoded(ledger._iter_entries(last, chunk=chunk)) == _expected_rows(last)
    assert list(ledger._iter_entries(last + 1, chunk=chunk)) == []
    assert list(ledger._iter_entries(5, 4, chunk=chunk)) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("chunk", [1, 4, 5000])
def test_outside_a_transaction_the_next_page_is_fetched_alongside_without_a_gap_or_a_repeat(chunk):
    """PostgreSQL outside a transaction (the command, the nightly check): a second connection
    reads ahead; the rows are the same as the plain loop's, and its connection is closed after."""

    require_postgres()
    factories.small_tree()
    assert not connection.in_atomic_block
    last = LedgerEntry.objects.latest("seq").seq
    assert _decoded(ledger._iter_entries(1, chunk=chunk)) == _expected_rows(1)
    assert _decoded(ledger._iter_prefetched(3, 9, chunk)) == _expected_rows(3, 9)
    assert _decoded(ledger._iter_prefetched(last, ledger._NO_END, chunk)) == _expected_rows(last)
    assert list(ledger._iter_prefetched(last + 1, ledger._NO_END, chunk)) == []

    others = None
    for _ in range(100):  # a closed connection's server process may take a moment to leave the list
        with connection.cursor() as c:
            c.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                      " AND pid <> pg_backend_pid() AND application_name = current_setting('application_name')")
            others = c.fetchone()[0]
        if others == 0:
            break
        time.sleep(0.1)
    assert others == 0  # the reading-ahead connection was closed
    assert ledger.verify().ok


def test_a_fields_canonical_text_is_sorted_compact_and_keeps_chinese():
    assert ledger.canon({"b": 1, "a": ["党", None, True]}) == '{"a":["党",null,true],"b":1}'
    assert ledger.canon(dt.date(2026, 2, 28)) == '"2026-02-28"'
    assert ledger.canon(Decimal("12.50")) == '"12.50"'  # as the database gives it back
    assert ledger.canon("𠮷") == '"𠮷"'
    assert ledger.drifted_fields({"a": 1, "b": "x", "new": 3}, {"a": 1, "b": "y", "gone": 4}) == ["b"]
    assert ledger.drifted_fields({"n": Decimal("1.0")}, {"n": "1.0"}) == []  # a Decimal and its JSON text agree
    assert ledger.drifted_fields(None, None) == [] and ledger.drifted_fields(None, {"a": 1}) == ["*"]


def _older(obj, drop=("founding_ref", "ends_on"), **changed):
    """The object's entry as a release before some columns would have written it."""
    return {**{k: v for k, v in ledger.snapshot(obj).items() if k not in drop}, **changed}


@pytest.mark.django_db
def test_catch_up_goes_past_empty_tables_unrecorded_and_drifted_rows_and_counts_every_row_it_writes():
    drifted, first, second = (factories.unit(code, name=name) for code, name in
                              (("U1", "第一党支部"), ("U2", "第二党支部"), ("U3", "第三党支部")))
    with transaction.atomic():
        for unit, older in ((drifted, _older(drifted, name="旧名称")), (first, _older(first)), (second, _older(second))):
            ledger.record("unit.update", unit, before=ledger.snapshot(unit), after=older, reason="旧版本")
    # an empty table first, then the units: the lowest row drifted (left for verify), the next two caught up
    assert ledger.catch_up_added_fields(apps, "qms", ("RosterColumnMapping", "Unit"), "0099") == 2
    caught = LedgerEntry.objects.filter(action="schema.add_fields")
    assert sorted(caught.values_list("obj_id", flat=True)) == sorted([str(first.pk), str(second.pk)])

    # a model without ledger_exclude, whose first row has no entry at all (written behind the system's back)
    tamper("INSERT INTO qms_adminunit (code, name) VALUES ('GHOST', '幽灵单位')")
    admin_unit = AdminUnit.objects.create(code="HR", name="人力资源部")
    with transaction.atomic():
        ledger.record("admin_unit.create", admin_unit, after=_older(admin_unit, drop=("name",)))
    assert AdminUnit.objects.get(code="GHOST").pk < admin_unit.pk
    assert ledger.catch_up_added_fields(apps, "qms", ("AdminUnit",), "0099") == 1
    assert LedgerEntry.objects.latest("seq").obj_id == str(admin_unit.pk)


@pytest.mark.django_db
def test_catch_up_for_a_model_that_has_since_left_the_code():
    """A migration's registry may hold a model the code no longer has: its rows are caught up
    with nothing excluded."""

    class Historical:  # the migration's app registry, where AdminUnit was still called RetiredUnit
        def get_model(self, app_label, name):
            return apps.get_model(app_label, "AdminUnit" if name == "RetiredUnit" else name)

    admin_unit = AdminUnit.objects.create(code="HR", name="人力资源部")
    with transaction.atomic():
        ledger.record("admin_unit.create", admin_unit, after=_older(admin_unit, drop=("name",)))
    assert ledger.catch_up_added_fields(Historical(), "qms", ("RetiredUnit",), "0099") == 1
    assert LedgerEntry.objects.latest("seq").after == ledger.snapshot(admin_unit)


@pytest.mark.django_db
def test_a_checkpoint_of_a_broken_ledger_keeps_where_it_broke_and_its_first_200_problems():
    unit = factories.unit("U1", name="第一党支部")
    seq = ledger.history(unit).last().seq
    tamper("UPDATE qms_unit SET name = %s WHERE id = %s", ["冒名", unit.pk])

    with connection.cursor() as c:
        c.executemany("INSERT INTO qms_adminunit (code, name) VALUES (%s, %s)", [(f"G{n}", f"幽灵{n}") for n in range(201)])
    cp = ledger.checkpoint()
    assert (cp.ok, cp.first_bad_seq, cp.entries) == (False, seq, LedgerEntry.objects.count())
    lines = cp.problems.split("\n")
    assert len(lines) == 200
    assert lines[0] == f"[{seq}] qms.unit:{unit.pk} 的当前数据与序号 {seq} 的留痕不符(字段:name)——数据被绕过系统修改"
    assert lines[1].startswith("[None] qms.adminunit:") and lines[1].endswith("存在但没有任何留痕(绕过系统写入)")


@pytest.mark.django_db
def test_verifying_objects_costs_the_same_queries_for_many_rows_as_for_few():
    """Rows with many-to-many fields (a unit's 行政单位) are read with their links in bulk, not
    one query per row."""

    hr = services.admin_unit_create(actor=None, code="HR", name="人力资源部")

    def add(codes) -> None:
        for i in codes:
            services.unit_create(actor=None, code=f"U{i}", name=f"第{i}党支部", kind="branch", admin_units=[hr])

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert ledger.verify().ok
        return len(ctx.captured_queries)

    add(range(2))
    few = queries()
    add(range(2, 8))
    assert queries() == few


def test_a_fields_time_is_read_from_what_sqlite_keeps_and_anything_else_is_marked():
    assert ledger._ts_text("2026-12-07 08:00:01.5") == "2026-12-07T08:00:01.500000Z"  # naive text is UTC
    assert ledger._ts_text("2026-12-07T16:00:01+08:00") == "2026-12-07T08:00:01.000000Z"
    assert ledger._ts_text(dt.datetime(2026, 12, 7, 8, 0, 1)) == "2026-12-07T08:00:01.000000Z"
    assert ledger._ts_text(dt.datetime(2026, 12, 7, 8, 0, 1, tzinfo=dt.UTC)) == "2026-12-07T08:00:01.000000Z"
    assert ledger._ts_text("昨天") == "(不是时间)'昨天'"
    assert ledger._ts_text("2026-02-30 08:00:00") == "(不是时间)'2026-02-30 08:00:00'"  # looks like one, is not
    assert ledger._ts_text(None) == "(不是时间)None"


def test_continuity_is_asked_only_between_two_known_states_and_names_the_fields():
    problems: list = []
    key = ("qms.unit", "5")
    ledger._continuity(problems, key, 9, {"name": "甲"}, None)  # the object's first entry in the ledger read
    ledger._continuity(problems, key, 9, None, (4, {"name": "乙"}))  # written without a before
    ledger._continuity(problems, key, 9, {"name": "甲"}, (4, None))  # after a deletion: made again
    ledger._continuity(problems, key, 9, {"name": "甲", "code": "B1"}, (4, {"name": "甲", "code": "B1"}))
    assert problems == []
    ledger._continuity(problems, key, 9, {"name": "甲", "code": "B1", "n": 1}, (4, {"name": "乙", "code": "B2", "n": 1}))
    assert [(p.seq, p.kind, p.message) for p in problems] == [(
        9, "continuity", "qms.unit:5 序号 9 的变更前数据与序号 4 的变更后数据不符(字段:code, name)——两次留痕之间数据被绕过系统修改")]


def test_a_refused_change_carries_its_code_and_what_drifted():
    drift = ledger.Drift("qms.member", "7", 12, ("name",))
    err = ledger.TamperedError(drift)
    assert (err.code, err.messages, err.drift) == ("tampered", [ledger.TAMPER_MESSAGE], drift)


def test_a_ledgered_types_name_is_its_models_chinese_name():
    assert ledger.object_label("qms.unit") == "党组织"
    assert ledger.object_label("qms.nosuchthing") == ledger.object_label("not a label") == "记录"


@pytest.mark.django_db
def test_an_ordinary_ledger_is_verified_by_the_fast_form_alone(tree):
    clerk = factories.user("zuzhi", first_name="组织员")
    services.role_grant(actor=None, user=clerk, role=Role.ADMIN, unit=tree["committee"], valid_from=dt.date(2020, 1, 1))
    services.member_update(tree["m1"][0], actor=clerk, reason="更正手机号", phone="13900000000")
    result = ledger.verify()
    assert result.ok and result.entries > 20 and result.recomputed == 0
    assert LedgerEntry.objects.latest("seq").actor_id == clerk.pk  # entries with an actor too


@pytest.mark.django_db
def test_entries_the_fast_form_writes_differently_are_rehashed_with_all_they_hold():
    """An entry with a before, an actor and a value the fast encoder cannot write (an integer
    beyond 64 bits) is hashed again exactly as it was written, and verifies."""

    actor = factories.user("jilu", first_name="记录员")
    with transaction.atomic():
        ledger.record("test.value", obj_type="test.value", obj_id=1, after={"big": 2**65}, actor=actor)
        ledger.record("test.value", obj_type="test.value", obj_id=1, before={"big": 2**65},
                      after={"big": 2**70, "n": 1}, actor=actor, reason="更正")
    result = ledger.verify(check_objects=False)
    assert (result.ok, result.entries, result.recomputed) == (True, 2, 2), result.problems
    tamper("UPDATE qms_ledgerentry SET reason = %s WHERE seq = 2", ["改过"])
    result = ledger.verify(check_objects=False)
    assert [(p.seq, p.kind, p.message) for p in result.problems] == [(2, "hash", "序号 2 的内容与其哈希不符(记录被改动)")]


@pytest.mark.django_db
def test_a_break_in_the_chain_is_named_in_words(tree):
    tamper("DELETE FROM qms_ledgerentry WHERE seq = 3")
    ts5 = LedgerEntry.objects.get(seq=5).ts

    tamper("UPDATE qms_ledgerentry SET ts = %s WHERE seq = 6", [ts5 - dt.timedelta(hours=1)])
    problems = [(p.seq, p.kind, p.message) for p in ledger.verify(check_objects=False).problems
                if p.kind in ("gap", "link", "time", "hash")]
    assert problems == [
        (3, "gap", "序号不连续:应为 3,实为 4(记录被删除或插入)"),
        (4, "link", "序号 4 的前一哈希与上一条记录不符(记录被删除、插入或重排)"),
        (6, "time", "序号 6 的时间早于上一条记录"),
        (6, "hash", "序号 6 的内容与其哈希不符(记录被改动)"),
    ]


@pytest.mark.django_db
def test_a_previous_hash_that_is_not_hexadecimal_is_a_broken_link_and_a_broken_hash(tree):
    tamper("UPDATE qms_ledgerentry SET prev_hash = %s WHERE seq = 4", ["zz" + "0" * 62])
    result = ledger.verify(check_objects=False)
    assert [(p.seq, p.kind) for p in result.problems] == [(4, "link"), (4, "hash")]


def _bulk(n: int) -> None:
    """``n`` entries appended in one batch, each for an object of its own."""
    with transaction.atomic():
        ledger._append("test.bulk", [("test.bulk", str(i), None, {"i": i}) for i in range(n)], actor=None, reason="")


@pytest.mark.django_db
def test_verify_stops_listing_after_a_thousand_problems():
    _bulk(1010)
    tamper("UPDATE qms_ledgerentry SET reason = %s", ["改过"])
    result = ledger.verify(check_objects=False)
    assert len(result.problems) == 1001
    assert {p.kind for p in result.problems} == {"hash"}
    assert result.problems[-1].seq == 1001 and result.entries == 1001  # read no further


@pytest.mark.django_db
def test_rows_are_compared_with_the_ledger_only_while_a_thousand_problems_or_fewer_are_listed():
    """Past a thousand problems the ledger is already shown to be broken: the tables are not
    read as well. At exactly a thousand they still are."""

    factories.unit("U1", name="第一党支部")
    rows = LedgerEntry.objects.count()
    _bulk(1010)
    tamper("UPDATE qms_ledgerentry SET reason = %s WHERE seq > %s AND seq <= %s", ["改过", rows, rows + 1000])
    thousand = ledger.verify()
    assert (len(thousand.problems), thousand.objects) == (1000, 1)
    tamper("UPDATE qms_ledgerentry SET reason = %s WHERE seq = %s", ["改过", rows + 1001])
    more = ledger.verify()
    assert (len(more.problems), more.objects) == (1001, 0)


@pytest.mark.django_db
def test_entries_moved_below_the_first_number_are_listed_up_to_a_thousand():
    _bulk(1005)
    tamper("UPDATE qms_ledgerentry SET seq = seq - 2000 WHERE seq <= 1001")
    problems = ledger.verify(check_objects=False).problems
    below = [p.seq for p in problems if p.seq is not None and p.seq < 1]
    assert below == list(range(-1999, -999))  # the first thousand, in order
    assert [(p.seq, p.kind) for p in problems if p.seq is None or p.seq >= 1] == [(1, "gap"), (1002, "link")]


@pytest.mark.django_db
def test_problems_are_listed_in_the_order_of_their_numbers_the_zeroth_first(tree):
    """An entry moved to number 0 is found after the chain is walked, but is listed before the
    gap it left at number 1."""

    tamper("UPDATE qms_ledgerentry SET seq = 0 WHERE seq = 1")
    problems = [(p.seq, p.kind) for p in ledger.verify(check_objects=False).problems]
    assert problems[:2] == [(0, "gap"), (1, "gap")]
    seqs = [seq for seq, _kind in problems]
    assert seqs == sorted(seqs)


@pytest.mark.django_db
def test_a_row_is_named_with_the_fields_it_has_that_its_entry_lacks_and_the_other_way_round():
    unit = factories.unit("U1", name="第一党支部")
    full = ledger.snapshot(unit)
    with transaction.atomic():
        entry = ledger.record("unit.update", unit, before=full,
                              after={**{k: v for k, v in full.items() if k != "founding_ref"}, "retired_field": 1},
                              reason="旧版本")
    assert [(p.seq, p.kind, p.message) for p in ledger.verify().problems] == [(
        entry.seq, "object",
        f"qms.unit:{unit.pk} 的当前数据与序号 {entry.seq} 的留痕不符(字段:founding_ref, retired_field)——数据被绕过系统修改")]


@pytest.mark.django_db
def test_verifying_from_a_later_entry_checks_the_link_to_the_one_before(tree):
    """``verify(from_seq=k)`` (the nightly check after a checkpoint): entries k… only, no object
    comparison, the first one's link and time checked against entry k − 1."""

    head_seq, head_hash = ledger.head()
    second = ledger.verify(from_seq=2)
    assert (second.ok, second.entries, second.objects) == (True, head_seq - 1, 0)
    result = ledger.verify(from_seq=5)
    assert (result.ok, result.entries, result.objects, result.head_seq, result.head_hash) == (True, head_seq - 4, 0, head_seq, head_hash)
    ts4 = LedgerEntry.objects.get(seq=4).ts
    tamper("UPDATE qms_ledgerentry SET ts = %s WHERE seq = 5", [ts4 - dt.timedelta(seconds=1)])
    tamper("UPDATE qms_ledgerentry SET hash = %s WHERE seq = 4", ["0" * 64])
    problems = [(p.seq, p.kind) for p in ledger.verify(from_seq=5).problems]
    assert problems == [(5, "link"), (5, "time"), (5, "hash")]
    missing = ledger.verify(from_seq=head_seq + 5)
    assert (missing.entries, missing.objects, missing.head_seq, missing.head_hash) == (0, 0, 0, ledger.GENESIS_HASH)
    assert [(p.seq, p.kind, p.message) for p in missing.problems] == [
        (head_seq + 4, "missing", f"起始序号 {head_seq + 4} 的记录不存在")]


@pytest.mark.django_db
def test_an_entry_moved_below_the_first_number_is_named(tree):
    tamper("UPDATE qms_ledgerentry SET seq = -1 WHERE seq = 1")
    problems = [(p.seq, p.kind, p.message) for p in ledger.verify(check_objects=False).problems if p.seq == -1]
    assert problems == [(-1, "gap", "序号 -1 不在台账的序号范围内(记录被改动或插入)")]


@pytest.mark.django_db
def test_an_objects_entries_are_found_by_its_type_and_id_and_several_at_once(tree):
    a, b = tree["m1"][0], tree["m1"][1]
    assert list(ledger.entries_for([a])) == list(ledger.history(a))
    both = list(ledger.entries_for([a, b]))
    assert both == sorted([*ledger.history(a), *ledger.history(b)], key=lambda e: e.seq)
    assert {e.obj_type for e in both} == {"qms.member"} and {e.obj_id for e in both} == {str(a.pk), str(b.pk)}
    assert not ledger.entries_for([tree["b1"]]).filter(obj_type="qms.member").exists()


@pytest.mark.django_db
def test_recording_many_needs_saved_rows_and_keeps_the_actor():
    actor = factories.user("piliang", first_name="批量录入员")
    with transaction.atomic():
        with pytest.raises(ledger.LedgerError) as refused:
            ledger.record_many("admin_unit.create", [AdminUnit(code="X", name="未保存")])
        assert str(refused.value) == "留痕记录缺少对象ID(对象尚未保存)"
        saved = [AdminUnit.objects.create(code=f"A{i}", name=f"单位{i}") for i in range(2)]
        entries = ledger.record_many("admin_unit.create", saved, actor=actor, reason="批量导入")
        assert ledger.record_many("admin_unit.create", []) == []
    assert [(e.actor_id, e.reason, e.obj_id) for e in entries] == [(actor.pk, "批量导入", str(o.pk)) for o in saved]
