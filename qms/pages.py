"""Small helpers the thin views of every package share: the organisation the unit switcher
has chosen, the year asked for, and a service's refusal shown in Chinese."""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError

from qms.models import Unit
from qms.params import year_param


def scope_root(request) -> Unit:
    """The 党组织 chosen in the unit switcher (``request.scope``); 403 when the user sees none."""
    scope = request.scope or None
    if not scope:
        raise PermissionDenied("没有可查看的党组织")
    return Unit.objects.get(pk=scope.unit_id)


def asked_year(request) -> int:
    """``year`` from the form or the address (this year when absent; 400 in Chinese when malformed)."""
    return year_param(request, "year", data=(request.POST, request.GET))


def show_refusal(request, exc: ValidationError) -> None:
    """A service's ``ValidationError`` as one message line, its reasons joined by ";"."""
    messages.error(request, ";".join(exc.messages))
