"""``{% load history %}`` — ledger entries as sentences (qms/history.py)."""
from __future__ import annotations

from django import template

from qms import history, privacy

register = template.Library()


@register.filter
def action_label(entry) -> str:
    return history.action_label(entry.action)


@register.filter
def entry_changes(entry, full_personal: bool = False) -> list[tuple[str, str, str]]:
    """What the entry changed, in words; personal fields masked unless ``full_personal``."""
    rows = history.changes(entry)
    if full_personal or entry.obj_type != "qms.member":
        return rows
    labels = {history.field_label(history._model("qms.member"), f): f for f in privacy.PERSONAL_FIELDS}
    return [(label, privacy.masked(labels[label], old) if label in labels and old != "空" else old,
             privacy.masked(labels[label], new) if label in labels and new != "空" else new) for label, old, new in rows]
