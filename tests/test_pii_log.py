"""身份证号查看记录 (TRUST, last paragraph; 个人信息保护法): every showing of a member's full
身份证号 is recorded (who, whose, when, where); a masked showing is not; the records are written
once and read by the 体系管理员 only."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from openpyxl import load_workbook

from qms import privacy, services
from qms.models import PersonalDataView, Role, WriteOnceError
from tests import factories

pytestmark = pytest.mark.django_db
D = dt.date


@pytest.fixture
def org(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast: several logins
    c = factories.unit("C", "committee", name="测试党委")
    b1 = factories.unit("B1", parent=c, name="第一党支部")
    b2 = factories.unit("B2", parent=c, name="第二党支部")
    people = {}
    for key, unit, name in (("sec", b1, "李书记"), ("fellow", b1, "王党员"), ("other", b2, "赵书记")):
        m = factories.member(unit, name)
        people[key] = factories.user(key)
        services.member_update(m, actor=None, reason="账号", user=people[key])
        people[f"{key}_m"] = m
    services.position_assign(actor=None, member=people["sec_m"], unit=b1, title="secretary", start=D(2024, 1, 1))
    services.position_assign(actor=None, member=people["other_m"], unit=b2, title="secretary", start=D(2024, 1, 1))
    people["admin"] = factories.user("adm", first_name="管理员甲")
    services.role_grant(actor=None, user=people["admin"], role=Role.ADMIN, unit=c, valid_from=D(2020, 1, 1))
    people["target"] = factories.member(b1, "张三")
    return people


def _as(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_a_manager_viewing_the_member_page_writes_one_record(org):
    target = org["target"]
    r = _as(org["sec"]).get(f"/members/{target.pk}/")
    assert target.id_number in r.content.decode()  # shown in full
    v = PersonalDataView.objects.get()
    assert (v.viewer_id, v.member_id, v.where, v.path) == (org["sec"].pk, target.pk, "member_page", f"/members/{target.pk}/")


def test_a_masked_view_writes_none(org):
    target = org["target"]
    r = _as(org["fellow"]).get(f"/members/{target.pk}/")
    body = r.content.decode()
    assert r.status_code == 200 and target.id_number not in body and privacy.mask_id_number(target.id_number) in body
    assert not PersonalDataView.objects.exists()
    # a secretary of another branch does not even see the member
    assert _as(org["other"]).get(f"/members/{target.pk}/").status_code == 404
    assert not PersonalDataView.objects.exists()


def test_the_correction_form_shows_the_number_and_is_recorded(org):
    target = org["target"]
    r = _as(org["sec"]).get(f"/members/{target.pk}/amend/")
    assert target.id_number in r.content.decode()
    assert list(PersonalDataView.objects.values_list("where", "member_id")) == [("member_amend", target.pk)]


def test_the_roster_export_records_each_member_exported_in_full(org):
    r = _as(org["sec"]).get("/members/export.xlsx")
    ws = load_workbook(io.BytesIO(r.content)).active
    full = [row[0] for row in ws.iter_rows(min_row=2, values_only=True) if "*" not in (row[2] or "")]
    names = set(PersonalDataView.objects.filter(where="roster_export", viewer=org["sec"]).values_list("member__name", flat=True))
    assert full and names == set(full) == {"李书记", "王党员", "张三"}
    # a 党员 exporting sees only their own number in full: that one record
    seen = list(PersonalDataView.objects.values_list("pk", flat=True))
    _as(org["fellow"]).get("/members/export.xlsx")
    new = PersonalDataView.objects.exclude(pk__in=seen)
    assert list(new.values_list("viewer_id", "member_id")) == [(org["fellow"].pk, org["fellow_m"].pk)]


def test_only_the_administrator_reads_the_log_filterable_by_member_and_viewer(org):
    target = org["target"]
    _as(org["sec"]).get(f"/members/{target.pk}/")
    _as(org["sec"]).get(f"/members/{org['fellow_m'].pk}/")
    _as(org["admin"]).get(f"/members/{target.pk}/")
    admin = _as(org["admin"])
    page = admin.get("/accounts/id-number-views/").content.decode()
    assert page.count("<td>党员信息页</td>") == 3 and "李书记" in page and "张三" in page and "王党员" in page
    assert target.id_number not in page  # the log names people, it does not repeat the number
    by_member = admin.get(f"/accounts/id-number-views/?member={target.pk}").content.decode()
    assert by_member.count("<td>党员信息页</td>") == 2 and "王党员</a>" not in by_member
    by_viewer = admin.get(f"/accounts/id-number-views/?viewer={org['admin'].pk}").content.decode()
    assert by_viewer.count("<td>党员信息页</td>") == 1
    assert admin.get("/accounts/id-number-views/?member=abc").status_code == 400
    for who in ("sec", "fellow", "other"):
        assert _as(org[who]).get("/accounts/id-number-views/").status_code in (403, 404), who
    assert Client().get("/accounts/id-number-views/").status_code == 302  # to the login page


def test_the_records_are_written_once(org):
    _as(org["sec"]).get(f"/members/{org['target'].pk}/")
    v = PersonalDataView.objects.get()
    with pytest.raises(WriteOnceError):
        v.save()
    with pytest.raises(WriteOnceError):
        v.delete()
    with pytest.raises(WriteOnceError):
        PersonalDataView.objects.update(where="roster_export")
    with pytest.raises(WriteOnceError):
        PersonalDataView.objects.all().delete()
    # and the database itself refuses a change made behind the product's back
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE qms_personaldataview SET viewer_id = %s", [org["fellow"].pk])
    assert PersonalDataView.objects.get().viewer_id == org["sec"].pk
