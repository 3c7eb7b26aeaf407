"""What fuzzing found (T19, bench/fuzz/): each case once crashed the product's upload check or
``verify`` with an exception other than the refusal or report they promise."""
from __future__ import annotations

import io
import struct
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction

from qms import ledger, uploads
from tests.conftest import tamper

pytestmark = pytest.mark.django_db


def _docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<x/>")
    return buf.getvalue()


def test_zip_of_a_version_zipfile_cannot_read_is_refused_not_a_crash():
    """fuzz_upload: a central directory asking for ZIP version 13.7 made ``zipfile`` raise
    ``NotImplementedError`` through ``check`` (a 500 page on every upload form)."""
    data = bytearray(_docx())
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 6, 137)  # version needed to extract
    with pytest.raises(NotImplementedError):  # what zipfile itself raises on it
        zipfile.ZipFile(io.BytesIO(bytes(data)))
    for kinds, by_name in (("evidence", True), ("imports", False)):
        with pytest.raises(uploads.UploadRefused) as refused:
            uploads.check(SimpleUploadedFile("纪要.docx", bytes(data)), kinds=kinds, by_name=by_name)
        assert "损坏" in refused.value.messages[0]


def _chain(*afters) -> None:
    with transaction.atomic():
        prev = None
        for after in afters:
            ledger.record("fuzz.update", obj_type="fuzz.thing", obj_id="1", before=prev, after=after, reason="测试")
            prev = after


def test_entries_whose_state_is_json_text_verify():
    """fuzz_verify: on SQLite ``verify`` decoded ``before``/``after`` a second time, so an
    entry whose value is a JSON string failed ("12" became 12: a false 'hash' problem) or
    crashed (``JSONDecodeError`` on "abc")."""
    start = ledger.head()[0]
    _chain("12", "abc", {"k": "[1]"}, None)
    result = ledger.verify(from_seq=start + 1, check_objects=False) if start else ledger.verify(check_objects=False)
    assert result.ok, result.problems
    assert result.entries >= 4


@pytest.mark.parametrize("column, value", [
    ("prev_hash", "zz" + "0" * 62),  # not hexadecimal: bytes.fromhex raised ValueError
    ("ts", "不是时间"),  # SQLite keeps any text: the time was read as None and format_ts raised
    ("ts", "2026-13-45 25:61:00"),  # looks like a time, is not one: parse_datetime raised
])
def test_unreadable_columns_are_reported_not_raised(column, value):
    """fuzz_verify: a hash that is not hexadecimal, or (SQLite) a time column holding text
    that is not a time, made ``verify`` raise instead of naming the entry."""
    if column == "ts" and connection.vendor == "postgresql":
        pytest.skip("PostgreSQL's timestamp column refuses text that is not a time")
    _chain({"a": 1}, {"a": 2}, {"a": 3})
    seq = ledger.head()[0] - 1
    tamper(f"UPDATE qms_ledgerentry SET {column} = %s WHERE seq = %s", [value, seq])
    result = ledger.verify(check_objects=False)
    assert not result.ok
    assert seq in {p.seq for p in result.problems}


def test_an_entry_moved_below_the_first_number_is_reported():
    """fuzz_verify: ``verify`` reads from ``seq`` 1 on, so a one-entry chain renumbered -1
    (or any entry moved to 0 or below) was never read and the ledger passed."""
    _chain({"a": 1})
    first = ledger.head()[0]
    tamper("UPDATE qms_ledgerentry SET seq = %s WHERE seq = %s", [-1, first])
    result = ledger.verify(check_objects=False)
    assert not result.ok
    assert -1 in {p.seq for p in result.problems}
