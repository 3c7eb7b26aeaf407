"""Security headers that Django 5.2 does not set itself (reliability.md T13, ASVS 3.4).

A strict Content-Security-Policy: every script and stylesheet is served locally from our
own origin, so nothing else is allowed; no plugins, no <base> rewriting, no framing.
Inline style *attributes* are allowed (layout widths in tables and charts); inline
scripts are not.
"""
from __future__ import annotations

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response


class TamperAlertMiddleware:
    """After each request, alert the administrators about any change that was refused
    because its row had been edited outside the product (``qms.ledger.TamperedError``).
    The refused change's transaction has rolled back by then, so the alert stays."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from qms import ledger

        try:
            return self.get_response(request)
        finally:
            ledger.flush_tamper_alerts()

    def process_exception(self, request, exception):
        """A refused change that no view caught: a plain page (409), never a 500."""
        from django.shortcuts import render

        from qms.ledger import TAMPER_MESSAGE, TamperedError

        if isinstance(exception, TamperedError):
            return render(request, "qms/tampered.html", {"message": TAMPER_MESSAGE}, status=409)
        return None


#: the session key set at login when the password was chosen by someone else (qms/accounts.py)
MUST_CHANGE_KEY = "qms_must_change_password"


def note_password_to_change(sender, request, user, **kwargs) -> None:
    """On login (``user_logged_in``): remember in the session whether the password must be
    changed first, so the check below costs no query on later requests."""
    from qms.accounts import must_change_password

    if must_change_password(user):
        request.session[MUST_CHANGE_KEY] = True
    else:
        request.session.pop(MUST_CHANGE_KEY, None)


class PasswordChangeMiddleware:
    """A person whose password was created or reset by a manager sees only 我的账号 (where they
    change it), until they do; they may still sign out. Anything else redirects there."""

    ALLOWED = ("/static/", "/i18n/", "/healthz")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if getattr(request, "session", None) is not None and request.session.get(MUST_CHANGE_KEY):
            from django.contrib import messages
            from django.shortcuts import redirect
            from django.urls import reverse

            own = reverse("my_account")
            if (request.user.is_authenticated and request.path not in (own, reverse("logout"))
                    and not request.path.startswith(self.ALLOWED)):
                messages.warning(request, "您的密码由管理人员设定,请先修改密码再使用系统")
                return redirect(own)
        return self.get_response(request)
