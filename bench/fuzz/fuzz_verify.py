#!/usr/bin/env python
"""T19 · ``qms.ledger.verify`` against a chain the fuzzer first writes and then tampers with.

Each input writes a genuine chain of 1–8 entries through ``ledger.record`` (the product's one
write path: JSON-like ``before``/``after`` chosen by the fuzzer, each object's ``before`` its
previous ``after``) on an in-memory SQLite database, checks that ``verify`` passes, and then
applies 1–3 changes behind the product's back, as someone with the database could:

* a field of an entry set to another value (text, ids, time, ``before``/``after``, the hashes),
  through the ORM or as raw column text (a JSON column holding text that is not JSON, a hash
  that is not hexadecimal);
* an entry deleted, or two entries' contents swapped.

Properties: ``verify`` never raises; after a change that leaves any entry different from what
was written (compared as stored column text), it reports at least one problem — except the
removal of the newest entries, which no in-database check can see (the signed checkpoint, T7,
does). A change that leaves every entry's content as written (e.g. the same value set again)
must still pass.

    .venv/bin/python bench/fuzz/fuzz_verify.py bench/fuzz/corpus/verify -max_total_time=1200
"""
from __future__ import annotations

import contextlib
import datetime as dt
import sys

import _common

_common.setup()

import atheris  # noqa: E402
from django.db import IntegrityError, connection, transaction  # noqa: E402

from qms import ledger  # noqa: E402
from qms.models import LedgerEntry  # noqa: E402

_common.instrument(ledger, _common, sys.modules[__name__])
ledger._REGISTRY.clear()  # no product tables here: the chain alone is verified

with connection.schema_editor() as editor:
    editor.create_model(LedgerEntry)

TEXT = ("actor_name", "action", "obj_type", "obj_id", "reason")
HASHES = ("prev_hash", "hash")
COLUMNS = ("seq", "ts", "actor_id", "actor_name", "action", "obj_type", "obj_id", "before", "after",
           "reason", "prev_hash", "hash")
BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
#: a change the database itself refuses (a surrogate SQLite cannot store, a duplicate key, a
#: JSON column's json_valid check) is simply not made
REFUSED = contextlib.suppress(ValueError, TypeError, IntegrityError)


def rows() -> list[tuple]:
    with connection.cursor() as c:
        c.execute(f"SELECT {', '.join(COLUMNS)} FROM qms_ledgerentry ORDER BY seq".replace("ts,", "CAST(ts AS TEXT),", 1))
        return c.fetchall()


def raw_set(seq: int, column: str, value) -> None:
    with connection.cursor() as c:
        c.execute(f"UPDATE qms_ledgerentry SET {column} = %s WHERE seq = %s", [value, seq])


def write_chain(fdp) -> None:
    last_after: dict[str, object] = {}
    with transaction.atomic():
        for _ in range(fdp.ConsumeIntInRange(1, 8)):
            obj_id = str(fdp.ConsumeIntInRange(1, 3))
            after = None if fdp.ConsumeIntInRange(0, 7) == 0 else {
                fdp.ConsumeUnicode(4): _common.json_value(fdp) for _ in range(fdp.ConsumeIntInRange(0, 3))}
            try:
                ledger.record(fdp.ConsumeUnicode(6) or "update", obj_type="fuzz.thing", obj_id=obj_id,
                              before=last_after.get(obj_id), after=after, reason=fdp.ConsumeUnicode(10))
            except ValueError:  # not JSON (NaN, a lone surrogate): the documented refusal
                continue
            last_after[obj_id] = after


def change_text(old: str, fdp) -> str:
    if old and fdp.ConsumeBool():
        i = fdp.ConsumeIntInRange(0, len(old) - 1)
        c = chr(fdp.ConsumeIntInRange(0, 0x10FFFF))
        return old[:i] + c + old[i + 1:]
    return old + fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 4))


def tamper(fdp, seqs: list[int]) -> None:
    seq = seqs[fdp.ConsumeIntInRange(0, len(seqs) - 1)]
    what = fdp.ConsumeIntInRange(0, 9)
    if what == 0:
        LedgerEntry.objects.filter(seq=seq).delete()
    elif what == 1:
        other = seqs[fdp.ConsumeIntInRange(0, len(seqs) - 1)]
        a, b = LedgerEntry.objects.get(seq=seq), LedgerEntry.objects.get(seq=other)
        LedgerEntry.objects.filter(seq__in=[seq, other]).delete()
        a.seq, b.seq = other, seq
        LedgerEntry.objects.bulk_create([a, b] if a.seq != b.seq else [a])
    elif what == 2:
        field = TEXT[fdp.ConsumeIntInRange(0, len(TEXT) - 1)]
        old = getattr(LedgerEntry.objects.get(seq=seq), field)
        with REFUSED:  # a surrogate SQLite cannot store
            LedgerEntry.objects.filter(seq=seq).update(**{field: change_text(old, fdp)})
    elif what == 3:
        LedgerEntry.objects.filter(seq=seq).update(ts=BASE + dt.timedelta(microseconds=fdp.ConsumeIntInRange(-10**12, 10**12)))
    elif what == 4:
        LedgerEntry.objects.filter(seq=seq).update(actor_id=fdp.ConsumeIntInRange(-2**63, 2**63 - 1) if fdp.ConsumeBool() else None)
    elif what == 5:
        field = ("before", "after")[fdp.ConsumeIntInRange(0, 1)]
        with REFUSED:
            LedgerEntry.objects.filter(seq=seq).update(**{field: _common.json_value(fdp)})
    elif what == 6:  # the JSON column's text itself
        field = ("before", "after")[fdp.ConsumeIntInRange(0, 1)]
        with REFUSED:  # SQLite's JSON column checks json_valid
            raw_set(seq, field, fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 20)))
    elif what == 7:  # a hash column changed in one place (hex or not)
        field = HASHES[fdp.ConsumeIntInRange(0, 1)]
        old = getattr(LedgerEntry.objects.get(seq=seq), field)
        i = fdp.ConsumeIntInRange(0, max(len(old) - 1, 0))
        c = "0123456789abcdef"[fdp.ConsumeIntInRange(0, 15)] if fdp.ConsumeBool() else chr(fdp.ConsumeIntInRange(32, 0x2FFF))
        with REFUSED:
            LedgerEntry.objects.filter(seq=seq).update(**{field: old[:i] + c + old[i + 1:]})
    elif what == 8:
        with REFUSED:
            LedgerEntry.objects.filter(seq=seq).update(seq=fdp.ConsumeIntInRange(-3, 12))
    else:  # raw text in the time column
        with REFUSED:
            raw_set(seq, "ts", fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 30)))


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    LedgerEntry.objects.all().delete()
    write_chain(fdp)
    written = rows()
    if not written:
        return
    assert ledger.verify(check_objects=False).ok, "a genuine chain fails"
    for _ in range(fdp.ConsumeIntInRange(1, 3)):
        seqs = [r[0] for r in rows()]
        if not seqs:
            break
        with REFUSED:  # also: an entry whose time no longer reads as one cannot be loaded to swap it
            tamper(fdp, seqs)
    now = rows()
    result = ledger.verify(check_objects=False)  # must not raise
    if now == written[: len(now)]:  # unchanged, or only the newest entries removed
        assert result.ok, f"an untouched chain fails: {result.problems}"
    else:
        assert not result.ok, f"a changed chain passes:\n{written}\n{now}"


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
