"""Input limits (输入上限): text length per field kind from ``qms/rules/limits.toml`` on every
save and on record elements, and ZIP-based uploads (Office files, the roster import) checked
unpacked, in memory, against zip bombs — through the pages a user posts to."""
from __future__ import annotations

import datetime as dt
import io
import os
import struct
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from audits.capa import services as capa
from audits.models import NCAttachment, NCState, Nonconformity
from procedures.library_loader import load_library
from procedures.models import DocumentVersion
from qms import archives, limits
from qms import services as core
from qms.models import LedgerEntry, Member, Role, Unit, UnitKind
from tests import factories
from workflows.models import Attachment, Occurrence, RemovalRequest, State
from workflows.scheduler import schedule

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
MB = 1024 * 1024

CONTENT_TYPES = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                 b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                 b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                 b'<Default Extension="xml" ContentType="application/xml"/>'
                 b'<Override PartName="/word/document.xml" '
                 b'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
RELS = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        b'Target="word/document.xml"/></Relationships>')
DOCUMENT = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            '<w:body><w:p><w:r><w:t>支部党员大会签到表</w:t></w:r></w:p></w:body></w:document>').encode()


def docx(extra: dict[str, bytes | int] | None = None) -> bytes:
    """A valid .docx (content types, relationships, the document part); ``extra`` parts are
    bytes, or an int: that many zero bytes, written in 1 MB chunks (never held whole)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("_rels/.rels", RELS)
        z.writestr("word/document.xml", DOCUMENT)
        for name, body in (extra or {}).items():
            if isinstance(body, int):
                with z.open(name, "w") as f:
                    for _ in range(body // MB):
                        f.write(bytes(MB))
            else:
                z.writestr(name, body)
    return buf.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A real zip bomb: a .docx whose one extra part is 200 MB of zeros (about 200 KB packed)."""
    data = docx({"word/media/image1.bin": 200 * MB})
    assert len(data) < 400 * 1024  # small enough to pass the upload size limit
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert sum(i.file_size for i in z.infolist()) > 200 * MB
    return data


def upload(data: bytes, name="签到表.docx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document")


def media_files(root) -> list[str]:
    return [os.path.join(d, f) for d, _s, fs in os.walk(root) for f in fs]


@pytest.fixture
def org(db, settings, tmp_path):
    return branch_with_secretary(settings, tmp_path)


def branch_with_secretary(settings, tmp_path) -> dict:
    """测试党委 → 第一党支部 with 4 members, its 书记 (login sec1) and a 体系管理员 (adm), the library
    loaded and the year scheduled; the 支部党员大会 of this period (uploads under ``tmp_path``)."""
    settings.MEDIA_ROOT = str(tmp_path)
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b1 = factories.unit("B1", UnitKind.BRANCH, parent=c, name="第一党支部")
    m1 = [factories.member(b1, f"一支{i}") for i in range(4)]
    sec, adm = factories.user("sec1"), factories.user("adm")
    core.member_update(m1[0], actor=None, reason="账号", user=sec)
    core.position_assign(actor=None, member=m1[0], unit=b1, title="secretary", start=dt.date(2024, 1, 1))
    core.role_grant(actor=None, user=adm, role=Role.ADMIN, unit=c, valid_from=dt.date(2020, 1, 1))
    schedule(today=TODAY)
    occ = Occurrence.objects.filter(unit=b1, obligation_key="branch_general_meeting", period_start__lte=TODAY).order_by("-period_start").first()
    return {"c": c, "b1": b1, "m1": m1, "sec": sec, "adm": adm, "occ": occ, "media": tmp_path,
            "day": max(occ.period_start, TODAY - dt.timedelta(days=1))}


def _post(client, occ, action, data):
    return client.post(reverse("occurrence_action", args=[occ.pk, action]), data, follow=True).content.decode()


def _planned(client, org):
    client.force_login(org["sec"])
    _post(client, org["occ"], "plan", {"planned_date": org["day"].isoformat(), "place": "党员活动室", "topic": "学习党章"})
    occ = Occurrence.objects.get(pk=org["occ"].pk)
    assert occ.state == State.PLANNED and occ.record
    return occ


