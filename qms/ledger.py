"""留痕台账 — the append-only, hash-chained integrity ledger.

Answers the seeds' ninth problem (seed 001 二(九): records that are sloppy, incomplete or
even falsified) and ISO 9001 §7.5.3 (protection of documented information): every change
to a ledgered object writes one entry *in the same transaction*, and ``verify`` recomputes
the whole chain and compares every ledgered row with its last recorded state.

Design (reliability.md §2.3):
- ``seq`` is gapless; on PostgreSQL it is assigned under ``pg_advisory_xact_lock`` so two
  concurrent appends can never read the same head and fork the chain;
- ``ts`` is the database clock (``clock_timestamp()``) in UTC, never earlier than the head;
- ``hash = SHA-256(bytes(prev_hash) || canonical(entry))`` with sorted-key compact UTF-8
  JSON as the canonical form;
- a trigger (migration ``0002``) refuses UPDATE, DELETE and TRUNCATE on PostgreSQL;
- **continuity**: an entry's ``before`` must equal the previous entry's ``after`` for the
  same object, field by field. A row edited outside the product and then changed through
  it would otherwise be "laundered": the new entry would carry the tampered value as its
  ``before`` and the row would match its last ``after`` again. ``record`` refuses such a
  change at write time (``TamperedError``, the administrators are alerted once the failed
  transaction has rolled back) and ``verify`` reports any break in old entries.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import hashlib
import json
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.utils import timezone

from qms.models import LedgerCheckpoint, LedgerEntry

GENESIS_HASH = "0" * 64
#: Key of the transaction-level advisory lock that serialises appends (any fixed bigint).
LEDGER_LOCK_KEY = 0x716D735F6C6564  # "qms_led"

_REGISTRY: dict[str, type[models.Model]] = {}
_ALERTS = threading.local()


class LedgerError(RuntimeError):
    """Raised when the ledger is used wrongly (e.g. outside a transaction)."""


#: What a user reads when a change is refused because the row was edited outside the product.
TAMPER_MESSAGE = "该记录在系统之外被修改过,已停止操作并通知体系管理员"


@dataclass(frozen=True)
class Drift:
    """A row whose stored state differs from its last ledger entry's ``after`` (数据被绕过系统修改)."""

    obj_type: str
    obj_id: str
    last_seq: int
    fields: tuple[str, ...]


class TamperedError(ValidationError):
    """A change refused because the row it starts from is not the state the ledger last
    recorded for it: someone edited it outside the product. A ``ValidationError`` so that
    every form and view shows the plain message; nothing of the change is saved (the
    service's transaction rolls back), and ``flush_tamper_alerts`` notifies the
    administrators afterwards, outside that transaction."""

    def __init__(self, drift: Drift):
        super().__init__(TAMPER_MESSAGE, code="tampered")
        self.drift = drift


def register(*model_classes: type[models.Model]) -> None:
    """Declare models whose every row must match its last ledger entry (checked by verify)."""
    for cls in model_classes:
        _REGISTRY[label_of(cls)] = cls


def registered_models() -> dict[str, type[models.Model]]:
    return dict(_REGISTRY)


def label_of(obj_or_cls: models.Model | type[models.Model]) -> str:
    return obj_or_cls._meta.label_lower


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | float | uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "name") and hasattr(value, "storage"):  # FieldFile
        return value.name or ""
    return str(value)


def snapshot(obj: models.Model) -> dict[str, Any]:
    """The ledgered state of a row: every concrete field (FKs by id) and sorted M2M ids.

    Fields named in the model's ``ledger_exclude`` (derived data such as a tree path) are
    left out, so recomputing them does not count as a change.
    """
    exclude = set(getattr(obj, "ledger_exclude", ()))
    data: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.attname in exclude or field.name in exclude:
            continue
        value = field.value_from_object(obj)
        if isinstance(field, models.DecimalField) and value is not None:
            # the same text whether the value came from the user ("6000") or the DB ("6000.00")
            value = format(decimal.Decimal(value).quantize(decimal.Decimal(1).scaleb(-field.decimal_places)), "f")
        data[field.attname] = _jsonable(value)
    for field in obj._meta.many_to_many:
        if field.name in exclude:
            continue
        if obj.pk is None:
            data[field.name] = []
            continue
        cache = getattr(obj, "_prefetched_objects_cache", {})
        if field.name in cache:
            ids = [o.pk for o in cache[field.name]]
        else:
            ids = list(getattr(obj, field.name).values_list("pk", flat=True))
        data[field.name] = sorted(ids)
    return data


