"""An external auditor's link (its token is the credential) never reaches a log in full: not
runserver's access log (``django.server``), not ``django.request``'s warnings for refused links,
not gunicorn's access log (qms/log_filters.py, docs/operations.md)."""
from __future__ import annotations

import http.client
import io
import logging
import secrets
import threading
import time

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.db import connections


@pytest.fixture
def logged(transactional_db):
    """The configured handlers of ``django.server`` and of the root logger (where
    ``django.request`` ends), writing into a buffer instead of the console."""
    buf = io.StringIO()
    handlers = [*logging.getLogger("django.server").handlers, *logging.getLogger().handlers]
    handlers = [h for h in handlers if isinstance(h, logging.StreamHandler) and type(h) is logging.StreamHandler]
    assert len(handlers) >= 2, "settings.LOGGING: django.server and the console write request paths"
    old = [h.setStream(buf) for h in handlers]
    try:
        yield buf
    finally:
        for h, stream in zip(handlers, old, strict=True):
            h.setStream(stream)


@pytest.fixture
def dev_server():
    """The development server's own request handler (what ``manage.py runserver`` logs with) on loopback."""
    server = WSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    server.set_app(WSGIHandler())

    def serve():
        try:
            server.serve_forever()
        finally:
            connections.close_all()  # this thread's database connection (kept open between requests on PostgreSQL)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        thread.join(30)
        server.server_close()


def _get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Referer": f"http://127.0.0.1:{port}{path}"})
    status = conn.getresponse().status
    conn.close()
    return status


def _settled(buf: io.StringIO, done, timeout: float = 10.0) -> str:
    """The log once ``done(text)`` holds: the development server writes a request's access line
    when it closes the response, which may be after the client has read it."""
    deadline = time.monotonic() + timeout
    while not done(buf.getvalue()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return buf.getvalue()


def test_the_dev_servers_access_log_and_django_request_never_hold_an_external_links_token(logged, dev_server):
    token = secrets.token_urlsafe(32)
    paths = [f"/external/{token}/", f"/external/{token}/pack.zip", f"/external/{token}/pack.exe", f"/external/{token}/?page=2"]
    assert [_get(dev_server, p) for p in paths] == [404, 404, 404, 404]  # no such link (refused: the same lines as a valid one's)
    text = _settled(logged, lambda t: t.count(f"/external/{token[:4]}…") >= 8)
    assert token not in text and token[:12] not in text
    assert f'"GET /external/{token[:4]}…/pack.zip HTTP/1.1" 404' in text  # django.server, masked
    assert f"Not Found: /external/{token[:4]}…/pack.exe" in text  # django.request, masked
    assert text.count(f"/external/{token[:4]}…") >= 8


def test_gunicorns_access_log_is_masked_too(db):
    """gunicorn logs ``access_log_format % atoms`` on ``gunicorn.access``; the app installs the
    filter there when it starts (QmsConfig.ready)."""
    token = secrets.token_urlsafe(32)
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    log = logging.getLogger("gunicorn.access")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        atoms = {"h": "10.0.0.5", "r": f"GET /external/{token}/pack.pdf HTTP/1.1", "s": "200",
                 "f": f"https://qms.example.org/external/{token}/", "a": "Mozilla/5.0"}
        log.info('%(h)s "%(r)s" %(s)s "%(f)s" "%(a)s"', atoms)
    finally:
        log.removeHandler(handler)
    line = buf.getvalue()
    assert token not in line
    assert line.strip() == (f'10.0.0.5 "GET /external/{token[:4]}…/pack.pdf HTTP/1.1" 200 '
                            f'"https://qms.example.org/external/{token[:4]}…/" "Mozilla/5.0"')


def test_other_paths_are_logged_as_they_are():
    from qms.log_filters import mask

    assert mask('"GET /audits/packs/12/pack.zip HTTP/1.1" 200') == '"GET /audits/packs/12/pack.zip HTTP/1.1" 200'
    assert mask("Not Found: /external/ab/") == "Not Found: /external/ab/"  # too short to be a link
