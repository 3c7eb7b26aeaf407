"""Deployment checks, security headers and CSRF (reliability.md T13, T14)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from qms import services
from qms.models import Role
from tests import factories

ROOT = Path(__file__).resolve().parent.parent


def test_check_deploy_on_production_settings_has_no_issues(tmp_path):
    env = {**os.environ, "QMS_ENV": "production", "SECRET_KEY": "x" * 30 + "-Kq9!vT2#pL7@wZ4$mN8^rB5&cX1*hJ6",
           "ALLOWED_HOSTS": "qms.example.org", "QMS_VAR_DIR": str(tmp_path)}
    env.pop("DEBUG", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    out = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


def test_production_requires_a_secret_key(tmp_path):
    env = {**os.environ, "QMS_ENV": "production", "ALLOWED_HOSTS": "x", "QMS_VAR_DIR": str(tmp_path)}
    env.pop("SECRET_KEY", None)
    out = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "SECRET_KEY" in out.stderr


@pytest.mark.django_db
def test_headers_probe(client):
    r = client.get(reverse("login"))
    csp = r["Content-Security-Policy"]
    for part in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "script-src 'self'"):
        assert part in csp
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_state_changing_endpoints_refuse_posts_without_csrf_token(tree):
    admin = factories.user("adm")
    import datetime as dt

    services.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=tree["committee"], valid_from=dt.date(2020, 1, 1))
    c = Client(enforce_csrf_checks=True)
    c.force_login(admin)
    m = tree["m1"][0]
    urls = [
        reverse("scope_switch"), reverse("logout"), reverse("unit_create"), reverse("unit_edit", args=["B1"]),
        reverse("position_add", args=["B1"]), reverse("member_new"), reverse("member_amend", args=[m.pk]),
        reverse("member_transfer", args=[m.pk]), reverse("member_status", args=[m.pk]),
        reverse("roster_import"),
    ]
    for url in urls:
        assert c.post(url, {"x": "1"}).status_code == 403, url


@pytest.mark.django_db
def test_health_check_answers_without_login_or_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        r = client.get("/healthz")
    assert r.status_code == 200 and r.content == b"ok"