def format_ts(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(
    *, seq: int, ts: dt.datetime | str, actor_id: int | None, actor_name: str, action: str,
    obj_type: str, obj_id: str, before: Any, after: Any, reason: str,
) -> bytes:
    """The bytes that are hashed: sorted-key compact UTF-8 JSON, explicit nulls, UTC µs."""
    body = {
        "seq": seq, "ts": ts if isinstance(ts, str) else format_ts(ts), "actor_id": actor_id, "actor_name": actor_name,
        "action": action, "obj_type": obj_type, "obj_id": obj_id,
        "before": before, "after": after, "reason": reason,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def chain_hash(prev_hash: str, payload: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + payload).hexdigest()


def _db_now(cursor) -> dt.datetime:
    if connection.vendor == "postgresql":
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]
    return timezone.now()


_UNSET: Any = object()


def record(
    action: str,
    obj: models.Model | None = None,
    *,
    actor=None,
    before: Any = None,
    after: Any = _UNSET,
    reason: str = "",
    obj_type: str | None = None,
    obj_id: str | int | None = None,
) -> LedgerEntry:
    """Append one entry. Must be called inside the transaction that makes the change.

    ``after`` defaults to the object's current snapshot; pass ``after=None`` for a deletion.
    """
    if obj is not None:
        obj_type = obj_type or label_of(obj)
        obj_id = obj.pk if obj_id is None else obj_id
        if after is _UNSET:
            after = snapshot(obj)
    if after is _UNSET:
        after = None
    if not obj_type or obj_id is None:
        raise LedgerError("留痕记录缺少对象类型或对象ID")
    _check_continuity(obj_type, str(obj_id), before, action)
    return _append(action, [(obj_type, str(obj_id), before, after)], actor=actor, reason=reason)[0]


def canon(value: Any) -> str:
    """One field's value in canonical text form, for comparing ``before`` with ``after``."""
    return json.dumps(_jsonable(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def drifted_fields(before: Any, last_after: Any) -> list[str]:
    """The fields whose value in ``before`` is not the one in the previous ``after``.

    Only fields present in both are compared: a column added by a later migration (absent
    from old entries) or a field a caller did not snapshot is not a break."""
    if not isinstance(before, dict) or not isinstance(last_after, dict):
        return [] if before == last_after else ["*"]
    return sorted(k for k in before.keys() & last_after.keys() if not _same(before[k], last_after[k]))


def _same(a: Any, b: Any) -> bool:
    if type(a) is type(b) and a == b:  # the common case, without encoding
        return True
    return canon(a) == canon(b)


def _check_continuity(obj_type: str, obj_id: str, before: Any, action: str) -> None:
    """Refuse to ledger a change of a row that was edited outside the product.

    The last entry for the object is read (one indexed query). If the object exists in the
    ledger (its last ``after`` is not None), the caller must say what it started from
    (``before``, a snapshot of the row read inside this transaction), and that must be the
    last ``after``; otherwise the change is refused with ``TamperedError``."""
    last = (LedgerEntry.objects.filter(obj_type=obj_type, obj_id=obj_id)
            .order_by("-seq").values_list("seq", "after").first())
    if last is None or last[1] is None:
        return
    if before is None:
        raise LedgerError(f"{action}:对已有留痕的对象 {obj_type}:{obj_id} 记录变更时必须给出变更前数据(before)")
    fields = drifted_fields(_jsonable(before), last[1])
    if fields:
        drift = Drift(obj_type, obj_id, last[0], tuple(fields))
        _pending_alerts().append(drift)
        raise TamperedError(drift)


def _pending_alerts() -> list[Drift]:
    alerts = getattr(_ALERTS, "pending", None)
    if alerts is None:
        alerts = _ALERTS.pending = []
    return alerts


def flush_tamper_alerts() -> list[Drift]:
    """Tell the administrators about the changes refused by ``TamperedError`` in this thread.

    Called after the refused change's transaction has rolled back (the request middleware,
    the Celery task hook, the commands), so the alert is not rolled back with it: a
    notification to every 体系管理员 (once per object and ledger entry) and an error in the
    log. Returns what was flushed."""
    alerts = list(_pending_alerts())
    if not alerts or connection.needs_rollback:
        return []  # nothing to say, or still inside the failed transaction: kept for later
    _ALERTS.pending = []
    import logging

    from django.contrib.auth import get_user_model
    from django.db import transaction

    from qms.models import Role, RoleGrant
    from qms.notify import notify

    log = logging.getLogger("qms.ledger")
    user_model = get_user_model()
    admins = list(user_model.objects.filter(
        models.Q(is_superuser=True) | models.Q(pk__in=RoleGrant.objects.filter(role=Role.ADMIN).values("user_id")),
        is_active=True,
    ))
    with transaction.atomic():
        for d in alerts:
            log.error("ledger continuity: %s:%s differs from entry %s in %s; change refused",
                      d.obj_type, d.obj_id, d.last_seq, ", ".join(d.fields))
            what = object_label(d.obj_type)
            for user in admins:
                notify(user, key=f"tamper:{d.obj_type}:{d.obj_id}:{d.last_seq}", level="danger",
                       title=f"{what}(编号 {d.obj_id})在系统之外被修改过,相关操作已被拒绝,请运行台账校验并处理")
    return alerts


def object_label(obj_type: str) -> str:
    """The Chinese name of a ledgered object type (its model's verbose_name)."""
    from django.apps import apps

    try:
        return str(apps.get_model(obj_type)._meta.verbose_name)
    except (LookupError, ValueError):
        return "记录"


def record_many(action: str, objs: Iterable[models.Model], *, actor=None, reason: str = "") -> list[LedgerEntry]:
    """Append one entry per object (each with its current snapshot, nothing before), in one
    locked append: the head is read once and the entries go in with one bulk insert. For
    services that create many rows in one transaction (the scheduler's first pass over a
    tree of thousands of units creates one occurrence per unit and period). The chain is the
    same as with one ``record`` call per object: consecutive ``seq``, each hash over the
    previous one; the entries share the database clock's reading."""
    items = [(label_of(o), str(o.pk), None, snapshot(o)) for o in objs]
    if any(pk == "None" for _t, pk, _b, _a in items):
        raise LedgerError("留痕记录缺少对象ID(对象尚未保存)")
    return _append(action, items, actor=actor, reason=reason) if items else []


def _append(action: str, items: list[tuple[str, str, Any, Any]], *, actor, reason: str) -> list[LedgerEntry]:
    if not connection.in_atomic_block:
        raise LedgerError("留痕必须与变更在同一事务中写入(请在 transaction.atomic() 内调用)")
    actor_id = getattr(actor, "pk", None)
    actor_name = actor.get_username() if actor is not None and hasattr(actor, "get_username") else "系统"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LEDGER_LOCK_KEY])
        now = _db_now(cursor)
    head = LedgerEntry.objects.order_by("-seq").values_list("seq", "hash", "ts").first()
    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
    if head and now < head[2]:
        now = head[2]  # never earlier than the head (monotonic in seq, T24)
    entries = []
    for obj_type, obj_id, before, after in items:
        before_j, after_j = _jsonable(before), _jsonable(after)
        payload = canonical(
            seq=seq, ts=now, actor_id=actor_id, actor_name=actor_name, action=action,
            obj_type=obj_type, obj_id=obj_id, before=before_j, after=after_j, reason=reason,
        )
        link = chain_hash(prev_hash, payload)
        entries.append(LedgerEntry(
            seq=seq, ts=now, actor_id=actor_id, actor_name=actor_name, action=action,
            obj_type=obj_type, obj_id=obj_id, before=before_j, after=after_j, reason=reason,
            prev_hash=prev_hash, hash=link,
        ))
        prev_hash = link
        seq += 1
    if len(entries) == 1:
        entries[0].save(force_insert=True)
    else:
        LedgerEntry.objects.bulk_create(entries, batch_size=2000)
    return entries


def head() -> tuple[int, str]:
    """(seq, hash) of the newest entry; (0, genesis) when empty."""
    row = LedgerEntry.objects.order_by("-seq").values_list("seq", "hash").first()
    return (row[0], row[1]) if row else (0, GENESIS_HASH)


def history(obj: models.Model) -> models.QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(obj_type=label_of(obj), obj_id=str(obj.pk)).order_by("seq")


# ----------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class Problem:
    """One thing ``verify`` found wrong. ``seq`` is the entry concerned, if any."""

    seq: int | None
    kind: str
    message: str


@dataclass
class VerifyResult:
    entries: int
    objects: int
    head_seq: int
    head_hash: str
    problems: list[Problem]
    #: entries whose hash matched only through the standard encoder they were written with (the
    #: fast one ``verify`` tries first writes them differently: an exponent, a very large integer);
    #: a number that grows on an ordinary ledger means the fast form has drifted and ``verify`` slowed
    recomputed: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        seqs = [p.seq for p in self.problems if p.seq is not None]
        return min(seqs) if seqs else None




#: PostgreSQL formats the timestamp exactly as ``format_ts`` does, in C.
_PG_ROWS = (
    "SELECT seq, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), actor_id, actor_name,"
    " action, obj_type, obj_id, before, after, reason, prev_hash, hash"
    " FROM qms_ledgerentry WHERE seq > %s AND seq <= %s ORDER BY seq LIMIT %s"
)

#: SQLite: the same columns, the time as its stored text (an expression, so that the
#: driver's converter for the column's declared type, which raises on text that is not a
#: time, is not applied; ``_ts_text`` reads it).
_SQLITE_ROWS = (
    "SELECT seq, CAST(ts AS TEXT), actor_id, actor_name, action, obj_type, obj_id, before, after, reason, prev_hash, hash"
    " FROM qms_ledgerentry WHERE seq > %s AND seq <= %s ORDER BY seq LIMIT %s"
)


def _ts_text(value: Any) -> str:
    """A stored time in canonical text form (SQLite keeps naive UTC text). Text that is not a
    time — SQLite's column takes anything written behind the product's back — comes back
    marked, so its entry's hash fails and ``verify`` reports it rather than raising (found
    by fuzzing ``verify``, bench/fuzz/fuzz_verify.py)."""
    from django.utils.dateparse import parse_datetime

    if isinstance(value, dt.datetime):
        when = value
    else:
        try:
            when = parse_datetime(str(value))
        except ValueError:
            when = None
    if when is None:
        return f"(不是时间){value!r}"  # what was stored, for whoever reads the problem
    return format_ts(when if timezone.is_aware(when) else when.replace(tzinfo=dt.UTC))


#: Below this many entries a single process verifies (starting processes costs more than it saves).
PARALLEL_FROM = 50_000
_NO_END = 2**62


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _fast_loads(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _fast_canonical(
    seq: int, ts: str, actor_id: int | None, actor_name: str, action: str,
    obj_type: str, obj_id: str, before: Any, after: Any, reason: str,
) -> bytes | None:
    """``canonical`` through orjson, for verifying only: the same bytes for what the ledger
    writes (sorted keys, compact, UTF-8, the same escapes), five to ten times faster. Where
    the two encoders differ (an exponent written ``1e-7`` rather than ``1e-07``, an integer
    beyond 64 bits) the hash will not match and ``verify`` recomputes with ``canonical``, the
    form the entry was written in. A match is never wrong: equal JSON text parses to equal
    values, so the stored values are the hashed ones whichever encoder produced the text."""
    try:
        return orjson.dumps({
            "seq": seq, "ts": ts, "actor_id": actor_id, "actor_name": actor_name,
            "action": action, "obj_type": obj_type, "obj_id": obj_id,
            "before": before, "after": after, "reason": reason,
        }, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError: a value orjson does not write
        return None


def _iter_entries(first: int, last: int | None = None, chunk: int = 5000) -> Iterator[tuple]:
    """Entries with ``first <= seq <= last`` in ``seq`` order, ``ts`` already in canonical
    text form, in keyset pages. On PostgreSQL ``before``/``after`` come as JSON text (decoded
    by the caller); on SQLite the ORM has decoded them."""
    end = _NO_END if last is None else last
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        yield from _iter_prefetched(first, end, chunk)
        return
    after = first - 1
    pg = connection.vendor == "postgresql"
    while True:
        # raw rows, no per-row ORM conversion: Django's psycopg loader hands jsonb over as
        # text, SQLite keeps JSON as text; SQLite's time column is text read by ``_ts_text``
        with connection.cursor() as c:
            c.execute(_PG_ROWS if pg else _SQLITE_ROWS, [after, end, chunk])
            rows = c.fetchall() if pg else [(r[0], _ts_text(r[1]), *r[2:]) for r in c.fetchall()]
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def _iter_prefetched(first: int, end: int, chunk: int) -> Iterator[tuple]:
    """PostgreSQL outside a transaction (the command, the nightly task): a second thread, on
    its own connection, fetches the next page while this one decodes and hashes the current
    one — the database's work and ours overlap. Inside a transaction (where a second
    connection would not see uncommitted rows) the plain loop above is used."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def fetch(after: int) -> list[tuple]:
        with connections["default"].cursor() as c:
            c.execute(_PG_ROWS, [after, end, chunk])
            return c.fetchall()

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-verify")
    try:
        pending = pool.submit(fetch, first - 1)
        while True:
            rows = pending.result()
            if not rows:
                return
            pending = pool.submit(fetch, rows[-1][0])
            yield from rows
    finally:
        pool.submit(lambda: connections["default"].close()).result()  # the worker's own connection
        pool.shutdown()


@dataclass
class _Segment:
    """What one pass over ``first..last`` found. The links *into* the segment (its first
    entry's ``seq``, ``prev_hash`` and time against the entry before it) are checked by
    ``_join``, which knows the segment before; everything inside is checked here."""

    count: int = 0
    recomputed: int = 0  # entries hashed a second time, with ``canonical``
    head: tuple[int, str, str] | None = None  # first entry: seq, stored prev_hash, ts
    tail: tuple[int, str, str] | None = None  # last entry: seq, hash, ts
    problems: list[Problem] = dataclasses.field(default_factory=list)
    last_state: dict[tuple[str, str], tuple[int, Any]] = dataclasses.field(default_factory=dict)
    #: per object first seen in this segment: its first entry's seq and ``before`` (checked
    #: against the object's last ``after`` in the segments before, by ``_join_continuity``)
    first_before: dict[tuple[str, str], tuple[int, Any]] = dataclasses.field(default_factory=dict)


def _continuity(problems: list[Problem], key: tuple[str, str], seq: int, before: Any, prev: tuple[int, Any] | None) -> None:
    """An entry's ``before`` against the ``after`` of the object's previous entry."""
    if prev is None or before is None or prev[1] is None:
        return
    fields = drifted_fields(before, prev[1])
    if fields:
        problems.append(Problem(seq, "continuity", (
            f"{key[0]}:{key[1]} 序号 {seq} 的变更前数据与序号 {prev[0]} 的变更后数据不符(字段:{', '.join(fields)})"
            "——两次留痕之间数据被绕过系统修改")))


def _check_link(problems: list[Problem], seq: int, stored_prev: str, ts: str,
                expected: int, prev_hash: str, prev_ts: str | None) -> None:
    """An entry against the one before it: its ``seq`` follows, its ``prev_hash`` is that
    entry's hash, and its time is not earlier (within a segment, and across segments)."""
    if seq != expected:
        problems.append(Problem(min(seq, expected), "gap", f"序号不连续:应为 {expected},实为 {seq}(记录被删除或插入)"))
    if stored_prev != prev_hash:
        problems.append(Problem(seq, "link", f"序号 {seq} 的前一哈希与上一条记录不符(记录被删除、插入或重排)"))
    if prev_ts is not None and ts < prev_ts:
        problems.append(Problem(seq, "time", f"序号 {seq} 的时间早于上一条记录"))


def _verify_segment(first: int, last: int | None) -> _Segment:
    seg = _Segment()
    problems, last_state = seg.problems, seg.last_state
    prev_seq = prev_hash = prev_ts = None
    # rows carry ``before``/``after`` as JSON text, decoded here once (the ORM's decoding on
    # SQLite followed by a second one turned a stored JSON string such as "12" into 12 and
    # raised on others: found by fuzzing ``verify``, bench/fuzz/fuzz_verify.py)
    for seq, ts, actor_id, actor_name, action, obj_type, obj_id, before, after, reason, stored_prev, stored_hash in _iter_entries(first, last):
        if prev_seq is None:
            seg.head = (seq, stored_prev, ts)
        else:
            _check_link(problems, seq, stored_prev, ts, prev_seq + 1, prev_hash, prev_ts)
        seg.count += 1
        decoded = (before, after)
        try:
            decoded = (_fast_loads(before), _fast_loads(after))
            payload = _fast_canonical(seq, ts, actor_id, actor_name, action, obj_type, obj_id, *decoded, reason)
            matches = payload is not None and chain_hash(stored_prev, payload) == stored_hash
        except ValueError:  # orjson cannot read it, or a previous hash that is not hexadecimal
            matches = False
        if not matches:
            seg.recomputed += 1
            try:
                decoded = (_loads(before), _loads(after))  # the exact form the entry was written in
                payload = canonical(
                    seq=seq, ts=ts, actor_id=actor_id, actor_name=actor_name, action=action,
                    obj_type=obj_type, obj_id=obj_id, before=decoded[0], after=decoded[1], reason=reason,
                )
                matches = chain_hash(stored_prev, payload) == stored_hash
            except ValueError:  # not JSON (NaN, a lone surrogate) or a hash that is not hexadecimal
                matches = False
            if not matches:
                problems.append(Problem(seq, "hash", f"序号 {seq} 的内容与其哈希不符(记录被改动)"))
        prev_seq, prev_hash, prev_ts = seq, stored_hash, ts
        key = (obj_type, obj_id)
        prev = last_state.get(key)
        if prev is None:
            if decoded[0] is not None:
                seg.first_before[key] = (seq, decoded[0])
        else:
            _continuity(problems, key, seq, decoded[0], prev)
        last_state[key] = (seq, decoded[1])
        if len(problems) > 1000:
            break
    if prev_seq is not None:
        seg.tail = (prev_seq, prev_hash, prev_ts)
    return seg


def _segment_in_child(first: int, last: int) -> _Segment:
    from django.db import connections

    try:
        return _verify_segment(first, last)
    finally:
        connections.close_all()


def _parallel_bounds(from_seq: int, processes: int | None) -> list[tuple[int, int]] | None:
    """Split ``from_seq..head`` into one range per process, or None to verify in this process.
    Processes are used on PostgreSQL outside a transaction (a forked child has its own
    connection and could not see uncommitted rows), where ``fork`` exists and this process
    may have children (not a daemon), for ledgers of ``PARALLEL_FROM`` entries or more (or
    whenever ``processes`` is given)."""
    import multiprocessing
    import os

    if (
        processes == 1 or connection.vendor != "postgresql" or connection.in_atomic_block
        or "fork" not in multiprocessing.get_all_start_methods() or multiprocessing.current_process().daemon
    ):
        return None
    top = LedgerEntry.objects.order_by("-seq").values_list("seq", flat=True).first()
    if top is None or top < from_seq:
        return None
    n = processes or min(os.cpu_count() or 1, 8)
    if n < 2 or (processes is None and top - from_seq + 1 < PARALLEL_FROM):
        return None
    step = -(-(top - from_seq + 1) // n)
    bounds = [(lo, min(lo + step - 1, top)) for lo in range(from_seq, top + 1, step)]
    bounds[-1] = (bounds[-1][0], _NO_END)  # entries appended while we verify belong to the last range
    return bounds


def _segments(from_seq: int, processes: int | None) -> list[_Segment]:
    bounds = _parallel_bounds(from_seq, processes)
    if bounds is None:
        return [_verify_segment(from_seq, None)]
    import multiprocessing

    from django.db import connections

    connections.close_all()  # a forked child must not share this process's sockets
    with multiprocessing.get_context("fork").Pool(len(bounds)) as pool:
        return pool.starmap(_segment_in_child, bounds)


def _join(segments: list[_Segment], expected: int, prev_hash: str, prev_ts: str | None) -> tuple[int, int, str, list[Problem]]:
    """Check each segment's first entry against the last entry before it, as the one-pass loop
    would; return (entries, head seq, head hash, problems)."""
    problems: list[Problem] = []
    count = 0
    for seg in segments:
        count += seg.count
        if seg.head is not None:
            _check_link(problems, *seg.head, expected, prev_hash, prev_ts)
            last_seq, prev_hash, prev_ts = seg.tail
            expected = last_seq + 1
        problems.extend(seg.problems)
    return count, expected - 1, prev_hash, problems


def _join_continuity(segments: list[_Segment], problems: list[Problem]) -> dict[tuple[str, str], tuple[int, Any]]:
    """Continuity across segments: each object's first ``before`` in a segment against its
    last ``after`` in the segments before. Returns every object's last (seq, after)."""
    last_state: dict[tuple[str, str], tuple[int, Any]] = {}
    for seg in segments:
        if last_state:
            for key, (seq, before) in seg.first_before.items():
                _continuity(problems, key, seq, before, last_state.get(key))
        last_state.update(seg.last_state)
    return last_state


def verify(*, from_seq: int = 1, check_objects: bool = True, processes: int | None = None) -> VerifyResult:
    """Recompute the chain from ``from_seq`` and (from the start only) compare every
    ledgered row with the ``after`` of its last entry.

    Large ledgers are verified in ``processes`` forked processes (default: one per CPU, from
    ``PARALLEL_FROM`` entries, where ``_parallel_bounds`` allows), each over its own range of
    ``seq``: every entry's hash covers its stored ``prev_hash``, so only the link from each
    range's first entry to the entry before it is left to check, in ``_join``. The result is
    the same as one pass."""
    if from_seq > 1:
        prev = LedgerEntry.objects.filter(seq=from_seq - 1).values_list("hash", "ts").first()
        if prev is None:
            return VerifyResult(0, 0, 0, GENESIS_HASH, [Problem(from_seq - 1, "missing", f"起始序号 {from_seq - 1} 的记录不存在")])
        prev_hash, prev_ts = prev[0], format_ts(prev[1])
        check_objects = False
    else:
        prev_hash, prev_ts = GENESIS_HASH, None
    segments = _segments(from_seq, processes)
    count, head_seq, head_hash, problems = _join(segments, from_seq, prev_hash, prev_ts)
    if from_seq == 1:  # an entry moved below the chain's first number is outside every range read
        for seq in LedgerEntry.objects.filter(seq__lt=1).order_by("seq").values_list("seq", flat=True)[:1000]:
            problems.append(Problem(seq, "gap", f"序号 {seq} 不在台账的序号范围内(记录被改动或插入)"))
    last_state = _join_continuity(segments, problems)
    objects = 0
    if check_objects and len(problems) <= 1000:
        objects = _check_objects(last_state, problems)
    problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    return VerifyResult(count, objects, head_seq, head_hash, problems, sum(seg.recomputed for seg in segments))


def _check_objects(last_state: dict[tuple[str, str], tuple[int, Any]], problems: list[Problem]) -> int:
    checked = 0
    for obj_type, cls in _REGISTRY.items():
        seen: set[str] = set()
        qs = cls._default_manager.order_by("pk")
        m2m = [f.name for f in cls._meta.many_to_many if f.name not in getattr(cls, "ledger_exclude", ())]
        if m2m:
            qs = qs.prefetch_related(*m2m)
        for obj in qs.iterator(chunk_size=2000):
            checked += 1
            key = (obj_type, str(obj.pk))
            seen.add(key[1])
            state = last_state.get(key)
            if state is None:
                problems.append(Problem(None, "unrecorded", f"{obj_type}:{obj.pk} 存在但没有任何留痕(绕过系统写入)"))
                continue
            seq, after = state
            current = snapshot(obj)
            if after is None:
                problems.append(Problem(seq, "resurrected", f"{obj_type}:{obj.pk} 已于序号 {seq} 删除,但数据仍存在"))
            elif current != after:
                fields = sorted(k for k in set(current) | set(after) if current.get(k) != after.get(k))
                problems.append(Problem(seq, "object", f"{obj_type}:{obj.pk} 的当前数据与序号 {seq} 的留痕不符(字段:{', '.join(fields)})——数据被绕过系统修改"))
        for (t, oid), (seq, after) in last_state.items():
            if t == obj_type and after is not None and oid not in seen:
                problems.append(Problem(seq, "vanished", f"{obj_type}:{oid} 在序号 {seq} 有留痕,但数据已不存在(被绕过系统删除)"))
    return checked


def entries_for(objs: Iterable[models.Model]) -> models.QuerySet[LedgerEntry]:
    q = models.Q()
    for o in objs:
        q |= models.Q(obj_type=label_of(o), obj_id=str(o.pk))
    return LedgerEntry.objects.filter(q).order_by("seq")


def checkpoint() -> LedgerCheckpoint:
    """Verify everything and store the outcome with the head seen (idempotent to repeat)."""
    result = verify()
    text = "\n".join(f"[{p.seq}] {p.message}" for p in result.problems[:200])
    return LedgerCheckpoint.objects.create(
        ok=result.ok, entries=result.entries, head_seq=result.head_seq, head_hash=result.head_hash,
        first_bad_seq=result.first_bad_seq, problems=text,
    )


def catch_up_added_fields(apps, app_label: str, model_names: tuple[str, ...], migration: str) -> int:
    """For a data migration that added columns: record, for rows that already exist, an entry
    saying only new (empty) fields appeared, so ``verify`` does not take every old row for one
    edited outside the system. An entry is written only where every previously ledgered field
    still matches and the sole difference is fields the last entry did not know; genuine drift
    is left for ``verify`` to report. On a fresh database there are no rows: nothing runs."""
    from django.apps import apps as current_apps

    LedgerEntry_ = apps.get_model("qms", "LedgerEntry")
    written = 0
    for name in model_names:
        model = apps.get_model(app_label, name)
        if not model.objects.exists():
            continue
        label = model._meta.label_lower
        # a migration's historical model has no ``ledger_exclude``: take it from the model in
        # the code, so derived fields (a tree path, a pack's progress) are left out as always
        try:
            exclude = getattr(current_apps.get_model(app_label, name), "ledger_exclude", ())
        except LookupError:  # the model has since left the code
            exclude = ()
        last = dict(LedgerEntry_.objects.filter(obj_type=label).order_by("seq").values_list("obj_id", "after"))
        for obj in model.objects.order_by("pk"):
            obj.ledger_exclude = exclude
            after = last.get(str(obj.pk))
            if not after:
                continue
            current = snapshot(obj)
            added = sorted(set(current) - set(after))
            if not added or any(current.get(k) != v for k, v in after.items()):
                continue
            record("schema.add_fields", obj, actor=None, before=after, after=current,
                   reason=f"数据库结构升级({app_label} {migration}):新增字段 {', '.join(added)},原有数据未变")
            written += 1
    return written
