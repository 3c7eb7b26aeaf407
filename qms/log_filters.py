"""Secrets kept out of logs (日志脱敏).

An external auditor's read-only link (``/external/<token>/``, audits/external_urls.py) is a
credential: whoever has the URL sees the evidence pack until it expires. Web servers write every
request line to their access log and Django writes every 4xx/5xx path to ``django.request``;
logs are read, copied and kept by more people than the link was meant for (reliability.md T13,
OWASP ASVS 7.1.1: no credentials in logs). ``MaskSecrets`` rewrites such paths to
``/external/<first 4 characters>…`` — enough to tell two links apart when reading a log, far
too little to use one. It is installed by ``settings.LOGGING`` on the loggers that write request
paths (runserver's ``django.server``, ``django.request``, ``django.security.csrf``) and on the
console handler, and by ``QmsConfig.ready`` on gunicorn's ``gunicorn.access``/``gunicorn.error``
(docs/operations.md).
"""
from __future__ import annotations

import logging
import re

#: Path prefixes whose next segment is a credential.
SECRET_PREFIXES = ("/external/",)
#: Characters of the secret kept in the log.
KEEP = 4

_SEGMENT = r"[^/\s?#\"'<>]"
_SECRET = re.compile("(" + "|".join(re.escape(p) for p in SECRET_PREFIXES) + f")({_SEGMENT}{{{KEEP}}}){_SEGMENT}+")


def mask(text: str) -> str:
    """``text`` with every secret path segment cut to its first characters and "…"."""
    return _SECRET.sub(r"\1\2…", text)


class MaskSecrets(logging.Filter):
    """Rewrites a record's message (formatted with its arguments) when it holds a secret path.
    Records are changed in place, so every handler after this filter sees the masked text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 — a malformed record is the logging module's to report
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def install(*logger_names: str) -> None:
    """Adds the filter to loggers configured outside Django's ``LOGGING`` (gunicorn's own)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskSecrets) for f in logger.filters):
            logger.addFilter(MaskSecrets())
