"""PostgreSQL-only guarantees of the ledger: serialised appends and append-only table (T1/T6)."""
from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, connection, connections, transaction

from qms import ledger, services
from qms.models import LedgerEntry
from tests.conftest import require_postgres


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_appends_leave_a_gapless_unforked_chain():
    require_postgres()
    n = 20
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            services.admin_unit_create(actor=None, code=f"CC{i:02d}", name=f"并发单位{i}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    rows = list(LedgerEntry.objects.order_by("seq").values_list("seq", "prev_hash", "hash"))
    assert [r[0] for r in rows] == list(range(1, n + 1))
    assert len({r[1] for r in rows}) == n  # no two entries share a parent: no fork
    result = ledger.verify()
    assert result.ok, result.problems


def _refused(sql: str) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as c:
            c.execute(sql)
    except DatabaseError:
        return True
    return False


@pytest.mark.django_db
def test_ledger_table_refuses_update_delete_truncate_even_for_the_owner(tree):
    require_postgres()
    with connection.cursor() as c:
        c.execute("RESET qms.ledger_truncate")
    try:
        assert _refused("UPDATE qms_ledgerentry SET reason = 'x' WHERE seq = 1")
        assert _refused("DELETE FROM qms_ledgerentry WHERE seq = 1")
        assert _refused("TRUNCATE qms_ledgerentry")
    finally:
        with connection.cursor() as c:
            c.execute("SET qms.ledger_truncate = 'on'")
    assert LedgerEntry.objects.count() > 0 and ledger.verify().ok


@pytest.mark.django_db
def test_app_role_cannot_change_or_unprotect_the_ledger(tree):
    """A non-owner application role, even granted every table privilege, cannot UPDATE,
    DELETE, TRUNCATE, or disable the trigger (reliability.md T6)."""
    require_postgres()
    with connection.cursor() as c:
        c.execute("CREATE ROLE qms_app_probe NOLOGIN")
        c.execute("GRANT qms_app_probe TO CURRENT_USER")
        c.execute("GRANT ALL ON qms_ledgerentry TO qms_app_probe")
        c.execute("SET ROLE qms_app_probe")
        c.execute("SET qms.ledger_truncate = 'on'")
    try:
        assert _refused("UPDATE qms_ledgerentry SET reason = 'x' WHERE seq = 1")
        assert _refused("DELETE FROM qms_ledgerentry WHERE seq = 1")
        assert _refused("TRUNCATE qms_ledgerentry")
        assert _refused("ALTER TABLE qms_ledgerentry DISABLE TRIGGER USER")
        assert _refused("ALTER TABLE qms_ledgerentry DISABLE TRIGGER qms_ledger_no_update_delete")
    finally:
        with connection.cursor() as c:
            c.execute("RESET ROLE")
    assert ledger.verify().ok


@pytest.mark.django_db(transaction=True)
def test_verify_outside_a_transaction_reads_ahead_and_still_finds_the_first_bad_entry():
    """Outside a transaction, verify fetches the next page on a second connection while it
    hashes the current one; with pages of 7 entries, every page boundary is crossed."""
    require_postgres()
    for i in range(40):
        services.admin_unit_create(actor=None, code=f"RA{i:02d}", name=f"预读单位{i}")
    from qms.ledger import _iter_entries

    assert not connection.in_atomic_block
    seqs = [row[0] for row in _iter_entries(1, chunk=7)]
    assert seqs == list(range(1, LedgerEntry.objects.count() + 1))
    assert ledger.verify().ok
    with connection.cursor() as c:
        c.execute("ALTER TABLE qms_ledgerentry DISABLE TRIGGER USER")
        c.execute("UPDATE qms_ledgerentry SET reason = 'x' WHERE seq = 23")
        c.execute("ALTER TABLE qms_ledgerentry ENABLE TRIGGER USER")
    result = ledger.verify()
    assert not result.ok and result.first_bad_seq == 23


@pytest.mark.django_db(transaction=True)
def test_verify_in_parallel_processes_finds_exactly_what_one_pass_finds():
    """Four forked processes, each over its own range of seq, joined at the range boundaries:
    the same entries, head, objects and problems as one pass, for an intact chain and for
    tampering placed on the boundaries themselves (ranges 1–15, 16–30, 31–45, 46–60)."""
    require_postgres()
    for i in range(60):
        services.admin_unit_create(actor=None, code=f"PV{i:02d}", name=f"并行单位{i}")
    assert LedgerEntry.objects.count() == 60

    def both() -> tuple:
        one, four = ledger.verify(processes=1), ledger.verify(processes=4)
        key = lambda r: (r.entries, r.objects, r.head_seq, r.head_hash, [(p.seq, p.kind) for p in r.problems])  # noqa: E731
        assert key(four) == key(one)
        return key(four)

    entries, objects, head_seq, head_hash, problems = both()
    assert (entries, objects, head_seq, problems) == (60, 60, 60, [])
    assert head_hash == ledger.head()[1]
    import io

    from django.core.management import CommandError, call_command

    out = io.StringIO()
    call_command("verify_ledger", "--processes", "3", stdout=out)
    assert "校验通过:60 条记录" in out.getvalue()
    with pytest.raises(CommandError, match="正整数"):
        call_command("verify_ledger", "--processes", "0")

    with connection.cursor() as c:
        c.execute("ALTER TABLE qms_ledgerentry DISABLE TRIGGER USER")
        c.execute("DELETE FROM qms_ledgerentry WHERE seq = 16")  # first of the second range
        c.execute("UPDATE qms_ledgerentry SET reason = 'x' WHERE seq = 30")  # last of the second range
        c.execute("UPDATE qms_ledgerentry SET ts = ts - interval '1 day' WHERE seq = 46")  # first of the last
        c.execute("ALTER TABLE qms_ledgerentry ENABLE TRIGGER USER")
        c.execute("UPDATE qms_adminunit SET name = '改名' WHERE code = 'PV40'")
    *_, problems = both()
    # the unit whose only entry was deleted now exists with no entry at all
    assert set(problems) == {(16, "gap"), (17, "link"), (30, "hash"), (46, "hash"), (46, "time"), (41, "object"), (None, "unrecorded")}


def _bulk(items, action="test.bulk") -> None:
    with transaction.atomic():
        ledger._append(action, [("test.bulk", str(oid), before, after) for oid, before, after in items], actor=None, reason="")


@pytest.mark.django_db(transaction=True)
def test_the_ledger_is_split_between_processes_only_where_it_can_be(monkeypatch):
    """``_parallel_bounds``: equal ranges of seq, the last one open (entries appended meanwhile);
    none inside a transaction, without ``fork``, in a daemon process, for one process, or —
    unless asked — below PARALLEL_FROM entries; by default one process per processor, at most 8."""
    require_postgres()
    import multiprocessing
    from types import SimpleNamespace

    bounds, end = ledger._parallel_bounds, ledger._NO_END
    assert LedgerEntry.objects.count() == 0 and bounds(1, 4) is None  # nothing to verify
    _bulk((i, None, {"i": i}) for i in range(60))
    assert bounds(1, 4) == [(1, 15), (16, 30), (31, 45), (46, end)]
    assert bounds(1, 7) == [(1, 9), (10, 18), (19, 27), (28, 36), (37, 45), (46, 54), (55, end)]
    assert bounds(31, 2) == [(31, 45), (46, end)]
    assert bounds(60, 4) == [(60, end)]
    assert bounds(61, 4) is None and bounds(1, 1) is None
    with transaction.atomic():  # a child process would not see this transaction's rows
        assert bounds(1, 4) is None
    assert bounds(1, None) is None  # 60 entries, far below PARALLEL_FROM

    monkeypatch.setattr(ledger, "PARALLEL_FROM", 60)
    for cpus, expected in ((16, [(1, 8), (9, 16), (17, 24), (25, 32), (33, 40), (41, 48), (49, 56), (57, end)]),
                           (3, [(1, 20), (21, 40), (41, end)]), (2, [(1, 30), (31, end)]), (1, None), (None, None)):
        monkeypatch.setattr("os.cpu_count", lambda cpus=cpus: cpus)
        assert bounds(1, None) == expected, cpus
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert bounds(2, None) is None  # 59 entries from seq 2: one fewer than PARALLEL_FROM

    monkeypatch.setattr(multiprocessing, "current_process", lambda: SimpleNamespace(daemon=True))
    assert bounds(1, 4) is None  # a daemon (a Celery worker's child) may not have children
    monkeypatch.setattr(multiprocessing, "current_process", lambda: SimpleNamespace(daemon=False))
    assert bounds(1, 4) is not None
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    assert bounds(1, 4) is None


@pytest.mark.django_db(transaction=True)
def test_continuity_across_the_processes_ranges_is_checked_as_in_one_pass():
    """An object's first entry in a range is compared with its last entry in the ranges before
    (4 processes over 24 entries: 1–6, 7–12, 13–18, 19–24)."""
    require_postgres()
    _bulk((i, None, {"i": i}) for i in range(12))  # seq 1–12: object i created at seq i + 1
    _bulk([(2, {"i": 2}, {"i": 20})])  # 13: in line with seq 3
    _bulk([(4, {"i": 44}, None)])  # 14: deleted from a state it never had
    _bulk((100 + i, None, {"i": i}) for i in range(5))  # 15–19
    _bulk([(7, {"i": 77}, {"i": 70})])  # 20: a before that is not seq 8's after
    _bulk([(2, {"i": 20}, {"i": 21})])  # 21: in line with seq 13
    _bulk((200 + i, None, {"i": i}) for i in range(3))  # 22–24
    assert ledger._parallel_bounds(1, 4) == [(1, 6), (7, 12), (13, 18), (19, ledger._NO_END)]
    for processes in (1, 4):
        result = ledger.verify(check_objects=False, processes=processes)
        assert [(p.seq, p.kind, p.message) for p in result.problems] == [
            (14, "continuity", "test.bulk:4 序号 14 的变更前数据与序号 5 的变更后数据不符(字段:i)——两次留痕之间数据被绕过系统修改"),
            (20, "continuity", "test.bulk:7 序号 20 的变更前数据与序号 8 的变更后数据不符(字段:i)——两次留痕之间数据被绕过系统修改"),
        ], processes
        assert (result.entries, result.head_seq, result.recomputed) == (24, 24, 0)
