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
