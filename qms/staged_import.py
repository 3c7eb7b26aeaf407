"""暂存导入 — one file imported in two steps: kept on the server and previewed, then confirmed.

The roster (``qms.roster``), the unit tree (``qms.unit_import``), positions and terms
(``qms.position_import``) and past years' meetings (``workflows.history_import``) are imported
alike. The upload is kept on the server by a token (``qms.roster_pending``); the preview reads
the kept file and classifies its rows against the records as they are (to create / unchanged /
differing / errors), saving nothing; confirm reads the kept file again and records every row in
one transaction, all or nothing, only if that still gives the preview the user saw (its
``fingerprint``). What differs between the imports is an ``Importer``: how its file is read,
how its rows are classified, how they are recorded.
"""
from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import IO, Any, Generic, NamedTuple, Protocol, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from qms import limits, roster_files, roster_pending, uploads
from qms.permissions import act, managed_unit

GONE = "这次上传的文件已过期或不存在(上传后 {hours} 小时内须确认),请重新上传。"
#: a confirm that met another change of the same records while it wrote: nothing was saved
CLASH = "导入时数据已被他人修改,未保存任何数据,请重新导入"


def stale_notice(what: str, example: str) -> str:
    """Why a confirm saved nothing although its file has no error: ``what`` changed since the preview."""
    return (f"预览之后{what}已有变化({example}),刚才看到的预览已不准确,未保存任何数据。"
            "请查看下面更新后的预览,无误后再确认导入。")


@dataclass(frozen=True)
class RowError:
    """One problem: the row number as the file shows it, the file's column header, the reason;
    the sheet's name when the file has several sheets of data."""

    row: int
    column: str
    reason: str
    sheet: str = ""


class PendingGone(roster_files.RosterFileError):
    """The token names no file of this user's that is still kept."""


def gone() -> PendingGone:
    return PendingGone(GONE.format(hours=f"{roster_pending.lifetime().total_seconds() / 3600:g}"))


def max_rows() -> int:
    """Rows one import may hold (``rules/limits.toml`` [roster], overridable per deployment)."""
    return int(limits.table().roster.get("max_rows", 5000))


@dataclass
class StagedResult:
    """What a file holds against the records (the preview), and after a confirm what it did.
    ``rows`` are what confirm records, in order; an import's own result adds its own fields."""

    created: int = 0
    errors: list[RowError] = field(default_factory=list)
    to_create: list[Any] = field(default_factory=list)
    same: list[Any] = field(default_factory=list)
    differs: list[Any] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)
    notice: str = ""  # why a confirm saved nothing although the file has no error (not in the fingerprint)

    @classmethod
    def unreadable(cls, exc: roster_files.RosterFileError):
        """The result of a file that could not be read at all."""
        return cls(errors=[RowError(0, "文件", str(exc))])

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def can_confirm(self) -> bool:
        return self.ok and bool(self.rows)

    @property
    def by_sheet(self) -> bool:
        """The file has several sheets of data: rows name the sheet as well as the row."""
        return any(r.sheet for r in (*self.errors, *self.to_create, *self.same, *self.differs))

    @property
    def fingerprint(self) -> str:
        """What the preview showed, as a digest: confirm records only if the file, checked again
        against the records as they now are, still gives the same preview."""
        def plain(v: Any) -> Any:
            return v.pk if isinstance(v, models.Model) else str(v) if v is not None else None

        payload = [[asdict(e) for e in self.errors], [asdict(r) for r in self.to_create],
                   [{k: plain(v) for k, v in sorted(r.items())} for r in self.rows],
                   [asdict(r) for r in self.same], [asdict(r) for r in self.differs]]
        return hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


R = TypeVar("R", bound=StagedResult)


