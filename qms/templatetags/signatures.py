"""电子签名 on pages and paper: ``{% load signatures %}``, then ``{% signatures obj %}`` (the
signatures on ``obj``, each as “张三 · 2026-07-01 10:32 · 批准”, a voided one marked 已失效)
or ``obj|signature_lines`` for a printed form. ``{% include "qms/_sign_password.html" %}`` is
the password field of every signing form."""
from __future__ import annotations

from django import template

from qms import signatures as core

register = template.Library()


def _lines(obj) -> list[dict]:
    return [{"text": core.text(s), "void": s.voided_at is not None, "reason": s.void_reason}
            for s in core.of(obj)]


@register.inclusion_tag("qms/_signatures.html")
def signatures(obj, title: str = "电子签名"):
    return {"lines": _lines(obj), "title": title}


@register.filter
def signature_lines(obj) -> list[dict]:
    """The signatures on ``obj`` for a printed form (same wording as on screen)."""
    return _lines(obj)
