"""Thin views over the core services (placeholder bodies are replaced in this session)."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from qms.scoping import SESSION_KEY, scopes_for


@login_required
def home(request):
    return render(request, "qms/home.html", {})


@login_required
@require_POST
def scope_switch(request):
    try:
        unit_id = int(request.POST.get("unit", ""))
    except ValueError:
        unit_id = None
    if any(s.unit_id == unit_id for s in scopes_for(request.user)):
        request.session[SESSION_KEY] = unit_id
    return redirect(request.POST.get("next") or "home")
