"""双因素登录 pages (qms/otp.py): the code (or a recovery code) after the password, setting up an
authenticator on 我的账号 with its recovery codes, and a manager removing a lost one. Thin: the
services decide and ledger."""
from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from qms import otp
from qms.web.forms import ReasonForm, apply_service


class CodeForm(forms.Form):
    token = forms.CharField(label="验证码", max_length=8, widget=forms.TextInput(attrs={
        "inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9]*", "autofocus": True}))


class SecondStepForm(forms.Form):
    """The second step of the login: a code from the app or a recovery code."""

    token = forms.CharField(label="验证码或恢复码", max_length=40, widget=forms.TextInput(attrs={
        "autocomplete": "one-time-code", "autocapitalize": "characters", "spellcheck": "false", "autofocus": True}))


def _show_codes(request, codes: list[str], *, first: bool):
    """The recovery codes, shown this once (never stored readable, never cached); then on to
    where the login was going (a forced set-up) or back to the 双因素登录 page."""
    from django.urls import reverse

    onward = _next(request) if request.GET.get("next") else reverse("otp_setup")
    response = render(request, "qms/otp_recovery_codes.html", {"codes": codes, "first": first, "onward": onward})
    response["Cache-Control"] = "no-store"
    return response


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return "/"


@never_cache
@login_required
def otp_verify(request):
    """输入验证码 — after the password, for those who owe a code."""
    if otp.confirmed_device(request.user) is None:
        return redirect("otp_setup")
    form = SecondStepForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        why = otp.verify(request, form.cleaned_data["token"])
        if not why:
            if isinstance(request.user.otp_device, otp.StaticDevice):
                left = otp.recovery_remaining(request.user)
                messages.warning(request, f"您使用了一个恢复码,还剩 {left} 个。"
                                 + ("恢复码已用完,请在“双因素登录”页重新生成。" if left == 0 else "恢复码用完前请在“双因素登录”页重新生成。"))
            return redirect(_next(request))
        form.add_error("token", why)
    return render(request, "registration/otp_verify.html", {"form": form, "next": _next(request)})


@never_cache
@login_required
def otp_setup(request):
    """双因素登录 on 我的账号: start, scan, confirm; or see that it is on."""
    user = request.user
    form = CodeForm(request.POST or None)
    if request.method == "POST":
        if request.POST.get("action") == "start":
            if apply_service(form, lambda: otp.otp_enrol(actor=user)) is not None:
                return redirect("otp_setup")
        elif request.POST.get("action") == "regenerate":
            codes = apply_service(form, lambda: otp.otp_recovery_regenerate(actor=user))
            if codes is not None:
                return _show_codes(request, codes, first=False)
        elif form.is_valid():
            device = apply_service(form, lambda: otp.otp_confirm(actor=user, token=form.cleaned_data["token"]))
            if device is not None:
                from django_otp import login as otp_login

                otp_login(request, device)  # the code just proved the phone: this session is verified
                request.session.pop(otp.NEEDED_KEY, None)
                messages.success(request, "身份验证器已启用,以后每次登录都需输入验证码")
                return _show_codes(request, device.recovery_codes, first=True)
    confirmed = otp.confirmed_device(user)
    pending = None if confirmed else otp.pending_device(user)
    response = render(request, "qms/otp_setup.html", {
        "form": form, "confirmed": confirmed, "pending": pending, "required": otp.required_for(user),
        "recovery_left": otp.recovery_remaining(user) if confirmed else 0,
        "qr": otp.qr_data_uri(pending) if pending else "", "secret": otp.secret_groups(pending) if pending else "",
        "next": request.GET.get("next", ""),
    })
    response["Cache-Control"] = "no-store"  # the secret is on the page
    return response


@login_required
@require_POST
def account_otp_reset(request, pk: int):
    """停用身份验证器 — on a managed login's page (a lost phone)."""
    from qms.web.account_views import _back, _managed_login

    login, member = _managed_login(request, pk)
    form = ReasonForm(request.POST)
    form.is_valid()
    reason = form.cleaned_data.get("reason", "") if hasattr(form, "cleaned_data") else ""
    if apply_service(form, lambda: otp.otp_reset(actor=request.user, user=login, reason=reason)) is not None:
        messages.success(request, "身份验证器已停用,该人员下次登录时须重新设置")
    else:
        messages.error(request, ";".join(str(e) for errs in form.errors.values() for e in errs))
    return _back(member)
