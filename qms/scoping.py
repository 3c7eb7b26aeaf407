"""权限范围 — who may see and manage which part of the organisation tree.

The one place where scope is decided (ASVS 8.2.2, 8.4.1). Every list, detail, export and
download goes through ``restrict`` / ``get_visible_or_404``; views never filter by unit
themselves.

- 体系管理员 (a ``RoleGrant`` of ``admin``): the granted unit's whole subtree, manage;
- secretaries and committee officers (a current ``Position`` with a committee title):
  their unit's subtree, manage;
- 内审员 / 外部审核员 grants: the granted subtree, read only;
- every member with a login: their own current unit (and its 党小组), read only.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from qms.models import OFFICER_TITLES, Member, Position, Role, RoleGrant, Unit

LEVEL_LABELS = {
    "admin": "体系管理员",
    "officer": "书记/委员",
    "internal_auditor": "内审员",
    "external_auditor": "外部审核员",
    "member": "党员",
}


@dataclass(frozen=True)
class Scope:
    """One root of what a user may see: the unit, its subtree, and whether they manage it."""

    unit_id: int
    unit_name: str
    unit_code: str
    path: str
    level: str
    can_manage: bool

    @property
    def label(self) -> str:
        return f"{self.unit_name}({LEVEL_LABELS[self.level]})"


def _today() -> dt.date:
    return timezone.localdate()


def scopes_for(user, on: dt.date | None = None) -> list[Scope]:
    """All scopes of a user on a date, most powerful first; [] for anonymous users."""
    if user is None or not user.is_authenticated:
        return []
    cached = getattr(user, "_qms_scopes", None)
    if cached is not None and on is None:
        return cached
    day = on or _today()
    scopes: list[Scope] = []
    if user.is_superuser:
        for u in Unit.objects.filter(parent__isnull=True):
            scopes.append(Scope(u.pk, u.name, u.code, u.path, "admin", True))
    grants = (
        RoleGrant.objects.filter(user=user, valid_from__lte=day)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=day))
        .select_related("unit")
    )
    for g in grants:
        scopes.append(Scope(g.unit.pk, g.unit.name, g.unit.code, g.unit.path, g.role, g.role == Role.ADMIN))
    member = Member.objects.filter(user=user).first()
    if member is not None:
        positions = (
            Position.objects.filter(member=member, title__in=OFFICER_TITLES, start__lte=day)
            .filter(Q(end__isnull=True) | Q(end__gte=day))
            .select_related("unit")
        )
        for p in positions:
            scopes.append(Scope(p.unit.pk, p.unit.name, p.unit.code, p.unit.path, "officer", True))
        ms = member.current_membership()
        if ms is not None:
            scopes.append(Scope(ms.unit.pk, ms.unit.name, ms.unit.code, ms.unit.path, "member", False))
    order = {"admin": 0, "officer": 1, "internal_auditor": 2, "external_auditor": 3, "member": 4}
    result: list[Scope] = []
    for s in sorted(scopes, key=lambda s: (order[s.level], len(s.path))):
        # drop a scope already covered by a wider or equal one that is at least as strong
        if not any(s.path.startswith(t.path) and (t.can_manage or not s.can_manage) for t in result):
            result.append(s)
    if on is None:
        user._qms_scopes = result
    return result


def _paths(scopes: list[Scope], manage_only: bool = False) -> list[str]:
    paths = sorted({s.path for s in scopes if s.can_manage or not manage_only})
    # drop paths inside another listed path: one prefix condition each
    roots: list[str] = []
    for p in paths:
        if not any(p.startswith(r) for r in roots):
            roots.append(p)
    return roots


def restrict(user, qs: QuerySet, *, manage: bool = False) -> QuerySet:
    """Filter any queryset of a scoped model down to what ``user`` may see (or manage)."""
    model = qs.model
    lookup = getattr(model, "scope_unit_lookup", None)
    if lookup is None:
        raise TypeError(f"{model.__name__} 未声明 scope_unit_lookup,不能按权限范围过滤")
    roots = _paths(scopes_for(user), manage_only=manage)
    if not roots:
        return qs.none()
    prefix = f"{lookup}__path__startswith" if lookup else "path__startswith"
    cond = Q()
    for p in roots:
        cond |= Q(**{prefix: p})
    extra = getattr(model, "scope_q", None)
    if extra is not None:
        cond = cond & extra
    return qs.filter(cond)


def get_visible_or_404(user, qs_or_model, **lookup):
    """One object the user may see, else 404 (never 403: existence is not disclosed)."""
    qs = qs_or_model if isinstance(qs_or_model, QuerySet) else qs_or_model._default_manager.all()
    try:
        return restrict(user, qs).get(**lookup)
    except (qs.model.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("无权访问或对象不存在") from exc


def can_manage(user, unit: Unit) -> bool:
    return any(s.can_manage and unit.path.startswith(s.path) for s in scopes_for(user))


def can_see(user, unit: Unit) -> bool:
    return any(unit.path.startswith(s.path) for s in scopes_for(user))


def is_admin(user) -> bool:
    return any(s.level == "admin" for s in scopes_for(user))


SESSION_KEY = "qms_scope_unit"


def current_scope(request) -> Scope | None:
    scopes = scopes_for(request.user)
    if not scopes:
        return None
    chosen = request.session.get(SESSION_KEY)
    for s in scopes:
        if s.unit_id == chosen:
            return s
    return scopes[0]


class ScopeMiddleware:
    """Puts ``request.scopes`` and ``request.scope`` (the unit switcher's choice) on requests."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.scopes = SimpleLazyObject(lambda: scopes_for(request.user))
        request.scope = SimpleLazyObject(lambda: current_scope(request))
        return self.get_response(request)


def people_who_may_lead(on: dt.date | None = None, *, seen_by=None):
    """Logins that may lead an audit or chair a review: 体系管理员 and 内审员 by grant, and the
    书记/委员 holding a committee position on the date — never a plain 党员 or an 外部审核员.

    ``seen_by``: only those whose grant or position is in line with one of that user's scopes —
    at it, above it or below it; a sibling unit's officers are not named to another unit."""
    from django.contrib.auth import get_user_model

    day = on or _today()
    grants = (RoleGrant.objects.filter(role__in=(Role.ADMIN, Role.INTERNAL_AUDITOR), valid_from__lte=day)
              .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=day)))
    officers = (Position.objects.filter(title__in=OFFICER_TITLES, start__lte=day, member__user__isnull=False)
                .filter(Q(end__isnull=True) | Q(end__gte=day)))
    if seen_by is not None:
        in_line = Q(pk__in=[])
        for s in scopes_for(seen_by):
            above = ["".join(f"{part}/" for part in s.path.strip("/").split("/")[:n]) for n in range(1, s.path.count("/"))]
            in_line |= Q(path__startswith=s.path) | Q(path__in=above)
        units = Unit.objects.filter(in_line).values("pk")
        grants, officers = grants.filter(unit__in=units), officers.filter(unit__in=units)
    grants, officers = grants.values("user_id"), officers.values("member__user_id")
    return (get_user_model().objects.filter(is_active=True).filter(Q(pk__in=grants) | Q(pk__in=officers))
            .order_by("username"))
