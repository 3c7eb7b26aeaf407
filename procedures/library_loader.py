"""Loading the shipped standard library (``procedures/library/*.toml``).

**Validation, all or nothing per run.** Every file is parsed and checked first; if any file
has a problem, *nothing* is loaded and every problem is reported with its file, key path
and reason in Chinese. The same holds for a document or form whose content changed without
a new version number (found while loading; the transaction is rolled back).

**Idempotent.** A shipped version is recognised by ``library_version`` (any status) on the
library document; if it is already there with the same content digest, it is left alone
and no ledger entry is written. A second run reports 0 changes.

**A newer library version never overwrites anyone's own version.**

- If the library document's effective version is itself a shipped one, the new shipped
  version becomes effective in its place (the old one is superseded) — that is what
  "following the standard library" means for every unit that has not adopted the document.
- If the library document's effective version was issued locally (the 体系管理员 revised
  the library document through the services), or the document has no effective version
  (withdrawn on purpose), the new shipped version is added as a **draft** (an offer) for
  review and approval; the local decision stands until someone approves the offer.
- Every organisation that adopted the document (``Document.based_on``) gets the new shipped
  content as a **draft** of its own document (label ``<version>-库更新``); its effective
  version is untouched.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from procedures.models import (
    Document,
    DocumentKind,
    DocumentVersion,
    FieldType,
    FormField,
    Obligation,
    Period,
    PerPerson,
    RecordForm,
    VersionStatus,
    add_months,
    frequency_problems,
)
from qms import ledger
from qms.models import PositionTitle, UnitKind

LIBRARY_DIR = Path(__file__).resolve().parent / "library"

DOC_KEYS = {"key", "code", "title", "kind", "version", "review_months", "why", "what", "who", "when", "where", "how", "body"}
DOC_REQUIRED = {"key", "code", "title", "kind", "version"}
OBL_KEYS = {"key", "title", "form", "applies_to", "requires_committee", "min_full_members", "count", "per", "every_months",
            "before", "preferred_period", "event", "grace_days", "responsible", "checker", "checker_level", "description", "source",
            "quorum", "attendees", "per_person", "why", "what", "who", "when", "where", "how"}
OBL_REQUIRED = {"key", "title", "applies_to", "responsible", "checker", "source"}
FORM_KEYS = {"code", "version", "title", "source", "fields"}
FIELD_KEYS = {"key", "label", "type", "required", "help"}
CONTENT_FIELDS = ("why", "what", "who", "when", "where", "how", "body")
OBLIGATION_5W1H = ("why", "what", "who", "when", "where", "how")
#: Who signs what the loader publishes (no person: the shipped library itself).
LIBRARY_SIGNER = "系统(标准文件库)"


@dataclass(frozen=True)
class LibraryProblem:
    file: str
    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file} [{self.key}]:{self.reason}"


@dataclass
class LoadReport:
    problems: list[LibraryProblem] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    offered: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def changes(self) -> int:
        return len(self.created) + len(self.updated) + len(self.offered)


def digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# --------------------------------------------------------------------------- validation


def _check_keys(problems, fname, where, data, allowed, required):
    if not isinstance(data, dict):
        problems.append(LibraryProblem(fname, where, "应为一个表(键值对)"))
        return False
    for k in sorted(set(data) - allowed):
        problems.append(LibraryProblem(fname, f"{where}.{k}", "未知字段"))
    for k in sorted(required - set(data)):
        problems.append(LibraryProblem(fname, f"{where}.{k}", "缺少必填字段"))
    return True


def _check_lengths(problems, fname, where, data, model):
    """Text longer than its column would load on SQLite and fail on PostgreSQL: refuse it here."""
    for k, v in data.items():
        try:
            limit = model._meta.get_field(k).max_length
        except Exception:  # not a model field (e.g. ``fields``, ``version`` of a document)
            continue
        if limit and isinstance(v, str) and len(v) > limit:
            problems.append(LibraryProblem(fname, f"{where}.{k}", f"长度 {len(v)} 超过上限 {limit} 个字符"))


def _check_frequency(problems, fname, where, o):
    for key, reason in frequency_problems(o):
        problems.append(LibraryProblem(fname, f"{where}.{key}" if key else where, reason))


def validate_library(directory: Path = LIBRARY_DIR) -> tuple[list[LibraryProblem], dict, list[dict]]:
    """Parse and check every file; returns (problems, forms by code, documents)."""
    problems: list[LibraryProblem] = []
    forms: dict[str, dict] = {}
    documents: list[dict] = []
    files = sorted(directory.glob("*.toml"))
    if not files:
        problems.append(LibraryProblem(str(directory), "-", "目录中没有 .toml 文件"))
    parsed: dict[str, dict] = {}
    for path in files:
        try:
            parsed[path.name] = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            problems.append(LibraryProblem(path.name, "-", f"TOML 格式错误:{exc}"))
    for fname, data in parsed.items():
        if "forms" not in data:
            continue
        for k in sorted(set(data) - {"forms", "library_version"}):
            problems.append(LibraryProblem(fname, k, "未知字段"))
        for i, f in enumerate(data["forms"]):
            code = f.get("code") if isinstance(f, dict) else None
            where = f"forms[{i}]({code})"
            if not _check_keys(problems, fname, where, f, FORM_KEYS, FORM_KEYS - {"source"}):
                continue
            _check_lengths(problems, fname, where, f, RecordForm)
            if code in forms:
                problems.append(LibraryProblem(fname, where, f"表格编号 {code} 重复"))
            if not f.get("fields"):
                problems.append(LibraryProblem(fname, f"{where}.fields", "表格没有任何栏目"))
            seen: set[str] = set()
            for j, fld in enumerate(f.get("fields") or []):
                fw = f"{where}.fields[{j}]"
                if not _check_keys(problems, fname, fw, fld, FIELD_KEYS, {"key", "label", "type"}):
                    continue
                _check_lengths(problems, fname, fw, {**fld, "help_text": fld.get("help", "")}, FormField)
                if fld.get("type") not in FieldType.values:
                    problems.append(LibraryProblem(fname, f"{fw}.type", f"未知的栏目类型“{fld.get('type')}”"))
                if fld.get("key") in seen:
                    problems.append(LibraryProblem(fname, f"{fw}.key", f"栏目键 {fld.get('key')} 重复"))
                seen.add(fld.get("key"))
            forms[code] = {**f, "_file": fname}
    codes: dict[str, str] = {}
    keys: dict[str, str] = {}
    for fname, data in parsed.items():
        if "forms" in data:
            continue
        for k in sorted(set(data) - {"document", "obligations", "targets"}):
            problems.append(LibraryProblem(fname, k, "未知字段"))
        _check_targets(problems, fname, data.get("targets", []))
        doc = data.get("document")
        if doc is None:
            problems.append(LibraryProblem(fname, "document", "缺少 [document] 表"))
            continue
        if not _check_keys(problems, fname, "document", doc, DOC_KEYS, DOC_REQUIRED):
            continue
        _check_lengths(problems, fname, "document", {**doc, "library_key": doc.get("key", "")}, Document)
        if doc.get("kind") not in DocumentKind.values:
            problems.append(LibraryProblem(fname, "document.kind", f"未知的文件类别“{doc.get('kind')}”"))
        for label, registry, value in (("文件编号", codes, doc.get("code")), ("文件键", keys, doc.get("key"))):
            if value in registry:
                problems.append(LibraryProblem(fname, "document", f"{label} {value} 与 {registry[value]} 重复"))
            registry[value] = fname
        okeys: set[str] = set()
        for i, o in enumerate(data.get("obligations", [])):
            where = f"obligations[{i}]({o.get('key')})" if isinstance(o, dict) else f"obligations[{i}]"
            if not _check_keys(problems, fname, where, o, OBL_KEYS, OBL_REQUIRED):
                continue
            _check_lengths(problems, fname, where, o, Obligation)
            if o.get("key") in okeys:
                problems.append(LibraryProblem(fname, where, f"规定键 {o.get('key')} 重复"))
            okeys.add(o.get("key"))
            if not str(o.get("source", "")).strip():
                problems.append(LibraryProblem(fname, f"{where}.source", "规定必须注明依据(seed 文件或法规条款)"))
            if o.get("form") and o["form"] not in forms:
                problems.append(LibraryProblem(fname, f"{where}.form", f"引用的记录表格 {o['form']} 不存在"))
            kinds = o.get("applies_to")
            if not isinstance(kinds, list) or not kinds or any(k not in UnitKind.values for k in kinds):
                problems.append(LibraryProblem(fname, f"{where}.applies_to", f"适用组织类别无效,应为 {'/'.join(UnitKind.values)} 中的若干项"))
            for role in ("responsible", "checker"):
                if o.get(role) not in PositionTitle.values:
                    problems.append(LibraryProblem(fname, f"{where}.{role}", f"未知的职务“{o.get(role)}”"))
            if o.get("quorum", "") not in ("", "full_members", "committee"):
                problems.append(LibraryProblem(fname, f"{where}.quorum", "应为 full_members 或 committee"))
            if o.get("per_person", "") not in PerPerson.values:
                problems.append(LibraryProblem(fname, f"{where}.per_person", "应为 committee_members 或 secretary"))
            if o.get("attendees", "") not in ("", "roster", "committee"):
                problems.append(LibraryProblem(fname, f"{where}.attendees", "应为 roster 或 committee"))
            if o.get("checker_level", "self") not in ("self", "parent"):
                problems.append(LibraryProblem(fname, f"{where}.checker_level", "应为 self 或 parent"))
            _check_frequency(problems, fname, where, o)
        body = doc.get("body", "")
        if TARGETS_MARK in body:
            body = body.replace(TARGETS_MARK, targets_text(data.get("targets", [])))
        documents.append({**doc, **({"body": body} if body else {}), "obligations": data.get("obligations", []),
                          **({"targets": data["targets"]} if data.get("targets") else {}), "_file": fname})
    return problems, forms, documents


#: Where a document's text lists its targets (方针目标): written from the file's ``[[targets]]``.
TARGETS_MARK = "{targets}"
TARGET_KEYS = {"indicator", "title", "comparator", "target", "source"}


def _check_targets(problems, fname, targets) -> None:
    if not isinstance(targets, list):
        problems.append(LibraryProblem(fname, "targets", "应为若干个 [[targets]] 表"))
        return
    for i, t in enumerate(targets):
        where = f"targets[{i}]"
        if not _check_keys(problems, fname, where, t, TARGET_KEYS, TARGET_KEYS):
            continue
        if t["comparator"] not in ("ge", "le"):
            problems.append(LibraryProblem(fname, f"{where}.comparator", "应为 ge(不低于)或 le(不高于)"))
        if isinstance(t["target"], bool) or not isinstance(t["target"], int | float) or not 0 <= t["target"] <= 100:
            problems.append(LibraryProblem(fname, f"{where}.target", "目标值应为 0–100 之间的百分数"))
        if not str(t["source"]).strip():
            problems.append(LibraryProblem(fname, f"{where}.source", "目标必须注明依据,或注明“本系统默认”"))


def targets_text(targets: list[dict]) -> str:
    """The targets as the manual states them: "三会一课执行率 ≥ 95%;…"."""
    return ";".join(f"{t['title']} {'≥' if t['comparator'] == 'ge' else '≤'} {t['target']:g}%" for t in targets)


def library_targets(directory: Path = LIBRARY_DIR) -> list[dict]:
    """方针目标 as the shipped manual states them (``[[targets]]``): the one list the default
    yearly objectives are seeded from, so the manual and the objectives cannot disagree."""
    out: list[dict] = []
    for path in sorted(directory.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        out.extend(data.get("targets", []))
    return out


# ------------------------------------------------------------------------------ loading


#: Who is expected at a meeting, where the library entry does not say: the body whose quorum counts.
_ATTENDEES_BY_QUORUM = {"full_members": "roster", "committee": "committee"}


def _obligation_fields(o: dict, form_by_code: dict[str, RecordForm]) -> dict[str, Any]:
    count, per = o.get("count"), o.get("per", "")
    if o.get("preferred_period") and not per:  # "in Q4" alone means once a year, due by the end of Q4
        count, per = 1, Period.YEAR
    return {
        "key": o["key"], "title": o["title"], "form": form_by_code.get(o.get("form")) if o.get("form") else None,
        "applies_to": list(o["applies_to"]), "requires_committee": bool(o.get("requires_committee", False)),
        "min_full_members": o.get("min_full_members"), "count": count, "per": per,
        "every_months": o.get("every_months"), "before": o.get("before", ""),
        "preferred_period": o.get("preferred_period", ""), "event": o.get("event", ""),
        "grace_days": o.get("grace_days", 0), "responsible": o["responsible"], "checker": o["checker"],
        "checker_level": o.get("checker_level", "self"), "description": o.get("description", ""), "source": o["source"],
        "quorum": o.get("quorum", ""), "per_person": o.get("per_person", ""), "attendees": o.get("attendees", _ATTENDEES_BY_QUORUM.get(o.get("quorum", ""), "")),
        **{k: o.get(k, "") for k in OBLIGATION_5W1H},
    }


def copy_version_content(src: DocumentVersion, dst: DocumentVersion, actor) -> None:
    """Copy the obligations of one version onto a new (draft) one, with ledger entries."""
    for o in src.obligations.all():
        new = Obligation.objects.create(version=dst, **{
            f.name: getattr(o, f.name) for f in Obligation._meta.concrete_fields if f.name not in ("id", "version")
        })
        ledger.record("obligation.create", new, actor=actor)


def _load_form(f: dict, report: LoadReport) -> RecordForm:
    d = digest({k: v for k, v in f.items() if k != "_file"})
    existing = RecordForm.objects.filter(owner=None, code=f["code"], version=f["version"]).first()
    if existing is not None:
        if existing.library_digest != d:
            report.problems.append(LibraryProblem(f["_file"], f["code"], f"表格 {f['code']} 内容已改变但版本号仍为 {f['version']},请提高版本号"))
        else:
            report.unchanged += 1
        return existing
    form = RecordForm.objects.create(code=f["code"], version=f["version"], title=f["title"], source=f.get("source", ""), library_digest=d)
    ledger.record("record_form.create", form, actor=None, reason="载入标准文件库")
    for i, fld in enumerate(f["fields"]):
        ff = FormField.objects.create(form=form, key=fld["key"], label=fld["label"], type=fld["type"],
                                      required=fld.get("required", True), order=i, help_text=fld.get("help", ""))
        ledger.record("form_field.create", ff, actor=None)
    report.created.append(f"{form.code} {form.version}")
    return form


def _free_label(doc: Document, label: str) -> str:
    return label if not doc.versions.filter(label=label).exists() else f"{label}-库"


def _load_document(d: dict, form_by_code: dict[str, RecordForm], report: LoadReport, today: dt.date) -> None:
    content = {k: v for k, v in d.items() if k != "_file"}
    dig = digest(content)
    doc = Document.objects.filter(owner=None, library_key=d["key"]).first()
    shipped = doc.versions.filter(library_version=d["version"]).first() if doc else None
    if shipped is not None:  # this library version is already here (whatever became of it since)
        if shipped.library_digest != dig:
            report.problems.append(LibraryProblem(d["_file"], "document.version", f"{d['code']} 内容已改变但版本号仍为 {d['version']},请提高版本号"))
        else:
            report.unchanged += 1
        return
    if doc is None:
        doc = Document.objects.create(code=d["code"], title=d["title"], kind=d["kind"], library_key=d["key"],
                                      review_months=d.get("review_months", 12))
        ledger.record("document.create", doc, actor=None, reason="载入标准文件库")
    current = doc.effective_version()
    first = not doc.versions.exists()
    follows_library = first or (current is not None and current.library_version != "")
    if follows_library:
        reason = "标准文件库首次载入" if current is None else f"标准文件库由 {current.library_version} 更新至 {d['version']}"
    elif current is not None:
        reason = f"标准文件库更新至 {d['version']};现行版本 {current.label} 为本系统自行修订,新版作为草稿提供,审核批准后方生效"
    else:
        reason = f"标准文件库更新至 {d['version']};该文件已作废,新版作为草稿提供,审核批准后方生效"
    if follows_library and current is not None:  # first step down the old one: only one may be effective
        before = ledger.snapshot(current)
        current.supersede()
        current.save()
        ledger.record("document_version.supersede", current, actor=None, before=before, reason=f"被标准文件库 {d['version']} 替代")
    signed = {"approver_name": LIBRARY_SIGNER, "approved_at": timezone.now(), "approval_meaning": "标准文件库发布"}
    version = DocumentVersion.objects.create(
        document=doc, label=_free_label(doc, d["version"]),
        status=VersionStatus.EFFECTIVE if follows_library else VersionStatus.DRAFT,
        effective_on=today if follows_library else None,
        next_review_on=add_months(today, doc.review_months) if follows_library else None,
        change_reason=reason, library_version=d["version"], library_digest=dig,
        **(signed if follows_library else {}), **{k: d.get(k, "") for k in CONTENT_FIELDS},
    )
    ledger.record("document_version.create" if follows_library else "document_version.offer", version, actor=None, reason=reason)
    for o in d["obligations"]:
        ob = Obligation.objects.create(version=version, **_obligation_fields(o, form_by_code))
        ledger.record("obligation.create", ob, actor=None)
    if first:
        report.created.append(f"{doc.code} {d['version']}")
    elif follows_library:
        report.updated.append(f"{doc.code} {d['version']}")
    else:
        report.offered.append(f"标准文件库:{doc.code} {version.label}(草稿)")
    if not first:
        _offer_to_adopters(doc, version, report)


def _offer_to_adopters(library_doc: Document, new: DocumentVersion, report: LoadReport) -> None:
    """Each organisation that adopted this document gets the update as a draft of its own."""
    for own in Document.objects.filter(based_on=library_doc).select_related("owner"):
        label = f"{new.library_version}-库更新"
        if own.versions.filter(label=label).exists():
            continue
        draft = DocumentVersion.objects.create(
            document=own, label=label, status=VersionStatus.DRAFT,
            change_reason=f"标准文件库更新至 {new.library_version},请对照本组织制度审核后发布(不会覆盖现行版本)",
            **{k: getattr(new, k) for k in CONTENT_FIELDS},
        )
        ledger.record("document_version.offer", draft, actor=None, reason=draft.change_reason)
        copy_version_content(new, draft, None)
        report.offered.append(f"{own.owner.name}:{own.code} {label}")


def load_library(directory: Path = LIBRARY_DIR, *, today: dt.date | None = None) -> LoadReport:
    """Validate everything, then load it all in one transaction (or nothing on any problem)."""
    problems, forms, documents = validate_library(directory)
    report = LoadReport(problems=list(problems))
    if report.problems:
        return report
    today = today or timezone.localdate()
    with transaction.atomic():
        form_by_code = {code: _load_form(f, report) for code, f in forms.items()}
        for d in documents:
            _load_document(d, form_by_code, report, today)
        if report.problems:  # content changed without a new version number: load nothing
            transaction.set_rollback(True)
            report.created, report.updated, report.offered, report.unchanged = [], [], [], 0
    return report
