"""Roster import in two steps: the upload is kept on the server and previewed (to create /
unchanged / differs from the roll / errors); confirm reads the kept file again and imports all or
nothing, only if the preview is still true; the kept file is its uploader's alone."""
from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from qms import ledger, roster, roster_pending, services
from qms.models import LedgerEntry, Member
from tests import factories
from tests import imports_support as support
from tests.imports_support import account, office_sheet, upload_page

pytestmark = pytest.mark.django_db
admin, secretary = support.admin, support.secretary  # the fixtures

# a file as an office writes it: its own header wording
HEAD = ["序号", "姓名", "性 别", "公民身份号码", "出生日期", "联系电话", "人员类别", "入党时间", "转正时间", "所在支部", "党小组"]


def person(name, idn, *, gender="男", phone="", cat="正式党员", unit="第一党支部", group="第一党小组",
           birth="1980-05-17", joined="2005-07-01", full="2006-07-01"):
    return [0, name, gender, idn, birth, phone, cat, joined, full, unit, group]


def xlsx(rows, title="运行一值党支部党员花名册(2026年12月)") -> bytes:
    return office_sheet([r[1:] for r in rows], HEAD, title=title)  # numbered anew


def state():
    return Member.objects.count(), LedgerEntry.objects.count(), ledger.head()


def stage(data: bytes, actor):
    return roster.stage_upload(io.BytesIO(data), actor=actor, filename="花名册.xlsx").token


@pytest.fixture
def mixed(tree):
    """A file with one row of each kind, against 第一党支部's roll."""
    same, differs = tree["m1"][1], tree["m1"][2]  # 第一党小组 and 第二党小组
    new_id = factories.id_number()
    return xlsx([
        person("新党员", new_id),
        person(same.name, same.id_number),
        person(differs.name, differs.id_number, phone="13900001111"),  # on the roll: no phone, 第二党小组
        person("填错的", factories.id_number(), gender="未知"),
    ]), new_id


def test_preview_classifies_every_row_and_saves_nothing(tree, admin, mixed):
    data, new_id = mixed
    before = state()
    token = stage(data, admin)
    pending, result = roster.preview_staged(token, actor=admin)
    assert pending.filename == "花名册.xlsx"
    assert [(r.row, r.name, r.unit, r.category) for r in result.to_create] == [(3, "新党员", "第一党支部", "正式党员")]
    assert [(r.row, r.name) for r in result.same] == [(4, tree["m1"][1].name)]
    [d] = result.differs
    assert (d.row, d.name, d.member_id) == (5, tree["m1"][2].name, tree["m1"][2].pk)
    assert [(x.column, x.on_roll, x.in_file) for x in d.differences] == [
        ("联系电话", "(空)", "13900001111"), ("党小组", "第二党小组", "第一党小组")]
    # errors: the file's row number and the column's header as the file writes it
    assert [(e.row, e.column) for e in result.errors] == [(6, "性 别")]
    assert "性别“未知”无效" in result.errors[0].reason
    assert not result.can_confirm
    assert state() == before and not Member.objects.filter(id_number=new_id).exists()


def test_confirm_imports_the_new_rows_and_leaves_differing_members_as_they_are(tree, admin):
    differs = tree["m1"][2]
    new = [factories.id_number() for _ in range(3)]
    data = xlsx([person(f"新{i}", idn, group="") for i, idn in enumerate(new)]
                + [person(differs.name, differs.id_number, phone="13900001111", group="第二党小组")])
    token = stage(data, admin)
    _, preview = roster.preview_staged(token, actor=admin)
    assert len(preview.to_create) == 3 and len(preview.differs) == 1 and preview.can_confirm
    result = roster.confirm_staged(token, actor=admin, seen=preview.fingerprint)
    assert result.ok and result.created == 3 and len(result.differs) == 1
    assert Member.objects.filter(id_number__in=new).count() == 3
    assert Member.objects.get(pk=differs.pk).phone == ""  # never overwritten by a file
    assert roster_pending.load(token, user=admin) is None  # the kept file is gone
    with pytest.raises(roster.PendingGone):
        roster.confirm_staged(token, actor=admin, seen=preview.fingerprint)
    assert ledger.verify().ok