# ------------------------------------------------------------------------------ text limits


def test_huge_place_and_topic_in_the_plan_form_are_refused_and_nothing_is_saved(client, org):
    occ = org["occ"]
    client.force_login(org["sec"])
    seq = LedgerEntry.objects.count()
    page = _post(client, occ, "plan", {"planned_date": org["day"].isoformat(), "place": "会" * 100_000, "topic": "学习党章"})
    assert "「地点」最多100个字,现为100000个字" in page
    page = _post(client, occ, "plan", {"planned_date": org["day"].isoformat(), "place": "党员活动室", "topic": "议" * 200_000})
    assert "「主题/议程」最多200个字,现为200000个字" in page
    occ.refresh_from_db()
    assert occ.state == State.OPEN and occ.place == "" and occ.topic == "" and not hasattr(occ, "record")
    assert LedgerEntry.objects.count() == seq


def test_huge_topic_in_the_record_form_is_refused_and_the_record_unchanged(client, org):
    occ = _planned(client, org)
    before, seq = dict(occ.record.elements), LedgerEntry.objects.count()
    page = _post(client, occ, "save", {"topic": "议" * 200_000, "speeches": "发言若干"})
    assert "「主题」最多200个字,现为200000个字" in page
    page = _post(client, occ, "save", {"place": "地" * 100_000})
    assert "最多100个字,现为100000个字" in page
    occ.record.refresh_from_db()
    assert occ.record.elements == before and LedgerEntry.objects.count() == seq
    # within the limits it saves
    _post(client, occ, "save", {"topic": "议" * 200, "speeches": "发言若干"})
    occ.record.refresh_from_db()
    assert occ.record.elements["topic"] == "议" * 200


def test_a_long_text_in_a_nonconformity_is_refused(client, org):
    client.force_login(org["adm"])
    seq = LedgerEntry.objects.count()
    page = client.post(reverse("nc_raise"), {"unit": org["b1"].pk, "source": "spot_check", "grade": "minor", "clause": "DJ-CX-02",
                                             "requirement": "每月至少召开1次支委会", "evidence": "证" * 200_000}, follow=True).content.decode()
    assert "「客观证据」最多50000个字,现为200000个字" in page
    assert not Nonconformity.objects.exists() and LedgerEntry.objects.count() == seq
    nc = capa.nc_raise(actor=org["adm"], unit=org["b1"], source="spot_check", grade="minor", clause="DJ-CX-02",
                       requirement="每月至少召开1次支委会", evidence="3月无支委会记录")
    capa.nc_acknowledge(nc, actor=org["sec"])
    with pytest.raises(ValidationError, match="「五问法」最多2000个字"):  # a JSON list: each answer limited
        capa.nc_analyse(nc, actor=org["sec"], why=["为何未开会", "问" * 3000], root_cause="缺少制度")
    nc.refresh_from_db()
    assert nc.state == NCState.ACKNOWLEDGED and nc.why == []


def _override(tmp_path, settings, text: str) -> None:
    path = tmp_path / "limits-override.toml"
    path.write_text(text, encoding="utf-8")
    settings.QMS_LIMITS_FILE = str(path)


@pytest.mark.parametrize(("kind", "make"), [
    ("short", lambda s: Unit(code="X", name=s, kind=UnitKind.BRANCH)),
    ("place", lambda s: Occurrence(place=s)),
    ("topic", lambda s: Occurrence(topic=s)),
    ("reason", lambda s: RemovalRequest(reason=s)),
    ("long", lambda s: Nonconformity(evidence=s)),
    ("document", lambda s: DocumentVersion(body=s)),
])
def test_each_kind_takes_its_limit_from_the_data(kind, make, settings, tmp_path):
    default = limits.table().kinds[kind]
    assert default > 5
    with pytest.raises(ValidationError, match="最多"):
        make("字" * (default + 1)).save()
    _override(tmp_path, settings, f"[text.{kind}]\nvalue = 5\n")
    assert limits.table().kinds[kind] == 5
    with pytest.raises(ValidationError, match="最多5个字,现为6个字"):
        make("字" * 6).save()  # refused before any row is written
    limits.check_instance(make("字" * 5))  # five is allowed


