"""The ledger's parts that mutation testing (T21, bench/mutation.sh) found untested: the fast
canonical form ``verify`` tries first, and the catch-up entry a migration writes for added columns."""
from __future__ import annotations

import pytest
from django.apps import apps

from qms import ledger
from qms.models import LedgerEntry
from tests import factories

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
