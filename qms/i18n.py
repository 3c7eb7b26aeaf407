"""Language: 简体中文 unless the user chose otherwise.

Django's LocaleMiddleware would follow the browser's Accept-Language; a party office wants
the same Chinese screens for everyone by default, with English only on request (the
language switch in the footer stores the choice in a cookie)."""
from __future__ import annotations

from django.conf import settings
from django.utils import translation


class ChosenLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.supported = {code for code, _ in settings.LANGUAGES}

    def __call__(self, request):
        lang = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if lang not in self.supported:
            lang = settings.LANGUAGE_CODE
        translation.activate(lang)
        request.LANGUAGE_CODE = lang
        try:
            response = self.get_response(request)
        finally:
            translation.deactivate()  # back to LANGUAGE_CODE for whatever runs next in this thread
        response.headers.setdefault("Content-Language", lang)
        return response
