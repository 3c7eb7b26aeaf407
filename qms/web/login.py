"""The login form: a refused directory sign-in (qms/directory.py) is said as it is, not as a wrong password."""
from __future__ import annotations

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from qms.directory import REFUSAL_ATTR


class LoginForm(AuthenticationForm):
    def get_invalid_login_error(self):
        message = getattr(self.request, REFUSAL_ATTR, None) if self.request is not None else None
        if message:
            return ValidationError(message, code="directory")
        return super().get_invalid_login_error()
