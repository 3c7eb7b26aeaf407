#!/usr/bin/env python
"""T19 · the ledger's canonical form (``qms.ledger.canonical``): for any JSON-like ``before``,
``after`` and text fields chosen by the fuzzer the bytes are

* deterministic (the same value twice gives the same bytes),
* independent of the order of every dict's keys (the value rebuilt with keys reversed),
* a round trip: the bytes are UTF-8 JSON that parses back to the same entry, and the parsed
  entry gives the same bytes again (what ``verify`` relies on when it reads an entry back),
* agreed by the fast verifier (``_fast_canonical``, orjson) whenever it answers the same bytes
  for the parsed entry it must be the same entry (a fast match is never wrong),

or refused with ``ValueError`` — the documented refusal for what is not JSON (NaN, infinities,
text with a lone surrogate that UTF-8 cannot carry). Nothing else may escape.

    .venv/bin/python bench/fuzz/fuzz_canonical.py bench/fuzz/corpus/canonical -max_total_time=1200
"""
from __future__ import annotations

import json
import math
import sys

import _common

_common.setup()

import atheris  # noqa: E402

from qms import ledger  # noqa: E402

_common.instrument(ledger, _common, sys.modules[__name__])


def reversed_keys(value):
    if isinstance(value, dict):
        return {k: reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_keys(v) for v in value]
    return value


def not_json(value) -> bool:
    """True for what JSON cannot carry: NaN or an infinity, a lone surrogate."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, list):
        return any(not_json(v) for v in value)
    if isinstance(value, dict):
        return any(not_json(k) or not_json(v) for k, v in value.items())
    return False


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    entry = {
        "seq": fdp.ConsumeIntInRange(1, 2**62), "ts": fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 30)),
        "actor_id": fdp.ConsumeIntInRange(0, 2**62) if fdp.ConsumeBool() else None,
        "actor_name": fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 20)),
        "action": fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 20)),
        "obj_type": fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 20)),
        "obj_id": fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 20)),
        "before": _common.json_value(fdp), "after": _common.json_value(fdp),
        "reason": fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 40)),
    }
    try:
        out = ledger.canonical(**entry)
    except ValueError:
        assert not_json(entry), "refused a JSON value"
        return
    assert not not_json(entry), "accepted a value JSON cannot carry"
    assert isinstance(out, bytes)
    assert ledger.canonical(**entry) == out, "not deterministic"
    assert ledger.canonical(**reversed_keys(entry)) == out, "depends on key order"
    text = out.decode("utf-8")
    parsed = json.loads(text)
    assert parsed == json.loads(json.dumps(entry)), "does not parse back to the entry"
    assert ledger.canonical(**parsed) == out, "parsing and writing again changes the bytes"
    assert list(parsed) == sorted(parsed), "keys not sorted"
    fast = ledger._fast_canonical(**{k: parsed[k] for k in entry})
    if fast == out:
        assert json.loads(fast) == parsed


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
