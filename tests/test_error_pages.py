"""Error pages in Chinese, in the product's layout, with a way back; DEBUG off by default so
a 404 never lists the URL patterns; static files served without a web server (WhiteNoise)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests import factories

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def test_debug_is_off_unless_asked_for():
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "QMS_ENV")}
    code = "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'qms.settings'); django.setup(); from django.conf import settings; print(settings.DEBUG)"
    off = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    on = subprocess.run([sys.executable, "-c", code], env={**env, "DEBUG": "1"}, cwd=ROOT, capture_output=True, text=True, check=True)
    assert (off.stdout.strip(), on.stdout.strip()) == ("False", "True")


def test_404_is_a_chinese_page_with_a_way_back_and_no_url_list(client, tree):
    user = factories.user("viewer")
    client.force_login(user)
    r = client.get("/no-such-page/")
    body = r.content.decode()
    assert r.status_code == 404 and "页面不存在" in body and 'href="/"' in body
    assert "URLconf" not in body and "urlpatterns" not in body


def test_403_is_a_chinese_page_with_the_reason(client, tree):
    user = factories.user("member-only")
    client.force_login(user)
    r = client.get("/ledger/")
    body = r.content.decode()
    assert r.status_code == 403 and "无权操作" in body and "只有体系管理员可以查看全部留痕" in body and 'href="/"' in body


def test_500_is_a_chinese_page_in_the_layout(settings):
    from django.urls import path

    import qms.urls

    def boom(request):
        raise RuntimeError("x")

    settings.ROOT_URLCONF = type("Urls", (), {"urlpatterns": [path("boom/", boom), *qms.urls.urlpatterns]})
    r = Client(raise_request_exception=False).get("/boom/")
    body = r.content.decode()
    assert r.status_code == 500 and "系统出错" in body and "没有保存任何内容" in body and "Traceback" not in body


def test_the_stylesheet_is_served_with_debug_off(client):
    r = client.get("/static/qms/site.css")
    content = b"".join(r.streaming_content) if r.streaming else r.content
    assert r.status_code == 200 and b"{" in content
