"""People by their names, never by their logins — for code (``person(user)``) and for
templates (``{% load people %}``, ``qms/templatetags/people.py``)."""
from __future__ import annotations


def person(user) -> str:
    """The person behind a login: the linked 党员's name, else the account's full name; the
    login itself only as a last resort (an account with no name at all)."""
    if user is None or not getattr(user, "pk", None):
        return "系统"
    cached = getattr(user, "_qms_person", None)
    if cached is None:
        from qms.models import Member

        name = Member.objects.filter(user_id=user.pk).values_list("name", flat=True).first()
        cached = name or (user.get_full_name() or "").strip() or user.get_username()
        user._qms_person = cached
    return cached


def actor(entry) -> str:
    """Who made a ledger entry, by name (the entry keeps the login as it was at the time)."""
    if not entry.actor_id:
        return "系统"
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=entry.actor_id).first()
    return person(user) if user is not None else entry.actor_name
