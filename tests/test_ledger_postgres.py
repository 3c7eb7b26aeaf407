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