class Importer(Protocol[R]):
    """One kind of staged import."""

    #: the result it gives (a ``StagedResult``)
    result: type[R]
    #: the notice of a confirm whose file, read again, no longer gives the preview shown
    stale: str
    #: the notice of a confirm whose file has nothing to record
    nothing: str

    def read(self, fileobj: IO[bytes], *, actor) -> list[roster_files.SourceRow]:
        """The file's data rows; raises ``RosterFileError`` for a file that cannot be read."""

    def classify(self, rows: list[roster_files.SourceRow], *, actor) -> R:
        """Every row against the records as they are: to create, unchanged, differing, in error."""

    def record(self, rows: list[dict[str, Any]], *, actor) -> None:
        """Record the rows to create, each with its ledger entries; raises ``ValidationError``
        (or ``IntegrityError``) when the records changed meanwhile. Runs inside a transaction."""


@dataclass(frozen=True)
class SheetImport(Generic[R]):
    """An ``Importer`` whose file is a sheet read with its own rules (``spec``: header words and
    value words, ``roster_files.load_rules``), classified by ``check`` and recorded by ``save``
    (both given the rows and the actor)."""

    result: type[R]
    spec: Callable[[], roster_files.Rules]
    check: Callable[[list[roster_files.SourceRow], Any], R]
    save: Callable[[list[dict[str, Any]], Any], None]
    stale: str
    nothing: str

    def read(self, fileobj: IO[bytes], *, actor) -> list[roster_files.SourceRow]:
        return read_sheet(fileobj, spec=self.spec())

    def classify(self, rows: list[roster_files.SourceRow], *, actor) -> R:
        return self.check(rows, actor)

    def record(self, rows: list[dict[str, Any]], *, actor) -> None:
        self.save(rows, actor)


def read_sheet(fileobj: IO[bytes], *, spec: roster_files.Rules | None = None,
               mapping: dict[str, str] | None = None, rows: int | None = None) -> list[roster_files.SourceRow]:
    """An upload read as ``qms.roster_files`` reads a roster, with an import's own rules (``spec``)."""
    return roster_files.read_upload(fileobj, max_bytes=settings.QMS_MAX_UPLOAD_BYTES,
                                    max_rows=max_rows() if rows is None else rows, spec=spec, mapping=mapping)


def validate(imp: Importer[R], fileobj: IO[bytes], *, actor) -> R:
    """Read and classify a file; nothing is saved."""
    try:
        rows = imp.read(fileobj, actor=actor)
    except roster_files.RosterFileError as exc:
        return imp.result.unreadable(exc)
    return imp.classify(rows, actor=actor)


def keep(fileobj: IO[bytes], *, actor, filename: str = "") -> roster_pending.Pending:
    """Keep an upload on the server for its preview and confirm; no record and no ledger entry
    is touched. Raises ``RosterFileError`` for a file too big or empty."""
    try:  # the one upload check (qms/uploads.py): size, a table by its content, no page or script in it
        checked = uploads.check(fileobj, kinds="imports", by_name=False)
    except uploads.UploadRefused as exc:
        raise roster_files.RosterFileError(";".join(exc.messages)) from exc
    return roster_pending.stage(checked.data, user=actor, filename=uploads.safe_name(filename or getattr(fileobj, "name", "")))


def preview(imp: Importer[R], token: str, *, actor) -> tuple[roster_pending.Pending, R]:
    """The kept file checked again against the records as they are now: what confirm would do.
    Raises ``PendingGone`` when the token names no fresh file of ``actor``'s."""
    found = roster_pending.load(token, user=actor)
    if found is None:
        raise gone()
    pending, data = found
    return pending, validate(imp, io.BytesIO(data), actor=actor)


def commit(imp: Importer[R], result: R, *, actor) -> R:
    """Record every row of ``result`` in one transaction; on a clash with another change, nothing."""
    try:
        with transaction.atomic():
            imp.record(result.rows, actor=actor)
    except ValidationError as exc:
        result.errors.append(RowError(0, "文件", f"{CLASH}:" + ";".join(exc.messages)))
    except IntegrityError:  # a slot or a code taken meanwhile (the scheduler, another import)
        result.errors.append(RowError(0, "文件", CLASH))
    else:
        result.created = len(result.rows)
    return result