def test_an_override_naming_an_unknown_kind_is_refused_when_read(settings, tmp_path):
    from django.core.exceptions import ImproperlyConfigured

    _override(tmp_path, settings, '[text.fields]\n"workflows.Occurrence.place" = "adress"\n')
    with pytest.raises(ImproperlyConfigured, match="adress"):
        limits.table()


def test_an_override_changes_a_record_element_and_a_service(client, org, settings, tmp_path):
    occ = _planned(client, org)
    _override(tmp_path, settings, "[text.topic]\nvalue = 8\n[text.place]\nvalue = 6\n")
    assert "「主题」最多8个字,现为9个字" in _post(client, occ, "save", {"topic": "议" * 9})
    assert "「地点」最多6个字,现为7个字" in _post(client, occ, "plan", {"planned_date": org["day"].isoformat(), "place": "地" * 7, "topic": "学习"})
    # a kind's value cannot widen a database column: 地点 stays at its 100 characters
    _override(tmp_path, settings, "[text.place]\nvalue = 500\n")
    assert limits.field_limit(Occurrence, "place") == 100


def test_update_fields_check_only_what_is_written(org, settings, tmp_path):
    """A row stored before a limit was lowered still moves through its states."""
    Occurrence.objects.filter(pk=org["occ"].pk).update(topic="议" * 150)  # fixture: an old row
    _override(tmp_path, settings, "[text.topic]\nvalue = 100\n")
    occ = Occurrence.objects.get(pk=org["occ"].pk)
    occ.save(update_fields=["state"])
    with pytest.raises(ValidationError, match="「主题/议程」最多100个字,现为150个字"):
        occ.save()


# ------------------------------------------------------------------------------ zip bombs


def test_a_zip_bomb_docx_is_refused_on_an_occurrence_record(client, org, bomb):
    occ = _planned(client, org)
    seq = LedgerEntry.objects.count()
    page = client.post(reverse("occurrence_action", args=[occ.pk, "attach"]), {"file": upload(bomb)}, follow=True).content.decode()
    assert "文件解压后超过100MB,可能是压缩炸弹,已拒绝" in page
    assert not Attachment.objects.exists() and media_files(org["media"]) == [] and LedgerEntry.objects.count() == seq
    # an ordinary small .docx is still accepted
    page = client.post(reverse("occurrence_action", args=[occ.pk, "attach"]), {"file": upload(docx())}, follow=True).content.decode()
    assert Attachment.objects.exists(), page[page.find("class=\"msg"):][:600]
    att = Attachment.objects.get()
    assert att.name == "签到表.docx" and len(media_files(org["media"])) == 1


def test_a_zip_bomb_docx_is_refused_as_nonconformity_evidence(client, org, bomb):
    nc = capa.nc_raise(actor=org["adm"], unit=org["b1"], source="spot_check", grade="minor", clause="DJ-CX-02",
                       requirement="每月至少召开1次支委会", evidence="3月无支委会记录")
    capa.nc_acknowledge(nc, actor=org["sec"])
    capa.nc_analyse(nc, actor=org["sec"], why=["为什么"], root_cause="制度缺失")
    capa.nc_plan(nc, actor=org["sec"], correction="补开", corrective_action="建立制度", owner=org["m1"][1], due_date=TODAY + dt.timedelta(days=9))
    client.force_login(org["sec"])
    seq = LedgerEntry.objects.count()
    page = client.post(reverse("nc_action", args=[nc.pk, "implement"]),
                       {"evidence": "已补开", "done_on": TODAY.isoformat(), "evidence_file": upload(bomb)}, follow=True).content.decode()
    assert "可能是压缩炸弹,已拒绝" in page
    nc.refresh_from_db()
    assert nc.state == NCState.PLANNED and not NCAttachment.objects.exists()
    assert media_files(org["media"]) == [] and LedgerEntry.objects.count() == seq
    client.post(reverse("nc_action", args=[nc.pk, "implement"]),
                {"evidence": "已补开", "done_on": TODAY.isoformat(), "evidence_file": upload(docx(), "整改记录.docx")})
    nc.refresh_from_db()
    assert nc.state == NCState.IMPLEMENTED and nc.attachments.get().name == "整改记录.docx"


