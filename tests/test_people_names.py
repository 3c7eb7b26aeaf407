"""People appear by name, never by login: the page header, a ticket's history and its people."""
from __future__ import annotations

import datetime as dt

import pytest

from audits.capa import services as capa
from qms import services as core
from qms.models import Role, UnitKind
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_header_and_a_tickets_history_show_names_not_logins(client):
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b = factories.unit("B", UnitKind.BRANCH, parent=c, name="第一党支部")
    sec = factories.user("shuji_b1")
    m = factories.member(b, "王浩新")
    core.member_update(m, actor=None, reason="账号", user=sec)
    core.position_assign(actor=None, member=m, unit=b, title="secretary", start=dt.date(2024, 1, 1))
    office = factories.user("bangongshi", first_name="党委办公室")  # an office account: a name, no 党员
    core.role_grant(actor=None, user=office, role=Role.ADMIN, unit=c, valid_from=dt.date(2020, 1, 1))
    nc = capa.nc_raise(actor=office, unit=b, source="spot_check", grade="minor", clause="DJ-CX-02",
                       requirement="每月至少召开1次支委会", evidence="3月无支委会记录")
    capa.nc_acknowledge(nc, actor=sec)
    client.force_login(sec)
    body = client.get(f"/audits/problems/{nc.pk}/").content.decode()
    assert "王浩新" in body and "党委办公室" in body
    for login in ("shuji_b1", "bangongshi"):
        assert login not in body, body[max(0, body.index(login) - 300):body.index(login) + 50]
