"""``{% load privacy %}`` — personal data as the viewer may see it (qms/privacy.py)."""
from __future__ import annotations

from django import template

from qms import privacy

register = template.Library()


@register.simple_tag(takes_context=True)
def personal(context, member, field: str):
    """``{% personal member "id_number" %}`` — full for those who manage the member, masked otherwise."""
    request = context.get("request")
    return privacy.shown(getattr(request, "user", None), member, field)


@register.filter
def mask_personal(changes, full: bool):
    """A history entry's (field, old, new) changes with the personal fields masked unless ``full``."""
    if full:
        return changes
    return [(k, privacy.masked(k, old) if k in privacy.PERSONAL_FIELDS else old,
             privacy.masked(k, new) if k in privacy.PERSONAL_FIELDS else new) for k, old, new in changes]
