"""账号 pages: 我的账号 for everyone, 账号管理 for the 体系管理员 and the 书记/委员.

Logins (usernames) appear on these pages only; everywhere else people are shown by name.
Who is managed is decided by ``qms.scoping`` (members the user manages, ``restrict(…, manage=True)``)
and every act by the permission matrix in the services (``qms.accounts``, ``qms.services``).
A one-time password is shown in the answer to the POST that made it, with ``no-store``, and is
never kept anywhere.
"""
from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from qms import accounts
from qms import services as core
from qms.models import Member, Membership, Role, RoleGrant, Unit
from qms.params import page_param, text_param
from qms.scoping import can_manage, restrict, scopes_for
from qms.security import MUST_CHANGE_KEY
from qms.web.forms import ExpireForm, GrantForm, LoginCreateForm, ReasonForm, apply_service

NOT_MANAGER = "您无权管理账号:账号由体系管理员和党组织书记、委员办理"


def _require_manager(user) -> None:
    if not any(s.can_manage for s in scopes_for(user)):
        raise PermissionDenied(NOT_MANAGER)


def _admin_paths(user) -> list[str]:
    return [s.path for s in scopes_for(user) if s.level == "admin"]


def _managed_members(user):
    return restrict(user, Member.objects.all(), manage=True)


def _managed_member(request, pk: int) -> Member:
    """A member the user manages, else 404 (whether the person exists is not disclosed)."""
    _require_manager(request.user)
    member = _managed_members(request.user).select_related("user").filter(pk=pk).first()
    if member is None:
        raise Http404("无权访问或对象不存在")
    return member


def _other_logins(user):
    """Logins of no member (an external auditor from outside, an office account) whose every
    grant lies within the user's 体系管理员 scope; never a superuser unless the user is one."""
    paths = _admin_paths(user)
    if not paths:
        return get_user_model().objects.none()
    inside = Q()
    for p in paths:
        inside |= Q(unit__path__startswith=p)
    outside = RoleGrant.objects.exclude(inside).values("user_id")
    qs = (get_user_model().objects.filter(member__isnull=True, role_grants__isnull=False)
          .exclude(pk__in=outside).distinct())
    if not user.is_superuser:
        qs = qs.exclude(is_superuser=True)
    return qs.order_by("username")


def _managed_login(request, pk: int):
    """A login the user manages: a managed member's, or one of ``_other_logins``; else 404."""
    _require_manager(request.user)
    member = _managed_members(request.user).filter(user_id=pk).select_related("user").first()
    if member is not None:
        return member.user, member
    login = _other_logins(request.user).filter(pk=pk).first()
    if login is None:
        raise Http404("无权访问或对象不存在")
    return login, None


def _back(member: Member | None):
    return redirect("account_member", pk=member.pk) if member is not None else redirect("account_list")


def _issued(request, issued: accounts.Issued, *, title: str, who: str, member: Member | None):
    response = render(request, "qms/account_issued.html", {
        "title": title, "who": who, "username": issued.user.get_username(), "password": issued.password, "member": member,
    })
    response["Cache-Control"] = "no-store"
    return response


def _grants(users) -> dict[int, list[RoleGrant]]:
    out: dict[int, list[RoleGrant]] = {}
    for g in RoleGrant.objects.filter(user__in=users).select_related("unit").order_by("-valid_from", "id"):
        out.setdefault(g.user_id, []).append(g)
    return out


def _grant_state(g: RoleGrant, today) -> str:
    if g.valid_from > today:
        return "未生效"
    if g.valid_until is not None and g.valid_until < today:
        return "已失效"
    return "有效"


# ----------------------------------------------------------------------------- 我的账号


@never_cache
@login_required
def my_account(request):
    """我的账号 — name, unit, roles, and the password change (Django's validators)."""
    user = request.user
    form = PasswordChangeForm(user, request.POST or None)
    for f in form.fields.values():
        f.help_text = ""
    if request.method == "POST" and form.is_valid():
        done = apply_service(form, lambda: accounts.password_change(actor=user, new_password=form.cleaned_data["new_password1"]))
        if done is None and not form.errors:
            user.refresh_from_db()
            update_session_auth_hash(request, user)
            request.session.pop(MUST_CHANGE_KEY, None)
            messages.success(request, "密码已修改")
            return redirect("my_account")
    member = Member.objects.filter(user=user).first()
    today = timezone.localdate()
    grants = [(g, _grant_state(g, today)) for g in _grants([user]).get(user.pk, [])]
    return render(request, "qms/my_account.html", {
        "member": member, "current": member.current_membership() if member else None,
        "scopes": list(request.scopes), "grants": grants, "form": form,
        "must_change": bool(request.session.get(MUST_CHANGE_KEY)),
        "password_rules": accounts.password_rules(),
        "has_otp": TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).exists(),
    })


