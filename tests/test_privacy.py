"""Personal data (个人信息保护法; GB/T 35273): 身份证号, 手机号 and 出生日期 in full only for those
who manage the member's unit and for the member themself; masked for everyone else who may
see the member — on the member page, in its history, in the roster export — and the 身份证号
cannot be searched digit by digit by those who may not see it. Role × field × place."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from qms import services as core
from qms.models import Role, UnitKind
from tests import factories

pytestmark = pytest.mark.django_db
D = dt.date
ID = "440105198005179990"
PHONE = "13812345678"


@pytest.fixture
def org(db):
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b1 = factories.unit("B1", UnitKind.BRANCH, parent=c, name="第一党支部")
    b2 = factories.unit("B2", UnitKind.BRANCH, parent=c, name="第二党支部")
    target = factories.member(b1, "王浩新", id_number=ID, phone=PHONE, birth_date=D(1980, 5, 17))
    people = {"target": target}
    for key, unit, title in (("sec_b1", b1, "secretary"), ("fellow", b1, None), ("sec_b2", b2, "secretary"), ("self", None, None)):
        u = factories.user(key)
        m = target if key == "self" else factories.member(unit, f"{key}姓名")
        core.member_update(m, actor=None, reason="账号", user=u)
        if title:
            core.position_assign(actor=None, member=m, unit=unit, title=title, start=D(2024, 1, 1))
        people[key] = u
    for key, role in (("admin", Role.ADMIN), ("ia", Role.INTERNAL_AUDITOR), ("ext", Role.EXTERNAL_AUDITOR)):
        people[key] = factories.user(key)
        core.role_grant(actor=None, user=people[key], role=role, unit=c, valid_from=D(2020, 1, 1))
    return people


FULL = {"admin", "sec_b1", "self"}
MASKED = {"fellow", "ia", "ext"}


@pytest.mark.parametrize("who", sorted(FULL | MASKED))
def test_the_member_page_and_its_history(org, client, who):
    client.force_login(org[who])
    body = client.get(f"/members/{org['target'].pk}/").content.decode()
    if who in FULL:
        assert ID in body and PHONE in body and "1980-05-17" in body
    else:
        assert ID not in body and PHONE not in body and "1980-05-17" not in body
        assert "4401**********9990" in body and "138****5678" in body and "1980年" in body


def test_a_sibling_branch_secretary_does_not_see_the_member_at_all(org, client):
    client.force_login(org["sec_b2"])
    assert client.get(f"/members/{org['target'].pk}/").status_code == 404


@pytest.mark.parametrize("who", sorted(FULL | MASKED))
def test_the_roster_export(org, client, who):
    client.force_login(org[who])
    r = client.get("/members/export.xlsx")
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    row = next(row for row in ws.iter_rows(values_only=True) if row[0] == "王浩新")
    cells = " ".join(str(c) for c in row if c is not None)
    if who in FULL:
        assert ID in cells and PHONE in cells and "1980-05-17" in cells
    else:
        assert ID not in cells and PHONE not in cells and "1980-05-17" not in cells
        assert "4401**********9990" in cells and "138****5678" in cells


def test_the_id_number_cannot_be_searched_by_those_who_may_not_see_it(org, client):
    client.force_login(org["fellow"])
    assert "王浩新" not in client.get("/members/", {"q": ID[:10]}).content.decode()
    assert "王浩新" in client.get("/members/", {"q": "王浩"}).content.decode()
    client.force_login(org["sec_b1"])
    assert "王浩新" in client.get("/members/", {"q": ID[:10]}).content.decode()
