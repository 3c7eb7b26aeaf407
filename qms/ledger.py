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
- a trigger (migration ``0002``) refuses UPDATE, DELETE and TRUNCATE on PostgreSQL.
"""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, models
from django.utils import timezone

from qms.models import LedgerCheckpoint, LedgerEntry

GENESIS_HASH = "0" * 64
#: Key of the transaction-level advisory lock that serialises appends (any fixed bigint).
LEDGER_LOCK_KEY = 0x716D735F6C6564  # "qms_led"

_REGISTRY: dict[str, type[models.Model]] = {}


class LedgerError(RuntimeError):
    """Raised when the ledger is used wrongly (e.g. outside a transaction)."""


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
    return _append(action, [(obj_type, str(obj_id), before, after)], actor=actor, reason=reason)[0]


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

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        seqs = [p.seq for p in self.problems if p.seq is not None]
        return min(seqs) if seqs else None


_ENTRY_FIELDS = ("seq", "ts", "actor_id", "actor_name", "action", "obj_type", "obj_id", "before", "after", "reason", "prev_hash", "hash")


#: PostgreSQL formats the timestamp exactly as ``format_ts`` does, in C.
_PG_ROWS = (
    "SELECT seq, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), actor_id, actor_name,"
    " action, obj_type, obj_id, before, after, reason, prev_hash, hash"
    " FROM qms_ledgerentry WHERE seq > %s ORDER BY seq LIMIT %s"
)


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _pg_rows(rows: list[tuple]) -> list[tuple]:
    return [(*r[:7], _loads(r[7]), _loads(r[8]), *r[9:]) for r in rows]


def _iter_entries(from_seq: int, chunk: int = 5000) -> Iterator[tuple]:
    """Entries in ``seq`` order, ``ts`` already in canonical text form, in keyset pages."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        yield from _iter_prefetched(from_seq, chunk)
        return
    last = from_seq - 1
    raw = connection.vendor == "postgresql"
    while True:
        if raw:  # no per-row ORM conversion; Django's psycopg loader hands jsonb over as text
            with connection.cursor() as c:
                c.execute(_PG_ROWS, [last, chunk])
                rows = _pg_rows(c.fetchall())
        else:
            rows = [
                (r[0], format_ts(r[1]), *r[2:])
                for r in LedgerEntry.objects.filter(seq__gt=last).order_by("seq").values_list(*_ENTRY_FIELDS)[:chunk]
            ]
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def _iter_prefetched(from_seq: int, chunk: int) -> Iterator[tuple]:
    """PostgreSQL outside a transaction (the command, the nightly task): a second thread, on
    its own connection, fetches the next page while this one decodes and hashes the current
    one — the database's work and ours overlap on two cores. Inside a transaction (where a
    second connection would not see uncommitted rows) the plain loop above is used."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def fetch(after: int) -> list[tuple]:
        with connections["default"].cursor() as c:
            c.execute(_PG_ROWS, [after, chunk])
            return c.fetchall()

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger-verify")
    try:
        pending = pool.submit(fetch, from_seq - 1)
        while True:
            rows = pending.result()
            if not rows:
                return
            pending = pool.submit(fetch, rows[-1][0])
            yield from _pg_rows(rows)
    finally:
        pool.submit(lambda: connections["default"].close()).result()  # the worker's own connection
        pool.shutdown()


def verify(*, from_seq: int = 1, check_objects: bool = True) -> VerifyResult:
    """Recompute the chain from ``from_seq`` and (from the start only) compare every
    ledgered row with the ``after`` of its last entry."""
    problems: list[Problem] = []
    if from_seq > 1:
        prev = LedgerEntry.objects.filter(seq=from_seq - 1).values_list("hash", "ts").first()
        if prev is None:
            return VerifyResult(0, 0, 0, GENESIS_HASH, [Problem(from_seq - 1, "missing", f"起始序号 {from_seq - 1} 的记录不存在")])
        prev_hash, prev_ts = prev[0], format_ts(prev[1])
        check_objects = False
    else:
        prev_hash, prev_ts = GENESIS_HASH, None
    expected = from_seq
    last_state: dict[tuple[str, str], tuple[int, Any]] = {}
    count = 0
    for seq, ts, actor_id, actor_name, action, obj_type, obj_id, before, after, reason, stored_prev, stored_hash in _iter_entries(from_seq):
        count += 1
        if seq != expected:
            problems.append(Problem(min(seq, expected), "gap", f"序号不连续:应为 {expected},实为 {seq}(记录被删除或插入)"))
        if stored_prev != prev_hash:
            problems.append(Problem(seq, "link", f"序号 {seq} 的前一哈希与上一条记录不符(记录被删除、插入或重排)"))
        payload = canonical(
            seq=seq, ts=ts, actor_id=actor_id, actor_name=actor_name, action=action,
            obj_type=obj_type, obj_id=obj_id, before=before, after=after, reason=reason,
        )
        if chain_hash(stored_prev, payload) != stored_hash:
            problems.append(Problem(seq, "hash", f"序号 {seq} 的内容与其哈希不符(记录被改动)"))
        if prev_ts is not None and ts < prev_ts:
            problems.append(Problem(seq, "time", f"序号 {seq} 的时间早于上一条记录"))
        prev_hash, prev_ts, expected = stored_hash, ts, seq + 1
        if check_objects:
            last_state[(obj_type, obj_id)] = (seq, after)
        if len(problems) > 1000:
            break
    objects = 0
    if check_objects and len(problems) <= 1000:
        objects = _check_objects(last_state, problems)
    head_seq = expected - 1
    problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    return VerifyResult(count, objects, head_seq, prev_hash, problems)


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
    LedgerEntry_ = apps.get_model("qms", "LedgerEntry")
    written = 0
    for name in model_names:
        model = apps.get_model(app_label, name)
        if not model.objects.exists():
            continue
        label = model._meta.label_lower
        last = dict(LedgerEntry_.objects.filter(obj_type=label).order_by("seq").values_list("obj_id", "after"))
        for obj in model.objects.order_by("pk"):
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
