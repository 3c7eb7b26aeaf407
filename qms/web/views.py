"""Thin views over the core services. Scope is decided only in ``qms.scoping``: lists go
through ``restrict``, details through ``get_visible_or_404``, writes check ``can_manage``."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from qms import ledger, permissions, pii_log, privacy, services, uploads
from qms.figures import member_count, member_counts
from qms.models import (
    BRANCH_KINDS,
    DecisionOutcome,
    HigherDecision,
    LedgerEntry,
    Member,
    MemberCategory,
    Membership,
    Position,
    PositionTitle,
    Unit,
    UnitKind,
)
from qms.params import choice_param, page_param, text_param
from qms.rules import TERM_KEYS, rules_for
from qms.scoping import SESSION_KEY, can_manage, get_visible_or_404, is_admin, restrict, scopes_for
from qms.site import home_panels
from qms.structure import term_end, tree_warnings
from qms.web.forms import (
    AmendForm,
    DecisionForm,
    EnrollForm,
    MemberEventForm,
    PositionForm,
    StatusForm,
    TransferForm,
    UnitForm,
    apply_service,
)


def _scope_root(request) -> Unit | None:
    scope = request.scope
    if not scope:
        return None
    return Unit.objects.filter(pk=scope.unit_id).first()


def _require_manage(user, unit: Unit) -> None:
    if not can_manage(user, unit):
        raise PermissionDenied("您只有查看权限,不能修改该组织的数据")


_TITLE_ORDER = {t: i for i, t in enumerate(PositionTitle.values)}


def _by_title(positions) -> list[Position]:
    """书记 first, then 副书记, 委员 … (the order of ``PositionTitle``)."""
    return sorted(positions, key=lambda p: (_TITLE_ORDER.get(p.title, 99), p.start))


HOME_WARNINGS = 20  # the home page shows the first few; the full list is on 组织设置检查


@login_required
def home(request):
    root = _scope_root(request)
    ctx: dict = {"root": root, "panels": home_panels(request)}
    if root is not None:
        subtree = Unit.objects.filter(path__startswith=root.path)
        by_kind = dict(subtree.values_list("kind").annotate(n=Count("id")))
        members = Membership.objects.filter(unit__path__startswith=root.path, end__isnull=True)
        warnings = tree_warnings(root)
        count = member_count(root)
        ctx.update(
            warnings=warnings[:HOME_WARNINGS], warnings_total=len(warnings),
            n_units=sum(by_kind.values()),
            by_kind=[(UnitKind(k).label, by_kind.get(k, 0)) for k in UnitKind.values if by_kind.get(k)],
            n_members=count.total, n_full=count.full,
            children=root.children.order_by("code"),
            officers=_by_title(Position.objects.filter(unit=root, end__isnull=True).select_related("member")),
            can_manage=can_manage(request.user, root),
            is_admin=is_admin(request.user),
            roster=(
                members.select_related("member", "group").order_by("group__code", "member__name")[:200]
                if root.kind in BRANCH_KINDS else None
            ),
        )
        if ctx["is_admin"]:
            ctx["ledger_head"] = ledger.head()
    return render(request, "qms/home.html", ctx)


@login_required
@require_POST
def scope_switch(request):
    try:
        unit_id = int(request.POST.get("unit", ""))
    except ValueError:
        unit_id = None
    if any(s.unit_id == unit_id for s in scopes_for(request.user)):
        request.session[SESSION_KEY] = unit_id
    else:
        messages.error(request, "不能切换到该范围")
    return redirect("home")


# ------------------------------------------------------------------------------ units


@login_required
def unit_tree(request):
    units = list(restrict(request.user, Unit.objects.all()).order_by("path"))
    counts = member_counts(units)  # rolled up: a 党委 counts its whole subtree (qms/figures.py)
    for u in units:
        u.n_members, u.n_full = counts[u.pk].total, counts[u.pk].full
    base = min((u.depth for u in units), default=0)
    for u in units:
        u.indent = u.depth - base
        u.indent_em = f"{0.6 + 1.4 * u.indent:.1f}"
    return render(request, "qms/unit_tree.html", {"units": units, "can_create": any(sc.can_manage for sc in request.scopes)})


@login_required
def unit_detail(request, code: str):
    unit = get_visible_or_404(request.user, Unit, code=code)
    today = timezone.localdate()
    rules = rules_for(unit)
    term_key = TERM_KEYS.get(unit.kind)
    years = unit.term_years or (rules[term_key].value if term_key else None)
    # a 党小组's people are those assigned to it; a 支部's or 党委's, everyone in its subtree
    spans = (Membership.objects.filter(group=unit) if unit.kind == UnitKind.GROUP
             else Membership.objects.filter(unit__path__startswith=unit.path))
    memberships = (
        spans.filter(end__isnull=True)
        .select_related("member", "unit", "group").order_by("unit__path", "member__name")
    )
    positions = _by_title(Position.objects.filter(unit=unit, end__isnull=True).select_related("member"))
    ctx = {
        "unit": unit,
        "ancestors": [a for a in unit.ancestors() if a.pk != unit.pk and restrict(request.user, Unit.objects.filter(pk=a.pk)).exists()],
        "children": restrict(request.user, unit.children.all()).order_by("code"),
        "memberships": memberships[:500],
        "n_memberships": memberships.count(),
        "count": member_count(unit, on=today),
        "positions": positions,
        "warnings": [w for w in tree_warnings(unit) if w.unit_id == unit.pk],
        "term_years": years,
        "term_end": term_end(unit, years) if years else None,
        "today": today,
        "rules": [(r, "、".join(str(UnitKind(k).label) for k in r.kinds) or "各类组织")
                  for r in sorted(rules.values(), key=lambda r: r.key)],
        "can_manage": can_manage(request.user, unit),
        "history": ledger.history(unit)[:50],
        "admin_units": unit.admin_units.all(),
        "decisions": HigherDecision.objects.filter(unit=unit).select_related("decided_by_unit")[:50],
        "can_record_decision": _may_record_decision(request.user, unit),
    }
    return render(request, "qms/unit_detail.html", ctx)


def _may_record_decision(user, unit: Unit) -> bool:
    """The button follows the matrix: managers of a unit above (or a 体系管理员); for a top
    unit, whose higher committee is outside the system, a 体系管理员."""
    if unit.parent_id is None:
        return permissions.allowed(user, "decision.record_external", unit)
    return permissions.allowed(user, "decision.record", unit.parent)


@login_required
def decision_add(request, code: str):
    """登记上级批复 for a unit — by the managers of the organisation above (the service asks the matrix)."""
    unit = get_visible_or_404(request.user, Unit, code=code)
    kind = text_param(request, "kind", label="批复事项", max_length=40)
    form = DecisionForm(request.POST or None, uploads.files(request) or None, unit=unit,
                        initial={"date": timezone.localdate(), "decided_by_unit": unit.parent, "kind": kind})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        common = dict(actor=request.user, unit=unit, kind=d["kind"], doc_number=d["doc_number"], date=d["date"],
                      outcome=d["outcome"], text=d["text"], upload=d.get("upload"))
        if unit.parent_id is None and d.get("decided_by_unit") is None:
            done = apply_service(form, lambda: services.decision_record_external(
                decided_by_name=d.get("decided_by_name") or "", **common))
        elif d.get("decided_by_unit") is None:
            form.add_error("decided_by_unit", "请选择作出批复的上级组织")
            done = None
        else:
            done = apply_service(form, lambda: services.decision_record(decided_by_unit=d["decided_by_unit"], **common))
        if done is not None:
            messages.success(request, f"已登记上级批复:{done.doc_number}({done.kind_label},{done.get_outcome_display()})")
            return redirect("unit_detail", code=unit.code)
    return render(request, "qms/form.html", {"form": form, "title": f"登记上级批复:{unit.name}"})


@login_required
def decision_file(request, pk: int):
    d = get_visible_or_404(request.user, HigherDecision, pk=pk)
    if not d.file:
        raise Http404("该批复没有上传文件")
    return uploads.serve(d.file, name=d.file_name or "批复文件")


def _parent_choices(user):
    return restrict(user, Unit.objects.exclude(kind=UnitKind.GROUP), manage=True).order_by("path")


@login_required
def unit_create(request):
    parents = _parent_choices(request.user)
    if not parents.exists():
        raise PermissionDenied("您没有可管理的组织")
    initial = {}
    parent = text_param(request, "parent", label="上级组织", max_length=32)
    if parent:
        initial["parent"] = parents.filter(code=parent).first()
    # the term help shows the rules in force where the unit will most likely sit (an override included)
    where = initial.get("parent") or _scope_root(request)
    form = UnitForm(request.POST or None, parents=parents, initial=initial, rules=rules_for(where) if where else None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        if d["parent"] is None and not is_admin(request.user):
            form.add_error("parent", "只有体系管理员可以建立顶层组织")
        else:
            unit = apply_service(form, lambda: services.unit_create(
                actor=request.user, code=d["code"], name=d["name"], kind=d["kind"], parent=d["parent"],
                founded_on=d["founded_on"], term_start=d["term_start"], term_years=d["term_years"],
                founding_ref=d["founding_ref"], task=d["task"], ends_on=d["ends_on"]))
            if unit is not None:
                messages.success(request, f"已建立党组织:{unit.name}")
                return redirect("unit_detail", code=unit.code)
    return render(request, "qms/form.html", {"form": form, "title": "新建党组织"})


@login_required
def unit_edit(request, code: str):
    unit = get_visible_or_404(request.user, Unit, code=code)
    _require_manage(request.user, unit)
    parents = _parent_choices(request.user)
    initial = {f: getattr(unit, f) for f in ("code", "name", "kind", "founded_on", "term_start", "term_years",
                                             "founding_ref", "task", "ends_on")}
    initial["parent"] = unit.parent
    decisions = HigherDecision.objects.filter(unit=unit, kind__in=services.TERM_DECISION_KINDS, outcome=DecisionOutcome.APPROVED)
    form = UnitForm(request.POST or None, parents=parents | Unit.objects.filter(pk=unit.parent_id), editing=True, initial=initial,
                    rules=rules_for(unit), decisions=decisions)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        changes = {k: d[k] for k in ("name", "kind", "founded_on", "term_start", "term_years", "founding_ref", "task", "ends_on")}
        if d["parent"] != unit.parent:
            changes["parent"] = d["parent"]
        done = apply_service(form, lambda: services.unit_update(unit, actor=request.user, reason=d["reason"],
                                                                decision=d.get("decision"), **changes))
        if done is not None:
            messages.success(request, f"已保存 {unit.name} 的修改(原因已留痕)")
            return redirect("unit_detail", code=unit.code)
    return render(request, "qms/form.html", {"form": form, "title": f"修改党组织:{unit.name}"})


@login_required
def position_add(request, code: str):
    unit = get_visible_or_404(request.user, Unit, code=code)
    _require_manage(request.user, unit)
    form = PositionForm(request.POST or None, initial={"start": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        member = restrict(request.user, Member.objects.all()).filter(id_number=d["member_id_number"].strip().upper()).first()
        if member is None:
            form.add_error("member_id_number", "在您的管理范围内找不到该身份证号的党员")
        else:
            untrained = services.secretary_training_warning(member=member, unit=unit, title=d["title"], start=d["start"])
            p = apply_service(form, lambda: services.position_assign(
                actor=request.user, member=member, unit=unit, title=d["title"], start=d["start"]))
            if p is not None:
                messages.success(request, f"{member.name} 任 {unit.name} {p.get_title_display()}")
                if untrained:
                    owed = ";".join(f"{o.obligation.title}(截止 {o.due_date:%Y-%m-%d})" for o in p.triggered)
                    messages.warning(request, f"{untrained}。" + (f"已列入应开展事项:{owed}" if owed else "请尽快补行培训"))
                return redirect("unit_detail", code=unit.code)
    return render(request, "qms/form.html", {"form": form, "title": f"任职:{unit.name}"})


@login_required
@require_POST
def position_end(request, pk: int):
    position = get_visible_or_404(request.user, Position, pk=pk)
    _require_manage(request.user, position.unit)
    reason = request.POST.get("reason", "").strip()
    if not reason:
        messages.error(request, "免职必须填写原因")
    else:
        try:
            services.position_end(position, actor=request.user, end=timezone.localdate(), reason=reason)
            messages.success(request, f"已免去 {position.member.name} 的{position.get_title_display()}职务")
        except services.ValidationError as exc:
            messages.error(request, ";".join(exc.messages))
    return redirect("unit_detail", code=position.unit.code)


# ---------------------------------------------------------------------------- members


def _member_queryset(request):
    qs = restrict(request.user, Member.objects.all()).prefetch_related(
        Prefetch("memberships", queryset=Membership.objects.filter(end__isnull=True).select_related("unit", "group"), to_attr="open_memberships")
    )
    q = text_param(request, "q", label="查询内容")
    if q:
        if any(sc.can_manage for sc in request.scopes):
            qs = qs.filter(Q(name__contains=q) | Q(id_number__startswith=q.upper()))
        else:  # searching by 身份证号 would reveal numbers one digit at a time (qms/privacy.py)
            qs = qs.filter(name__contains=q)
    unit_code = text_param(request, "unit", label="所在党组织", max_length=32)
    if unit_code:
        qs = qs.filter(memberships__end__isnull=True, memberships__unit__code=unit_code)
    category = choice_param(request, "category", MemberCategory.values, default="", label="人员类别")
    if category:
        qs = qs.filter(category=category)
    return qs.order_by("id"), q, unit_code, category


@login_required
def member_list(request):
    qs, q, unit_code, category = _member_queryset(request)
    page = Paginator(qs, 50).get_page(page_param(request))
    units = restrict(request.user, Unit.objects.filter(kind__in=BRANCH_KINDS)).order_by("path")
    return render(request, "qms/member_list.html", {
        "page": page, "q": q, "unit_code": unit_code, "category": category, "units": units,
        "categories": MemberCategory.choices, "querystring": request.GET.urlencode(),
        "can_enroll": restrict(request.user, Unit.objects.filter(kind__in=BRANCH_KINDS), manage=True).exists(),
    })


EXPORT_HEADERS = ["姓名", "性别", "身份证号", "出生日期", "民族", "学历", "手机号", "人员类别", "入党日期", "转正日期", "所在党组织编码", "所在党组织", "党小组"]


@login_required
def member_export(request):
    """花名册导出 (.xlsx) — the same scope and filters as the list."""
    from qms import exports

    qs, *_ = _member_queryset(request)
    wb = exports.workbook()
    ws = wb.active
    ws.title = "党员花名册"
    ws.append(EXPORT_HEADERS)
    managed = [sc.path for sc in request.scopes if sc.can_manage]  # full personal data only there (qms/privacy.py)
    shown_in_full = []  # 身份证号查看记录 (qms/pii_log.py)
    for m in qs.iterator(chunk_size=1000):
        ms = m.open_memberships[0] if m.open_memberships else None
        full = (ms is not None and any(ms.unit.path.startswith(p) for p in managed)) or m.user_id == request.user.pk
        if full:
            shown_in_full.append(m)
        ws.append([
            m.name, m.get_gender_display(), m.id_number if full else privacy.mask_id_number(m.id_number),
            m.birth_date if full else privacy.birth_year(m.birth_date), m.ethnicity, m.education,
            m.phone if full else privacy.mask_phone(m.phone),
            m.get_category_display(), m.joined_on, m.full_on,
            ms.unit.code if ms else "", ms.unit.name if ms else "", ms.group.name if ms and ms.group else "",
        ])
    for col, width in zip("ABCDEFGHIJKLM", (10, 6, 22, 12, 8, 8, 14, 12, 12, 12, 14, 24, 14), strict=True):
        ws.column_dimensions[col].width = width
    data = exports.xlsx_bytes(wb)
    pii_log.record(request.user, shown_in_full, pii_log.Where.ROSTER_EXPORT, path=request.get_full_path())
    resp = HttpResponse(data, content_type=exports.XLSX_MIME)
    resp["Content-Disposition"] = f"attachment; filename=\"roster-{timezone.localdate():%Y%m%d}.xlsx\""
    return resp


@login_required
def member_detail(request, pk: int):
    member = get_visible_or_404(request.user, Member, pk=pk)
    current = member.current_membership()
    full = privacy.may_see_personal(request.user, member)
    if full:  # the full 身份证号 is on the page (and in its 留痕): 身份证号查看记录
        pii_log.record(request.user, [member], pii_log.Where.MEMBER_PAGE, path=request.path)
    return render(request, "qms/member_detail.html", {
        "member": member,
        "current": current,
        "memberships": member.memberships.select_related("unit", "group").order_by("start"),
        "events": member.events.select_related("from_unit", "to_unit").order_by("date", "id"),
        "positions": member.positions.select_related("unit").order_by("-start"),
        "history": ledger.history(member),
        "can_manage": bool(current) and can_manage(request.user, current.unit),
        "personal_full": full,
    })


@login_required
def member_new(request):
    branches = restrict(request.user, Unit.objects.filter(kind__in=BRANCH_KINDS), manage=True).order_by("path")
    if not branches.exists():
        raise PermissionDenied("您没有可管理的党支部")
    groups = restrict(request.user, Unit.objects.filter(kind=UnitKind.GROUP), manage=True).order_by("path")
    form = EnrollForm(request.POST or None, branches=branches, groups=groups, initial={"start": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        d = dict(form.cleaned_data)
        unit, group, start = d.pop("unit"), d.pop("group"), d.pop("start")
        m = apply_service(form, lambda: services.member_enroll(actor=request.user, unit=unit, group=group, start=start, **d))
        if m is not None:
            messages.success(request, f"已建档:{m.name}")
            return redirect("member_detail", pk=m.pk)
    return render(request, "qms/form.html", {"form": form, "title": "党员建档"})


def _managed_member(request, pk: int) -> Member:
    member = get_visible_or_404(request.user, Member, pk=pk)
    current = member.current_membership()
    if current is None or not can_manage(request.user, current.unit):
        raise PermissionDenied("您只有查看权限,不能修改该党员的数据")
    return member


@login_required
def member_amend(request, pk: int):
    member = _managed_member(request, pk)
    fields = [f for f in AmendForm.base_fields if f != "reason"]
    form = AmendForm(request.POST or None, initial={f: getattr(member, f) for f in fields})
    if request.method == "POST" and form.is_valid():
        d = dict(form.cleaned_data)
        reason = d.pop("reason")
        changes = {k: v for k, v in d.items() if (getattr(member, k) or None) != (v or None)}
        if not changes:
            form.add_error(None, "没有任何改动")
        elif apply_service(form, lambda: services.member_update(member, actor=request.user, reason=reason, **changes)) is not None:
            messages.success(request, f"已更正 {member.name} 的{'、'.join(str(AmendForm.base_fields[k].label) for k in changes)},原值保留在留痕中")
            return redirect("member_detail", pk=member.pk)
    # the form shows the full 身份证号 again: 身份证号查看记录
    pii_log.record(request.user, [member], pii_log.Where.MEMBER_AMEND, path=request.path)
    return render(request, "qms/form.html", {"form": form, "title": f"更正党员信息:{member.name}"})


@login_required
def member_transfer(request, pk: int):
    member = _managed_member(request, pk)
    branches = restrict(request.user, Unit.objects.filter(kind__in=BRANCH_KINDS)).order_by("path")
    form = TransferForm(request.POST or None, branches=branches, initial={"date": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        done = apply_service(form, lambda: services.member_transfer(member, actor=request.user, date=d["date"], to_unit=d["to_unit"], note=d["note"]))
        if done is not None:
            messages.success(request, f"{member.name} 的组织关系已转至 {d['to_unit'].name}" if d["to_unit"] else f"{member.name} 的组织关系已转出")
            return redirect("member_detail", pk=member.pk) if d["to_unit"] and can_manage(request.user, d["to_unit"]) else redirect("member_list")
    return render(request, "qms/form.html", {"form": form, "title": f"组织关系转接:{member.name}"})


@login_required
def member_status(request, pk: int):
    member = _managed_member(request, pk)
    form = StatusForm(request.POST or None, initial={"date": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        done = apply_service(form, lambda: services.member_status_change(
            member, actor=request.user, kind=d["kind"], date=d["date"], note=d["note"], category=d["category"] or None))
        if done is not None:
            messages.success(request, f"已登记 {member.name}:{dict(StatusForm.base_fields['kind'].choices).get(d['kind'], d['kind'])}")
            return redirect("member_list")
    return render(request, "qms/form.html", {"form": form, "title": f"党员状态变化:{member.name}"})


@login_required
def member_event(request, pk: int):
    """登记党员情况 — an event from the vocabulary; what it makes owed is named on success."""
    member = _managed_member(request, pk)
    form = MemberEventForm(request.POST or None, initial={"date": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        ev = apply_service(form, lambda: services.member_event_record(
            member, actor=request.user, kind=d["kind"], date=d["date"], note=d["note"]))
        if ev is not None:
            owed = ";".join(f"{o.obligation.title}(截止 {o.due_date:%Y-%m-%d})" for o in ev.triggered)
            messages.success(request, f"已登记 {member.name}:{ev.get_kind_display()}" + (f"。应开展:{owed}" if owed else ""))
            return redirect("member_detail", pk=member.pk)
    return render(request, "qms/form.html", {"form": form, "title": f"登记党员情况:{member.name}"})


# ----------------------------------------------------------------------- checks, ledger


@login_required
def org_check(request):
    root = _scope_root(request)
    warnings = tree_warnings(root) if root else []
    return render(request, "qms/org_check.html", {"warnings": warnings, "root": root})


@login_required
def rule_catalogue(request):
    """规则目录 — every rule in force for the chosen organisation and the units below it: what it
    says, its value, its source, whether it is the library's, this product's default or the
    organisation's own, and how it acts (``qms.catalogue``; ``manage.py rules`` prints the same)."""
    from qms import catalogue

    root = _scope_root(request)
    if root is None:
        return render(request, "qms/rule_catalogue.html", {"root": None})
    entries = catalogue.catalogue(root)
    groups = []
    for kind, label in catalogue.KINDS.items():
        rows = [{"title": e.title, "value": e.value, "source": e.source, "scope": e.scope, "inert": e.inert,
                 "origin": catalogue.ORIGINS[e.origin], "own": e.origin == "override", "default": e.origin == "default",
                 "detail": e.origin_detail if e.origin == "override" else "",
                 "how": "、".join(catalogue.HOW.get(h, h) for h in e.enforced)} for e in entries if e.kind == kind]
        if rows:
            groups.append({"label": label, "rows": rows, "default": sum(r["default"] for r in rows),
                           "own": sum(r["own"] for r in rows), "inert": any(r["inert"] for r in rows)})
    counts = {"total": len(entries), "library": sum(e.origin == "library" for e in entries),
              "default": sum(e.origin == "default" for e in entries), "own": sum(e.origin == "override" for e in entries),
              "inert": len(catalogue.inert(entries))}
    return render(request, "qms/rule_catalogue.html", {"root": root, "groups": groups, "counts": counts})