def test_a_file_with_an_error_is_never_imported(tree, admin, mixed):
    data, new_id = mixed
    token = stage(data, admin)
    _, preview = roster.preview_staged(token, actor=admin)
    before = state()
    result = roster.confirm_staged(token, actor=admin, seen=preview.fingerprint)
    assert not result.ok and result.created == 0 and state() == before
    assert not Member.objects.filter(id_number=new_id).exists()


def test_a_preview_made_untrue_by_a_change_of_the_roll_is_refused(tree, admin):
    differs = tree["m1"][2]
    new_id = factories.id_number()
    data = xlsx([person("新党员", new_id, group=""), person(differs.name, differs.id_number, phone="13900001111", group="第二党小组")])
    token = stage(data, admin)
    _, seen = roster.preview_staged(token, actor=admin)
    # between preview and confirm, the differing member is corrected through 更正信息
    services.member_update(differs, actor=admin, reason="电话更新", phone="13900001111")
    before = state()
    result = roster.confirm_staged(token, actor=admin, seen=seen.fingerprint)
    assert result.created == 0 and result.notice == roster.STALE and state() == before
    assert "预览已不准确" in result.notice
    assert len(result.same) == 1 and not result.differs  # what the page now shows
    # the kept file is still there: confirming what is now shown imports it
    again = roster.confirm_staged(token, actor=admin, seen=result.fingerprint)
    assert again.created == 1 and Member.objects.filter(id_number=new_id).exists()


def test_someone_enrolled_elsewhere_meanwhile_makes_the_preview_stale(tree, admin):
    new_id = factories.id_number()
    token = stage(xlsx([person("新党员", new_id, group="")]), admin)
    _, seen = roster.preview_staged(token, actor=admin)
    factories.member(tree["b2"], "新党员", id_number=new_id, birth_date=dt.date(1980, 5, 17))
    result = roster.confirm_staged(token, actor=admin, seen=seen.fingerprint)
    assert result.created == 0 and result.notice == roster.STALE
    assert "已在“第二党支部”在册" in result.errors[0].reason
    assert Member.objects.filter(id_number=new_id).count() == 1


def test_the_kept_file_is_only_its_uploaders(tree, admin, secretary):
    new_id = factories.id_number()
    token = stage(xlsx([person("新党员", new_id, group="")]), secretary)
    _, seen = roster.preview_staged(token, actor=secretary)
    with pytest.raises(roster.PendingGone):
        roster.preview_staged(token, actor=admin)
    with pytest.raises(roster.PendingGone):
        roster.confirm_staged(token, actor=admin, seen=seen.fingerprint)
    roster.discard_staged(token, actor=admin)  # another's discard does nothing
    assert not Member.objects.filter(id_number=new_id).exists()
    assert roster.confirm_staged(token, actor=secretary, seen=seen.fingerprint).created == 1


def test_an_expired_or_altered_kept_file_is_gone(tree, admin, settings):
    data = xlsx([person("新党员", factories.id_number(), group="")])
    token = stage(data, admin)
    folder = settings.QMS_ROSTER_PENDING_DIR
    (folder / f"{token}.data").write_bytes(data + b"changed")  # its sha256 no longer matches
    with pytest.raises(roster.PendingGone, match="已过期或不存在"):
        roster.preview_staged(token, actor=admin)
    assert not (folder / f"{token}.json").exists()
    token = stage(data, admin)
    meta = folder / f"{token}.json"
    old = json.loads(meta.read_text(encoding="utf-8"))
    old["uploaded"] = (dt.datetime.fromisoformat(old["uploaded"]) - roster_pending.lifetime()
                       - dt.timedelta(minutes=1)).isoformat()
    meta.write_text(json.dumps(old), encoding="utf-8")
    with pytest.raises(roster.PendingGone):
        roster.preview_staged(token, actor=admin)
    assert roster_pending.load("../../etc/passwd", user=admin) is None


