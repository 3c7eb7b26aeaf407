"""Bad query and path parameters get a 400 page in the product's layout (or a 404), never a 500."""
from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from qms import services
from qms.models import Role
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(tree):
    admin = factories.user("office")
    services.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=tree["committee"], valid_from=dt.date(2020, 1, 1))
    c = Client(raise_request_exception=False)
    c.force_login(admin)
    return c


@pytest.mark.parametrize("url", ["/audits/annual.pdf?year=0", "/work/compliance.xlsx?year=-1", "/audits/annual.xlsx?year=10000"])
def test_a_year_out_of_range_gets_a_400_page_in_chinese(admin_client, url):
    r = admin_client.get(url)
    assert r.status_code == 400
    page = r.content.decode()
    assert "年份应在2000至2100之间" in page and "党建质量管理体系" in page


def test_with_debug_on_a_bad_parameter_still_gets_the_400_page_not_the_technical_one(admin_client, settings):
    settings.DEBUG = True
    r = admin_client.get("/audits/annual.pdf?year=0")
    page = r.content.decode()
    assert r.status_code == 400 and "年份应在2000至2100之间" in page
    assert "Traceback" not in page and "DATABASE" not in page and "Local vars" not in page
    assert 'href="/audits/annual.pdf"' in page and 'href="/"' in page  # the way back: this page with defaults, the home page