# ----------------------------------------------------------------------------- 账号管理


@login_required
def account_list(request):
    """账号管理 — the members the user manages, with their login's state and role grants."""
    _require_manager(request.user)
    q = text_param(request, "q", label="姓名")
    qs = _managed_members(request.user).select_related("user").prefetch_related(
        Prefetch("memberships", queryset=Membership.objects.filter(end__isnull=True).select_related("unit"), to_attr="open_memberships"))
    if q:
        qs = qs.filter(name__contains=q)
    page = Paginator(qs.order_by("id"), 50).get_page(page_param(request))
    today = timezone.localdate()
    grants = _grants([m.user_id for m in page if m.user_id])
    rows = [{"member": m, "unit": m.open_memberships[0].unit if m.open_memberships else None,
             "may_touch": m.user_id is not None and accounts.may_touch(request.user, m.user),
             "grants": [(g, _grant_state(g, today)) for g in grants.get(m.user_id, [])]} for m in page]
    others = list(_other_logins(request.user)[:200])
    other_grants = _grants(others)
    return render(request, "qms/account_list.html", {
        "page": page, "rows": rows, "q": q,
        "others": [{"login": u, "grants": [(g, _grant_state(g, today)) for g in other_grants.get(u.pk, [])]} for u in others],
        "yesterday": today - dt.timedelta(days=1),
        "is_admin": bool(_admin_paths(request.user)),
    })


def _grant_units(request, member: Member):
    """Where a role may be given to this member: their unit or a unit above it that the user manages."""
    ms = member.current_membership()
    if ms is None:
        return Unit.objects.none()
    ids = [u.pk for u in ms.unit.ancestors() if can_manage(request.user, u)]
    return Unit.objects.filter(pk__in=ids).order_by("path")


def _member_page(request, member: Member, *, create_form=None, grant_form=None, expire_error: str = ""):
    today = timezone.localdate()
    units = _grant_units(request, member)
    login = member.user
    return render(request, "qms/account_member.html", {
        "member": member, "login": login, "current": member.current_membership(),
        "must_change": bool(login and accounts.must_change_password(login)),
        "may_touch": bool(login and accounts.may_touch(request.user, login)),
        "has_otp": bool(login and TOTPDevice.objects.filter(user_id=login.pk, confirmed=True).exists()),
        "is_admin": bool(_admin_paths(request.user)),
        "grants": [(g, _grant_state(g, today)) for g in _grants([login]).get(login.pk, [])] if login else [],
        "create_form": create_form or LoginCreateForm(),
        "grant_form": grant_form or GrantForm(roles=core.AUDITOR_ROLES, units=units,
                                              initial={"valid_from": today, "unit": units.last()}),
        "yesterday": today - dt.timedelta(days=1),
    })


@login_required
def account_member(request, pk: int):
    """One member's login: open it, reset its password, disable or enable it, grant and end roles."""
    return _member_page(request, _managed_member(request, pk))


@login_required
@require_POST
def account_create(request, pk: int):
    member = _managed_member(request, pk)
    form = LoginCreateForm(request.POST)
    if form.is_valid():
        issued = apply_service(form, lambda: accounts.login_create(
            member, actor=request.user, username=form.cleaned_data["username"], password=form.cleaned_data["password"]))
        if issued is not None:
            return _issued(request, issued, title="账号已开通", who=member.name, member=member)
    return _member_page(request, member, create_form=form)


@login_required
@require_POST
def account_reset(request, pk: int):
    login, member = _managed_login(request, pk)
    issued = accounts.password_reset(actor=request.user, user=login)
    who = member.name if member else (login.get_full_name() or login.get_username())
    return _issued(request, issued, title="密码已重置", who=who, member=member)


def _set_active(request, pk: int, active: bool):
    login, member = _managed_login(request, pk)
    form = ReasonForm(request.POST)
    if not form.is_valid() and not active:
        messages.error(request, "停用账号必须填写原因")
        return _back(member)
    reason = form.cleaned_data.get("reason", "") if form.is_valid() else ""
    call = accounts.login_enable if active else accounts.login_disable
    if apply_service(form, lambda: call(actor=request.user, user=login, reason=reason) or True):
        messages.success(request, "账号已启用" if active else "账号已停用")
    else:
        messages.error(request, ";".join(str(e) for errs in form.errors.values() for e in errs))
    return _back(member)


@login_required
@require_POST
def account_disable(request, pk: int):
    return _set_active(request, pk, False)


@login_required
@require_POST
def account_enable(request, pk: int):
    return _set_active(request, pk, True)


