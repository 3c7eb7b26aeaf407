"""``{% load cite %}`` — ``{{ rule.source|cite }}``: citations by document title (qms/citations.py)."""
from django import template

from qms.citations import cite as _cite

register = template.Library()


@register.filter
def cite(text):
    return _cite(text)