def test_an_oversize_or_empty_upload_is_not_kept(tree, admin, settings):
    settings.QMS_MAX_UPLOAD_BYTES = 100
    with pytest.raises(roster.RosterFileError, match="文件过大"):
        stage(b"x" * 101, admin)
    with pytest.raises(roster.RosterFileError, match="文件是空的"):
        stage(b"  ", admin)


# ------------------------------------------------------------------------------ pages


def upload(client, data: bytes):
    return client.post(reverse("roster_import"), {"file": SimpleUploadedFile("花名册.xlsx", data)})


def test_secretary_previews_and_confirms_on_the_pages(client, tree, secretary, mixed):
    client.force_login(secretary)
    data, _ = mixed
    body, _token, _seen = upload_page(client, "roster_import", data, "花名册.xlsx")
    for text in ("新建 <strong>1</strong> 人", "未变化 <strong>1</strong> 人", "与花名册不同 <strong>1</strong> 人",
                 "错误 <strong class=\"bad\">1</strong> 处", "花名册里", "文件里", "导入不会修改他们的信息", "更正信息",
                 "现在还没有保存任何数据", "性 别"):
        assert text in body, text
    assert "confirm-import" not in body
    fixed = xlsx([person("页面新建", factories.id_number(), group="")])
    _body, token, seen = upload_page(client, "roster_import", fixed, "花名册.xlsx")
    r = client.post(reverse("roster_confirm"), {"token": token, "seen": seen})
    assert r.status_code == 302 and Member.objects.filter(name="页面新建").exists()
    assert "页面新建" in client.get(reverse("member_list")).content.decode()


def test_a_stale_confirm_shows_the_new_preview(client, tree, admin):
    client.force_login(admin)
    new_id = factories.id_number()
    r = upload(client, xlsx([person("新党员", new_id, group="")]))
    token = r["Location"].rstrip("/").rsplit("/", 1)[1]
    factories.member(tree["b2"], "新党员", id_number=new_id)
    r = client.post(reverse("roster_confirm"), {"token": token, "seen": "0" * 64})
    body = r.content.decode()
    assert r.status_code == 200 and "预览已不准确" in body and "已在“第二党支部”在册" in body


def test_another_users_token_and_a_member_without_office_on_the_pages(client, tree, admin, secretary):
    client.force_login(admin)
    r = upload(client, xlsx([person("新党员", factories.id_number(), group="")]))
    url = r["Location"]
    token = url.rstrip("/").rsplit("/", 1)[1]
    client.force_login(secretary)
    r = client.get(url)
    assert r.status_code == 302 and r["Location"] == reverse("roster_import")
    assert "已过期或不存在" in client.get(r["Location"]).content.decode()
    r = client.post(reverse("roster_confirm"), {"token": token, "seen": "x"})
    assert r.status_code == 302 and Member.objects.filter(name="新党员").count() == 0
    client.force_login(account(tree["m1"][3], "plain"))
    assert client.get(url).status_code == 403
    assert client.post(reverse("roster_confirm"), {"token": token, "seen": "x"}).status_code == 403
    # the uploader gives it up: the kept file is deleted
    client.force_login(admin)
    client.post(reverse("roster_discard"), {"token": token})
    assert roster_pending.load(token, user=admin) is None


# ------------------------------------------------------------------------------ column mapping

OWN_HEAD = ["序号", "同志姓名", "性别", "身份证号码", "党员类别", "入党时间", "转正时间", "隶属支部"]


def own_file(name: str, idn: str) -> bytes:
    """A roster whose 姓名 and 支部 columns carry words no synonym knows."""
    return office_sheet([[name, "男", idn, "正式党员", "2005-07-01", "2006-07-01", "第一党支部"]], OWN_HEAD,
                        title="党员名册")