@login_required
@require_POST
def account_grant(request, pk: int):
    member = _managed_member(request, pk)
    if member.user is None:
        messages.error(request, "请先为该党员开通账号")
        return _back(member)
    form = GrantForm(request.POST, roles=core.AUDITOR_ROLES, units=_grant_units(request, member))
    if form.is_valid():
        d = form.cleaned_data
        if d["valid_until"] is not None and d["valid_until"] < d["valid_from"]:
            form.add_error("valid_until", "失效日期不能早于生效日期")
        elif apply_service(form, lambda: core.auditor_role_grant(
                actor=request.user, user=member.user, role=d["role"], unit=d["unit"],
                valid_from=d["valid_from"], valid_until=d["valid_until"])) is not None:
            messages.success(request, f"已授予{Role(d['role']).label}角色")
            return _back(member)
    return _member_page(request, member, grant_form=form)


@login_required
@require_POST
def grant_expire(request, pk: int):
    _require_manager(request.user)
    grant = RoleGrant.objects.select_related("unit", "user").filter(pk=pk).first()
    if grant is None or not can_manage(request.user, grant.unit):
        raise Http404("无权访问或对象不存在")
    member = Member.objects.filter(user_id=grant.user_id).first()
    if member is not None and not _managed_members(request.user).filter(pk=member.pk).exists():
        member = None  # the grant is the user's to end, the member's page is not theirs to see
    form = ExpireForm(request.POST)
    if form.is_valid() and apply_service(form, lambda: core.role_expire(
            grant, actor=request.user, last_day=form.cleaned_data["last_day"], reason=form.cleaned_data["reason"])) is not None:
        messages.success(request, f"{grant.get_role_display()}授权已终止,最后有效日期 {form.cleaned_data['last_day']:%Y-%m-%d}")
    else:
        messages.error(request, ";".join(str(e) for errs in form.errors.values() for e in errs) or "请填写最后有效日期和原因")
    return _back(member)


# ----------------------------------------------------------------------------- 登录锁定


@login_required
def lockout_list(request):
    """登录锁定 — the username and address pairs locked now after repeated failed logins
    (qms/lockout.py), each with 解锁; for the 体系管理员 only."""
    from django.conf import settings

    from qms import lockout
    from qms.scoping import is_admin

    if not is_admin(request.user):
        raise PermissionDenied("只有体系管理员可以查看和解除登录锁定")
    return render(request, "qms/lockouts.html", {
        "locks": lockout.locks(), "limit": settings.AXES_FAILURE_LIMIT, "minutes": settings.QMS_LOGIN_LOCKOUT_MINUTES,
    })


@login_required
@require_POST
def lockout_unlock(request):
    """解锁 — lift one lock (the act checks the 体系管理员; the reason is required)."""
    from qms import lockout

    form = ReasonForm(request.POST)
    username = text_param(request, "username", label="用户名", max_length=150, data=request.POST) or ""
    address = text_param(request, "ip_address", label="地址", max_length=64, data=request.POST) or ""
    form.is_valid()
    reason = form.cleaned_data.get("reason", "")
    lock = apply_service(form, lambda: lockout.lockout_release(actor=request.user, username=username, ip_address=address,
                                                               reason=reason))
    if lock is not None:
        messages.success(request, f"已解除{lock.person}({username})在地址 {address} 的登录锁定")
    else:
        messages.error(request, ";".join(str(e) for errs in form.errors.values() for e in errs))
    return redirect("lockout_list")


# ----------------------------------------------------------------------------- 身份证号查看记录


@login_required
def pii_access_log(request):
    """身份证号查看记录 — who was shown which member's full 身份证号, when and where (qms/pii_log.py);
    for the 体系管理员 only, filterable by member and by viewer."""
    from qms import pii_log
    from qms.params import id_param

    if not pii_log.may_read(request.user):
        raise PermissionDenied("只有体系管理员可以查看身份证号查看记录")
    qs = pii_log.visible(request.user).select_related("member", "viewer")
    member_id = id_param(request, "member", label="党员")
    viewer_id = id_param(request, "viewer", label="查看人")
    if member_id:
        qs = qs.filter(member_id=member_id)
    if viewer_id:
        qs = qs.filter(viewer_id=viewer_id)
    first = qs.first()  # the names in the heading come from the records the user may read
    member = first.member if member_id and first else None
    viewer = first.viewer if viewer_id and first else None
    page = Paginator(qs, 50).get_page(page_param(request))
    query = "&".join(f"{k}={v}" for k, v in (("member", member_id), ("viewer", viewer_id)) if v)
    return render(request, "qms/pii_access_log.html", {
        "page": page, "member": member, "viewer": viewer, "member_id": member_id, "viewer_id": viewer_id,
        "query": query,
    })
