"""工号 — the number the enterprise directory keeps for a person (``Member.employee_number``), by which a
directory sign-in is matched to the 党员 (qms/directory.py). Set one at a time (``employee_number_set``)
or from a table of 身份证号 and 工号 (``manage.py employee_numbers FILE.csv``)."""
from __future__ import annotations

import csv
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from qms import ledger
from qms.models import Member
from qms.permissions import act
from qms.services import member_unit


@act("member.update", unit=member_unit)
@transaction.atomic
def employee_number_set(member: Member, *, actor, number: str, reason: str) -> Member:
    """登记工号 — an amendment of the member with a reason, like any other (the old value stays in the ledger).
    One 工号 belongs to one member; empty clears it."""
    number = (number or "").strip()
    if not (reason or "").strip():
        raise ValidationError({"reason": "登记工号必须填写原因"})
    if len(number) > 64:
        raise ValidationError({"employee_number": "工号不能超过64个字符"})
    member = Member.objects.select_for_update().get(pk=member.pk)
    if number and Member.objects.filter(employee_number=number).exclude(pk=member.pk).exists():
        raise ValidationError({"employee_number": f"工号 {number} 已登记给另一名党员"})
    if member.employee_number == number:
        return member
    before = ledger.snapshot(member)
    member.employee_number = number
    member.save(update_fields=["employee_number"])
    ledger.record("member.update", member, actor=actor, before=before, reason=reason)
    return member


def import_file(path: Path) -> tuple[int, list[str]]:
    """A CSV (UTF-8, with or without BOM) of 身份证号,工号 rows (a header row is skipped): all or nothing.
    Returns (how many changed, problems); with problems nothing is saved. Run by the system (the command on the
    server); each row is the act ``member.update`` of ``employee_number_set``."""
    problems: list[str] = []
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        for n, row in enumerate(csv.reader(f), 1):
            if not row or (n == 1 and not any(ch.isdigit() for ch in row[0])):
                continue
            if len(row) < 2:
                problems.append(f"第{n}行:应有身份证号和工号两列")
                continue
            rows.append((n, row[0].strip().upper(), row[1].strip()))
    changed = 0
    with transaction.atomic():
        for n, id_number, number in rows:
            member = Member.objects.filter(id_number=id_number).first()
            if member is None:
                problems.append(f"第{n}行:没有这个身份证号的党员")
                continue
            try:
                before = member.employee_number
                employee_number_set(member, actor=None, number=number, reason="按企业目录导入工号")
                changed += before != number
            except ValidationError as exc:
                problems.append(f"第{n}行:" + ";".join(exc.messages))
        if problems:
            transaction.set_rollback(True)
            return 0, problems
    return changed, []