def test_unrecognised_required_headers_are_mapped_saved_and_reused(tree, admin, secretary):
    token = stage(own_file("甲同志", factories.id_number()), admin)
    _, result = roster.preview_staged(token, actor=admin)
    need = result.columns
    assert need is not None and need.missing == ["name", "unit"] and need.row == 2
    assert {"同志姓名", "隶属支部", "序号"} <= set(need.unknown) and "性别" not in need.unknown
    assert "缺少必需的列:姓名、所在党组织编码" in result.errors[0].reason
    before = state()
    saved = roster.save_column_mapping(token, actor=admin, choices={"name": "同志姓名", "unit": "隶属支部", "phone": ""})
    assert {(m.unit, m.header, m.field) for m in saved} == {(tree["committee"], "同志姓名", "name"),
                                                           (tree["committee"], "隶属支部", "unit")}
    assert [e.action for e in LedgerEntry.objects.order_by("-seq")[:2]] == ["roster_mapping.set"] * 2
    assert Member.objects.count() == before[0]
    _, result = roster.preview_staged(token, actor=admin)  # the same kept file, read with the mapping
    assert result.ok and result.columns is None and [r.name for r in result.to_create] == ["甲同志"]
    assert result.mapped == [("同志姓名", "姓名"), ("隶属支部", "所在党组织编码")]
    assert roster.confirm_staged(token, actor=admin, seen=result.fingerprint).created == 1
    # the next file from this organisation, and from a branch below it, is read without asking
    for who in (admin, secretary):
        t = stage(own_file(f"乙{who.pk}", factories.id_number()), who)
        _, again = roster.preview_staged(t, actor=who)
        assert again.ok and again.columns is None and len(again.to_create) == 1
    assert ledger.verify().ok


def test_a_branchs_mapping_is_the_branchs_own(tree, admin, secretary):
    """Saved by 第一党支部's secretary: used for that branch's imports, not the committee's."""
    from qms.models import RosterColumnMapping

    t = stage(own_file("丙", factories.id_number()), secretary)
    roster.save_column_mapping(t, actor=secretary, choices={"name": "同志姓名", "unit": "隶属支部"})
    assert roster.preview_staged(t, actor=secretary)[1].ok
    assert RosterColumnMapping.objects.get(header="同志姓名").unit == tree["b1"]
    t = stage(own_file("丁", factories.id_number()), admin)
    assert roster.preview_staged(t, actor=admin)[1].columns is not None
    assert ledger.verify().ok


@pytest.mark.parametrize(("choices", "message"), [
    ({"name": "同志姓名"}, "请为必填项目选择文件中的列:所在党组织编码"),
    ({"name": "同志姓名", "unit": "同志姓名"}, "同一列不能对应两个项目"),
    ({"name": "同志姓名", "unit": "不存在的列"}, "文件表头中没有可对应的列“不存在的列”"),
    ({"name": "同志姓名", "unit": "性别"}, "文件表头中没有可对应的列“性别”"),  # already 性别's column
])
def test_a_wrong_mapping_is_refused_and_nothing_saved(tree, admin, choices, message):
    from django.core.exceptions import ValidationError

    token = stage(own_file("甲同志", factories.id_number()), admin)
    before = state()
    with pytest.raises(ValidationError, match=message):
        roster.save_column_mapping(token, actor=admin, choices=choices)
    assert state() == before


def test_the_mapping_form_on_the_page(client, tree, secretary):
    client.force_login(secretary)
    r = upload(client, own_file("页面同志", factories.id_number()))
    url = r["Location"]
    body = client.get(url).content.decode()
    assert "设置列对应" in body and "姓名(必填)" in body and "<option>同志姓名</option>" in body
    assert "confirm-import" not in body and 'name="map_name"' in body
    token = url.rstrip("/").rsplit("/", 1)[1]
    r = client.post(reverse("roster_columns"), {"token": token, "map_name": "同志姓名", "map_unit": "隶属支部"})
    assert r["Location"] == url
    body = client.get(url).content.decode()
    assert "已按本组织保存的列对应读取" in body and "文件列“同志姓名”→姓名" in body and "confirm-import" in body
    r = client.post(reverse("roster_columns"), {"token": token, "map_name": "同志姓名"}, follow=True)
    assert "无需设置列对应" in r.content.decode()
