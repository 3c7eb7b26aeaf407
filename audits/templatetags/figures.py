"""``{% load figures %}`` — figures written the same way on every page."""
from __future__ import annotations

from django import template

from audits.capa.services import close_days_text

register = template.Library()


@register.filter
def close_days(mean) -> str:
    """平均关闭天数: "0.0 天" or "—(无已关闭)" (``audits.capa.services.close_days_text``)."""
    return close_days_text(None if mean in (None, "") else float(mean))
