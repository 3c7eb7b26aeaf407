"""Forms never choose for the user where a wrong default is harmful, and offer only people
who may hold the role: a 督查 ticket is not saved as 严重不符合 without anyone choosing it, and
an external auditor or a plain member is not offered as an audit lead or a review chair."""
from __future__ import annotations

import re

import pytest

from audits.models import Nonconformity
from tests.test_permissions import org  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db


def test_grade_and_source_must_be_chosen(org, client):  # noqa: F811
    client.force_login(org["sec_c"])
    page = client.get("/audits/problems/new/").content.decode()
    for name in ("grade", "source"):
        select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S).group(1)
        assert re.match(r'\s*<option value="">', select), f"{name}: the first option must be 请选择"
    n = Nonconformity.objects.count()
    r = client.post("/audits/problems/new/", {"unit": org["b1"].pk, "source": "spot_check", "grade": "",
                                              "clause": "x", "requirement": "y", "evidence": "z"})
    assert "请选择等级" in r.content.decode() and Nonconformity.objects.count() == n


def test_only_people_who_may_lead_are_offered(org, client):  # noqa: F811
    client.force_login(org["admin"])
    for url, field in (("/audits/new/", "lead"), ("/audits/reviews/", "chair")):
        page = client.get(url).content.decode()
        select = re.search(rf'<select name="{field}"[^>]*>(.*?)</select>', page, re.S).group(1)
        offered = {int(v) for v in re.findall(r'value="(\d+)"', select)}
        assert org["ext"].pk not in offered and org["member"].pk not in offered, url
        assert {org["admin"].pk, org["ia"].pk, org["sec_b1"].pk} <= offered, url


def test_effectiveness_buttons_appear_only_when_the_review_is_due(org, client, monkeypatch):  # noqa: F811
    import datetime as dt

    from django.utils import timezone

    from audits.capa import services as capa
    from tests.test_permissions import _implemented

    nc = _implemented(org)
    capa.nc_verify(nc, actor=org["sec_c"], note="已核实", password="pass-12345")
    capa.nc_close(nc, actor=org["sec_c"], password="pass-12345")
    nc.refresh_from_db()
    client.force_login(org["sec_c"])
    page = client.get(f"/audits/problems/{nc.pk}/").content.decode()
    assert "整改有效</button>" not in page and f"有效性评价将于 {nc.effectiveness_due:%Y-%m-%d} 起进行" in page
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: nc.effectiveness_due + dt.timedelta(days=1))
    page = client.get(f"/audits/problems/{nc.pk}/").content.decode()
    assert "整改有效" in page
