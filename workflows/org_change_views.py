"""组织设置请示 pages: an organisation's requests (成立、合并、拆分、撤销 beneath it), the form of a
new request, and one request with its 上级批复 and 实施. Thin over ``workflows.org_change``; its
refusals are shown as messages or beside the form, nothing saved."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone

from qms import permissions
from qms.models import BRANCH_KINDS, AdminUnit, DecisionOutcome, HigherDecision, Unit, UnitKind
from qms.params import as_date as _date
from qms.params import as_int as _int
from qms.params import choice_param, printable_post, text_param
from qms.scoping import get_visible_or_404
from workflows import org_change
from workflows import org_change_flows as flows
from workflows.models import OrgChange, OrgChangeKind, OrgChangeState

#: how many proposed units a request form offers
ROWS = 3




def _rows(post) -> list[dict]:
    """The proposed units filled in on the form (an empty row is skipped)."""
    out = []
    for i in range(ROWS):
        code, name = post.get(f"code_{i}", "").strip(), post.get(f"name_{i}", "").strip()
        if not code and not name:
            continue
        out.append({"code": code, "name": name, "kind": post.get(f"kind_{i}", ""),
                    "term_years": _int(post.get(f"term_{i}")), "task": post.get(f"task_{i}", "").strip(),
                    "ends_on": _date(post.get(f"ends_{i}")),
                    "admin_units": [a for a in (_int(v) for v in post.getlist(f"admin_{i}")) if a is not None]})
    return out


def _kinds_for(unit: Unit) -> list[tuple[str, str]]:
    """The kinds of unit that may be set up beneath ``unit``."""
    from qms.rules import shape

    parents = shape().parents
    return [(k, label) for k, label in UnitKind.choices if unit.kind in parents[k][0]]


@login_required
def org_change_list(request, code: str):
    """组织设置请示 of one organisation: those made beneath it, and the way to make one."""
    unit = get_visible_or_404(request.user, Unit, code=code)
    changes = (OrgChange.objects.filter(parent=unit).select_related("decision")
               .prefetch_related("sources", "created_units"))
    return render(request, "workflows/org_change_list.html", {
        "unit": unit, "changes": changes, "kinds": OrgChangeKind.choices,
        "can_run": unit.kind != UnitKind.GROUP and permissions.allowed(request.user, "org_change.run", unit),
    })


@login_required
def org_change_new(request, code: str):
    unit = get_visible_or_404(request.user, Unit, code=code)
    permissions.require(request.user, "org_change.run", unit)
    kind = choice_param(request, "kind", OrgChangeKind.values, default=OrgChangeKind.SETUP, label="请示事项")
    children = Unit.objects.filter(parent=unit, is_active=True).exclude(kind=UnitKind.GROUP).order_by("path")
    branches = children.filter(kind__in=BRANCH_KINDS)
    source_code = (text_param(request, "source", label="要拆分的党支部", max_length=32)
                   or text_param(request, "source_code", label="要拆分的党支部", max_length=32, data=request.POST))
    source = branches.filter(code=source_code).first() if source_code else None
    errors: list[str] = []
    if request.method == "POST":
        printable_post(request)
        post = request.POST
        picked = list(children.filter(pk__in=[_int(v) for v in post.getlist("sources")]))
        if kind == OrgChangeKind.SPLIT:
            picked = [source] if source else []
        receiver_pk = _int(post.get("receiver"))
        receiver = Unit.objects.filter(pk=receiver_pk, is_active=True).first() if receiver_pk else None
        codes = {str(i): post.get(f"code_{i}", "").strip() for i in range(ROWS)}  # 第几个新党支部 → its code
        allocation = {m.pk: codes.get(post.get(f"to_{m.pk}", ""), "") for m in org_change.on_roll(source)} if source else {}
        try:
            change = org_change.request(actor=request.user, parent=unit, kind=kind, reason=post.get("reason", ""),
                                        sources=picked, new_units=_rows(post), receiver=receiver, allocation=allocation)
        except ValidationError as exc:
            errors = exc.messages
        else:
            messages.success(request, f"已提出请示:{change.get_kind_display()},请上级党组织批复")
            return redirect("org_change_page", pk=change.pk)
    receivers = Unit.objects.filter(path__startswith=unit.path, kind__in=BRANCH_KINDS, is_active=True).order_by("path")
    return render(request, "workflows/org_change_new.html", {
        "unit": unit, "kind": kind, "kinds": OrgChangeKind.choices, "kind_label": OrgChangeKind(kind).label,
        "errors": errors, "post": request.POST, "rows": range(ROWS), "unit_kinds": _kinds_for(unit),
        "branch_kinds": [(k, UnitKind(k).label) for k in BRANCH_KINDS], "children": children, "branches": branches,
        "source": source, "members": list(org_change.on_roll(source)) if source else [],
        "receivers": receivers, "admin_units": AdminUnit.objects.order_by("code"),
    })


@login_required
def org_change_page(request, pk: int):
    change = get_visible_or_404(request.user, OrgChange, pk=pk)
    unit = change.parent
    can_run = permissions.allowed(request.user, "org_change.run", unit)
    if request.method == "POST":
        permissions.require(request.user, "org_change.run", unit)
        printable_post(request)
        step = request.POST.get("step", "")
        try:
            if step == "answer":
                pk_d = _int(request.POST.get("decision"))
                decision = HigherDecision.objects.filter(pk=pk_d, unit=unit).first() if pk_d else None
                done = org_change.answer(change, actor=request.user, decision=decision)
            elif step == "carry_out":
                done = org_change.carry_out(change, actor=request.user, effective_on=_date(request.POST.get("effective_on")))
            else:
                raise ValidationError("未知的步骤")
        except ValidationError as exc:
            for m in exc.messages:
                messages.error(request, m)
        else:
            messages.success(request, f"已办理:{done.get_state_display()}")
        return redirect("org_change_page", pk=change.pk)
    matter = org_change.DECISION_KIND[change.kind]
    rows = change.new_units
    member_names = {}
    if change.allocation:
        from qms.models import Member

        member_names = dict(Member.objects.filter(pk__in=[int(k) for k in change.allocation]).values_list("pk", "name"))
    names = {r["code"]: r["name"] for r in rows}
    allocation = sorted(((member_names.get(int(k), ""), names.get(v, v)) for k, v in change.allocation.items()))
    admin_names = dict(AdminUnit.objects.values_list("pk", "name"))
    return render(request, "workflows/org_change.html", {
        "c": change, "unit": unit, "can_run": can_run, "matter": matter, "today": timezone.localdate(),
        "rows": [{**r, "kind_label": UnitKind(r["kind"]).label, "admin": [admin_names.get(a, "") for a in r.get("admin_units") or ()]}
                 for r in rows],
        "allocation": allocation, "waiting": flows.open_task_titles(change), "states": OrgChangeState,
        "decisions": HigherDecision.objects.filter(unit=unit, kind=matter, date__gte=change.requested_on)
                                           .order_by("-date"),
        "approved": DecisionOutcome.APPROVED,
    })