def test_a_zip_bomb_xlsx_is_refused_by_the_roster_import_before_openpyxl(client, org, bomb, monkeypatch):
    import qms.roster_files

    def never(*a, **k):
        raise AssertionError("openpyxl must not open a zip bomb")

    monkeypatch.setattr(qms.roster_files, "load_workbook", never)
    client.force_login(org["adm"])
    counts = Member.objects.count(), LedgerEntry.objects.count()
    xlsx = SimpleUploadedFile("花名册.xlsx", bomb, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    page = client.post(reverse("roster_import"), {"file": xlsx}, follow=True).content.decode()
    assert "文件解压后超过100MB,可能是压缩炸弹,已拒绝" in page and "未保存任何数据" in page
    assert (Member.objects.count(), LedgerEntry.objects.count()) == counts and media_files(org["media"]) == []


def test_a_too_long_text_in_a_roster_row_is_named_by_row_and_column(org):
    from openpyxl import Workbook

    from qms import roster

    wb = Workbook()
    wb.active.append(roster.HEADERS)
    values = {"姓名": "李" * 60, "性别": "男", "身份证号": factories.id_number(), "出生日期": "1985-03-02", "民族": "汉族",
              "学历": "本科", "手机号": "13900001111", "人员类别": "正式党员", "入党日期": "2010-07-01", "转正日期": "2011-07-01",
              "所在党组织编码": "B1", "党小组编码": "", "加入日期": "2024-01-01"}
    wb.active.append([values[h] for h in roster.HEADERS])
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    counts = Member.objects.count(), LedgerEntry.objects.count()
    result = roster.import_roster(buf, actor=org["adm"])
    assert [(e.row, e.column, e.reason) for e in result.errors] == [(2, "姓名", "「姓名」最多50个字,现为60个字")]
    assert (Member.objects.count(), LedgerEntry.objects.count()) == counts


def test_too_many_parts_unsafe_names_high_ratio_and_lying_sizes_are_refused(settings, tmp_path):
    many = docx({f"customXml/item{i}.xml": b"<a/>" for i in range(1001)})
    with pytest.raises(ValidationError, match="个部件,超过1000个"):
        archives.check_archive(many)
    with pytest.raises(ValidationError, match="文件夹以外"):
        archives.check_archive(docx({"../../etc/cron.d/x": b"x"}))
    with pytest.raises(ValidationError, match="文件夹以外"):
        archives.check_archive(docx({"/abs/x.xml": b"x"}))
    with pytest.raises(ValidationError, match=r"压缩了\d+倍\(上限100倍\)"):
        archives.check_archive(docx({"word/media/zeros.bin": 2 * MB}))
    archives.check_archive(docx({"word/media/image1.png": os.urandom(300 * 1024)}))  # incompressible: fine
    # a part that declares 1 KB in its headers but inflates to 1 MB (readers trust the data)
    data = bytearray(docx({"word/media/zeros.bin": MB}))
    cd = data.index(b"PK\x01\x02")
    while True:  # the central record and local header of the zeros part
        n = struct.unpack("<H", data[cd + 28:cd + 30])[0]
        if data[cd + 46:cd + 46 + n] == b"word/media/zeros.bin":
            break
        cd = data.index(b"PK\x01\x02", cd + 4)
    local = struct.unpack("<I", data[cd + 42:cd + 46])[0]
    data[cd + 24:cd + 28] = struct.pack("<I", 1024)
    data[local + 22:local + 26] = struct.pack("<I", 1024)
    with pytest.raises(ValidationError, match="实际大小与声明不符"):
        archives.check_archive(bytes(data))
    # the limits are data: 3 parts allowed → the plain .docx (3 parts) passes, 4 do not
    _override(tmp_path, settings, "[archive]\nmax_entries = 3\n")
    archives.check_archive(docx())
    with pytest.raises(ValidationError, match="超过3个"):
        archives.check_archive(docx({"word/styles.xml": b"<a/>"}))
