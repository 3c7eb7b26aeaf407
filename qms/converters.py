"""Path converters (路径参数) for every URL: a record's number that no database column can hold
(99999999999999999999) or a code with control characters is a 404, like any other record that
does not exist — never a server error (qms/params.py checks the query string the same way).

``<id:pk>``: 1–19 digits, at most 2**63-1 (BigAutoField). ``<code:code>``: an organisation's
code, at most 32 printable characters without "/" (``Unit.code``). ``<slug:…>`` (Django's own)
names an action or a file. Registered when this module is imported (each ``urls.py`` does).
"""
from __future__ import annotations

from django.urls import register_converter

MAX_ID = 2**63 - 1


class IdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_ID:
            raise ValueError("no such record")  # the pattern does not match: 404
        return number

    def to_url(self, value) -> str:
        return str(int(value))


class CodeConverter:
    regex = "[^/\\x00-\\x1f\\x7f]{1,32}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value) -> str:
        return str(value)


register_converter(IdConverter, "id")
register_converter(CodeConverter, "code")
