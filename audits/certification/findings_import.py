"""外部审核发现导入 — the auditor's Excel list of findings, previewed, then recorded all or nothing.

The certification body leaves a list of its findings (不符合项清单): for each, the audited
organisation (code or name, within the certificate's organisation), the grade (严重/一般/观察项,
the auditor's wording mapped in ``findings_import.toml``), the clause, the requirement and the
objective evidence. The file is read like a roster (``qms.roster_files``), kept on the server
between preview and confirm (``qms.staged_import``), and each row checked as the one-by-one form
checks a finding (``services.finding_checks``): rows to create, rows already recorded for this
audit (same organisation, clause and evidence: unchanged), errors in Chinese by row and column.
Confirm records every row through ``services.finding_raise`` in one transaction, only if the file
still gives the preview shown; one refused row and nothing is saved.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import ValidationError

from audits.capa.models import Grade
from audits.certification import services
from audits.certification.models import CertificationAudit
from qms import roster, roster_files, roster_pending, staged_import
from qms.models import Unit
from qms.permissions import act
from qms.staged_import import RowError

_RULES = Path(__file__).resolve().parent / "findings_import.toml"
LABELS = {"unit": "受审核部门", "grade": "不符合等级", "clause": "条款", "requirement": "要求", "evidence": "不符合事实"}
GRADES = {str(label): value for value, label in Grade.choices if value in services.FINDING_GRADES}


def spec() -> roster_files.Rules:
    return roster_files.load_rules(_RULES)


@dataclass(frozen=True)
class FindingRow:
    sheet: str
    row: int
    unit: str
    grade: str
    clause: str
    evidence: str


@dataclass
class FindingImportResult(staged_import.StagedResult):
    to_create: list[FindingRow] = field(default_factory=list)
    same: list[FindingRow] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)


def _unit(text: str, root: Unit) -> tuple[Unit | None, str]:
    """The organisation by code or name, looked for within the certificate's organisation only."""
    if not text:
        return None, "受审核部门不能为空"
    inside = Unit.objects.filter(path__startswith=root.path, is_active=True)
    found = inside.filter(code=text).first()
    if found is not None:
        return found, ""
    named = list(inside.filter(name=text).order_by("path")[:3])
    if len(named) == 1:
        return named[0], ""
    if named:
        return None, f"名为“{text}”的党组织不止一个,请填写组织编码"
    return None, f"在“{root.name}”范围内找不到党组织“{text}”"


def _check(audit: CertificationAudit, rows: list[roster_files.SourceRow]) -> FindingImportResult:
    result = FindingImportResult()
    values = spec().values.get("grade", {})
    root = audit.certificate.unit
    recorded = {(f.nonconformity.unit_id, f.nonconformity.clause, f.nonconformity.evidence)
                for f in audit.findings.select_related("nonconformity")}
    seen: dict[tuple, roster_files.SourceRow] = {}
    for src in rows:
        raw, errs = src.values, []

        def err(f: str, reason: str, src=src, errs=errs) -> None:
            errs.append(RowError(src.row, src.labels.get(f, LABELS[f]), reason, src.sheet))

        unit_text = roster._text(raw.get("unit"))
        unit, why = _unit(unit_text, root)
        if why:
            err("unit", why)
        grade_text = roster._text(raw.get("grade"))
        grade = GRADES.get(values.get(grade_text, grade_text), "")
        if not grade:
            err("grade", f"等级“{grade_text}”无法识别,应为严重不符合、一般不符合或观察项" if grade_text else "不符合等级不能为空")
        v = {"unit": unit, "grade": grade, "clause": roster._text(raw.get("clause")),
             "requirement": roster._text(raw.get("requirement")), "evidence": roster._text(raw.get("evidence"))}
        if not v["requirement"]:  # an auditor's list often gives only the clause: the clause is the requirement
            v["requirement"] = f"标准条款 {v['clause']}" if v["clause"] else ""
        for f, why in services.finding_checks(audit, unit, grade or Grade.MINOR, v["clause"], v["requirement"], v["evidence"]):
            if not (f == "unit" and unit is None):  # an unknown organisation is already said
                err(f, why)
        if errs:
            result.errors.extend(errs)
            continue
        key = (unit.pk, v["clause"], v["evidence"])
        shown = FindingRow(src.sheet, src.row, unit.name, str(Grade(grade).label), v["clause"], v["evidence"])
        if key in seen:
            result.errors.append(RowError(src.row, src.labels.get("evidence", LABELS["evidence"]),
                                          f"与{roster._where(seen[key])}是同一条审核发现", src.sheet))
            continue
        seen[key] = src
        if key in recorded:
            result.same.append(shown)
            continue
        result.to_create.append(shown)
        result.rows.append(v)
    if result.errors:
        result.rows = []
    return result


def _importer(audit: CertificationAudit) -> staged_import.SheetImport:
    def save(rows: list[dict[str, Any]], actor) -> None:
        refusals = staged_import.attempt(rows, lambda v: services.finding_raise(audit, actor=actor, **v), dry=False)
        if any(refusals):
            raise ValidationError([r for r in refusals if r])

    return staged_import.SheetImport(
        FindingImportResult, spec, lambda rows, actor: _check(audit, rows), save,
        nothing="文件中没有需要登记的审核发现(都已登记过),无需导入。",
        stale=staged_import.stale_notice("本次审核的发现", "例如已有人逐条登记了其中几条"))


@act("certificate.finding", unit=lambda audit, **_: audit.certificate.unit)
def stage_findings(audit: CertificationAudit, fileobj: IO[bytes], *, actor, filename: str = "") -> roster_pending.Pending:
    """Keep the auditor's list on the server for its preview and confirm; nothing is saved."""
    return staged_import.keep(fileobj, actor=actor, filename=filename)


@act("certificate.finding", unit=lambda audit, **_: audit.certificate.unit)
def preview_findings(audit: CertificationAudit, token: str, *, actor) -> tuple[roster_pending.Pending, FindingImportResult]:
    """The kept list checked again against the findings as they are now: what confirm would do."""
    return staged_import.preview(_importer(audit), token, actor=actor)


@act("certificate.finding", unit=lambda audit, **_: audit.certificate.unit)
def confirm_findings(audit: CertificationAudit, token: str, *, actor, seen: str) -> FindingImportResult:
    """Record the kept list, all or nothing, if it still gives the preview the user saw."""
    return staged_import.confirm(_importer(audit), token, actor=actor, seen=seen)
