"""简体中文 by default — whatever the browser asks for — and English on request."""
import pytest
from django.conf import settings
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


def test_chinese_by_default_even_for_an_english_browser(client):
    r = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert r["Content-Language"] == "zh-hans"
    assert "党建质量管理体系" in r.content.decode()


def test_english_when_chosen(client, tree):
    client.force_login(factories.user("u1", is_superuser=True))
    r = client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert r.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    body = client.get(reverse("home")).content.decode()
    assert "Party-Building Quality Management System" in body and ">Home<" in body