def data_rows(items: list[dict[str, Any]], labels: dict[str, str]) -> list[roster_files.SourceRow]:
    """Rows another system sends as data (the REST API's JSON), numbered from 1 as they are sent:
    each row's labels are those of the fields it gives (a field it leaves out is not compared)."""
    return [roster_files.SourceRow("", i, dict(item), {f: labels[f] for f in item if f in labels})
            for i, item in enumerate(items, start=1)]


def apply(imp: Importer[R], result: R, *, actor, dry: bool) -> R:
    """Rows sent as data, already classified: recorded in one transaction only if no row is in
    error and none differs from the records (a correction is an amendment with a reason, never an
    import), and not on a dry run. Nothing to record is not an error: sending the same rows again
    changes nothing."""
    if dry or not result.ok or result.differs or not result.rows:
        return result
    return commit(imp, result, actor=actor)


def confirm(imp: Importer[R], token: str, *, actor, seen: str) -> R:
    """Record the kept file, all or nothing, if it still gives the preview the user saw (``seen``,
    its fingerprint); otherwise nothing is saved and the result says why. The kept file is
    deleted once recorded."""
    _pending, result = preview(imp, token, actor=actor)
    if result.fingerprint != seen:
        result.notice = imp.stale
        return result
    if not result.can_confirm:
        if result.ok:
            result.notice = imp.nothing
        return result
    result = commit(imp, result, actor=actor)
    if result.ok:
        roster_pending.discard(token)
    return result


def attempt(rows: Iterable[dict[str, Any]], record: Callable[[dict[str, Any]], Any], *, dry: bool) -> list[str]:
    """Each row through ``record`` (the services), in order, each in a savepoint: what each
    refused ("" for none). Rolled back if ``dry`` or anything was refused: a dry run shows every
    refusal the services would give, and leaves nothing."""
    refusals: list[str] = []

    class _Rollback(Exception):
        pass

    try:
        with transaction.atomic():
            for v in rows:
                try:
                    with transaction.atomic():
                        record(v)
                except ValidationError as exc:
                    refusals.append(";".join(exc.messages))
                else:
                    refusals.append("")
            if dry or any(refusals):
                raise _Rollback
    except _Rollback:
        pass
    return refusals


class Steps(NamedTuple, Generic[R]):
    """An import's three acts: keep the upload, preview it, confirm it."""

    stage: Callable[..., roster_pending.Pending]
    preview: Callable[..., tuple[roster_pending.Pending, R]]
    confirm: Callable[..., R]


def steps(imp: Importer[R], key: str, *, module: str, names: tuple[str, str, str], what: str) -> Steps[R]:
    """The three steps of ``imp`` as service functions of ``module`` named ``names``, each
    declared as the act ``key`` (qms/rules/permissions.toml) for the organisation the actor
    manages. ``what`` names the file in their docstrings ("unit list")."""

    def stage_(fileobj: IO[bytes], *, actor, filename: str = "") -> roster_pending.Pending:
        return keep(fileobj, actor=actor, filename=filename)

    def preview_(token: str, *, actor) -> tuple[roster_pending.Pending, R]:
        return preview(imp, token, actor=actor)

    def confirm_(token: str, *, actor, seen: str) -> R:
        return confirm(imp, token, actor=actor, seen=seen)

    docs = (f"Keep an uploaded {what} on the server for its preview and confirm; nothing is saved.",
            f"The kept {what} checked again against the records as they are now: what confirm would do.",
            f"Record the kept {what}, all or nothing, if it still gives the preview the user saw; "
            "otherwise nothing is saved and the result says why.")
    made = []
    for fn, name, doc in zip((stage_, preview_, confirm_), names, docs, strict=True):
        fn.__name__ = fn.__qualname__ = name
        fn.__module__, fn.__doc__ = module, doc
        made.append(act(key, unit=managed_unit)(fn))
    return Steps(*made)