@login_required
def ledger_page(request):
    if not is_admin(request.user):
        raise PermissionDenied("只有体系管理员可以查看全部留痕")
    page = Paginator(LedgerEntry.objects.order_by("-seq"), 50).get_page(page_param(request))
    return render(request, "qms/ledger.html", {"page": page, "head": ledger.head()})


@login_required
def permissions_page(request):
    """权限矩阵 — every act, who may do it and the rule's source (for the 体系管理员)."""
    from qms import permissions

    if not is_admin(request.user):
        raise PermissionDenied("只有体系管理员可以查看权限矩阵")
    groups: dict[str, list] = {}
    for row in permissions.rows():
        groups.setdefault(row["group"], []).append(row)
    return render(request, "qms/permissions.html", {"groups": groups})


@login_required
def notifications(request):
    """通知 — the user's notifications; POST marks them all read."""
    from qms.models import Notification

    mine = Notification.objects.filter(user=request.user)
    if request.method == "POST":
        mine.filter(read_at__isnull=True).update(read_at=timezone.now())
        return redirect("notifications")
    page = Paginator(mine, 50).get_page(page_param(request))
    return render(request, "qms/notifications.html", {"page": page})


def healthz(request):
    """存活检查 — for a load balancer or monitor: the process answers; touches no database."""
    return HttpResponse("ok", content_type="text/plain")
