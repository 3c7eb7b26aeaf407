"""Document control as a user sees it: register, procedure page, diff, rule set, printed
form as PDF with embedded CJK fonts (checked with poppler's pdftotext/pdffonts)."""
from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import pytest
from django.urls import reverse
from django.utils import timezone

from procedures.library_loader import load_library
from procedures.models import Document, DocumentVersion, RecordForm, VersionStatus
from qms import services as core
from qms.models import Role, UnitKind
from qms.pdfcheck import Margins, check_pdf
from tests import factories
from tests.conftest import IN_CI

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(tree):
    load_library()
    admin = factories.user("adm")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=tree["committee"], valid_from=dt.date(2020, 1, 1))
    reviewer = factories.user("rev")
    core.role_grant(actor=None, user=reviewer, role=Role.ADMIN, unit=tree["committee"], valid_from=dt.date(2020, 1, 1))
    approver = factories.user("apr")
    core.role_grant(actor=None, user=approver, role=Role.ADMIN, unit=tree["committee"], valid_from=dt.date(2020, 1, 1))
    sec = factories.user("sec")
    core.member_update(tree["m2"][0], actor=None, reason="开通账号", user=sec)
    core.position_assign(actor=None, member=tree["m2"][0], unit=tree["b2"], title="secretary", start=dt.date(2024, 1, 1))
    return {"admin": admin, "reviewer": reviewer, "approver": approver, "sec": sec, **tree}


def test_register_lists_effective_documents(client, site):
    client.force_login(site["sec"])
    body = client.get(reverse("procedure_register")).content.decode()
    assert "现行有效文件清单" in body and "DJ-CX-01" in body and "支部党员大会程序" in body and "DJ-CX-25" in body
    body = client.get(reverse("procedure_register"), {"status": "draft"}).content.decode()
    assert "DJ-CX-01" not in body


def test_procedure_page_shows_5w1h_obligations_and_sources(client, site):
    client.force_login(site["sec"])
    doc = Document.objects.get(owner=None, code="DJ-CX-01")
    body = client.get(reverse("procedure_detail", args=[doc.pk])).content.decode()
    for text in ("<th>目的</th>", "每季度至少1次", "《关于进一步加强和改进机关党的建设的实施意见》三(二)2", "DJ-JL-01", "版本历史"):
        assert text in body, text


def test_adopt_override_through_the_pages_and_see_it_in_the_rule_set(client, site):
    c = site["committee"]
    lib = Document.objects.get(owner=None, library_key="branch_committee_meeting")
    client.force_login(site["admin"])
    r = client.post(reverse("procedure_adopt", args=[lib.pk]) + f"?unit={c.pk}", {"unit": c.pk, "label": "测试-2026", "change_reason": "本委制度每两月一次"})
    assert r.status_code == 302
    own = Document.objects.get(owner=c, based_on=lib)
    v = own.versions.get(label="测试-2026")
    o = v.obligations.get(key="branch_committee_meeting")
    r = client.post(reverse("procedure_obligation_edit", args=[o.pk]), {"title": o.title, "count": "", "per": "", "every_months": 2,
                                                                        "grace_days": 0, "source": "本委《细则》第3条", "reason": "本委制度"})
    assert r.status_code == 302
    client.post(reverse("procedure_version_action", args=[v.pk, "submit"]))
    client.force_login(site["reviewer"])
    assert "文件审批待办" in (home := client.get(reverse("home")).content.decode()) and "待审核" in home
    client.force_login(site["admin"])
    # the drafter may not review: refused with a message, state unchanged
    client.post(reverse("procedure_version_action", args=[v.pk, "review"]), {"password": "pass-12345"}, follow=True)
    v.refresh_from_db()
    assert v.reviewed_by is None
    client.force_login(site["reviewer"])
    client.post(reverse("procedure_version_action", args=[v.pk, "review"]), {"password": "pass-12345"})
    client.force_login(site["approver"])
    r = client.post(reverse("procedure_version_action", args=[v.pk, "approve"]), {"effective_on": timezone.localdate().isoformat(), "password": "pass-12345"}, follow=True)
    v.refresh_from_db()
    assert v.status == VersionStatus.EFFECTIVE, r.content.decode()[:500]
    for unit in (site["b1"], site["b2"]):  # both branches under the committee get 6 a year
        for title, m in zip(("organization", "propaganda"), list(unit.memberships.all())[1:3], strict=True):
            core.position_assign(actor=None, member=m.member, unit=unit, title=title, start=dt.date(2024, 1, 1))
    core.position_assign(actor=None, member=site["m1"][0], unit=site["b1"], title="secretary", start=dt.date(2024, 1, 1))
    body = client.get(reverse("procedure_unit_rules", args=["B1"])).content.decode()
    assert "每2个月至少1次" in body and "测试党委的 DJ-CX-02 测试-2026" in body
    body = client.get(reverse("procedure_diff", args=[own.pk]), {"a": lib.effective_version().pk, "b": v.pk}).content.decode()
    assert "每2个月至少1次" in body and "每月至少1次" in body


def test_documents_of_another_committee_are_not_visible(client, site):
    other = factories.unit("OC", UnitKind.COMMITTEE, name="别的党委")
    lib = Document.objects.get(owner=None, library_key="party_lecture")
    from procedures import services

    v = services.document_adopt(lib, unit=other, actor=None, label="别-1", change_reason="别的制度")
    client.force_login(site["sec"])
    assert client.get(reverse("procedure_detail", args=[v.document_id])).status_code == 404
    assert "别的党委" not in client.get(reverse("procedure_register"), {"status": "draft"}).content.decode()


def _tool(name):
    if shutil.which(name) is None:
        if IN_CI:
            pytest.fail(f"CI 必须安装 {name}(poppler-utils)")
        pytest.skip(f"需要 {name}")


def test_every_printed_record_form_passes_the_layout_check(client, site, tmp_path):
    """Each form of the library as printed (blank) keeps within its margins, nothing overlapping."""
    _tool("pdftoppm")
    client.force_login(site["sec"])
    forms = list(RecordForm.objects.filter(owner__isnull=True).order_by("code", "version"))
    assert len(forms) >= 10
    for form in forms:
        pdf = tmp_path / f"{form.code}-{form.version}.pdf"
        pdf.write_bytes(client.get(reverse("procedure_form_pdf", args=[form.pk])).content)
        assert check_pdf(pdf, Margins(18, 16, 20, 16)) == [], form.code


def test_printed_record_form_is_a_pdf_with_embedded_cjk_fonts(client, site, tmp_path):
    _tool("pdftotext")
    client.force_login(site["sec"])
    form = RecordForm.objects.get(code="DJ-JL-01")
    r = client.get(reverse("procedure_form_pdf", args=[form.pk]))
    assert r["Content-Type"] == "application/pdf" and r.content.startswith(b"%PDF-")
    pdf = tmp_path / "form.pdf"
    pdf.write_bytes(r.content)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    flat = "".join(text.split())  # table cells wrap lines; compare without white space
    for s in ("会议记录(三会)", "DJ-JL-01", "出席、缺席、列席人员", "决议分工落实情况", "党组织:第二党支部"):
        assert s in flat, s
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    cjk = [line for line in fonts.splitlines() if "Noto-Serif-CJK" in line or "Noto-Sans-CJK" in line]
    assert any("Serif" in line for line in cjk) and any("Sans" in line for line in cjk), fonts
    assert all(line.split()[-5] == "yes" for line in cjk), fonts  # the "emb" column: embedded
    assert check_pdf(pdf, Margins(18, 16, 20, 16)) == []  # every page within its margins, nothing overlapping


def test_overdue_review_shows_on_the_admin_home(client, site):
    v = DocumentVersion.objects.get(document__code="DJ-CX-01", document__owner=None, status=VersionStatus.EFFECTIVE)
    DocumentVersion.objects.filter(pk=v.pk).update(next_review_on=dt.date(2020, 1, 1))
    client.force_login(site["admin"])
    body = client.get(reverse("home")).content.decode()
    assert "逾期未评审的体系文件" in body and "DJ-CX-01" in body
    client.force_login(site["sec"])
    assert "逾期未评审" not in client.get(reverse("home")).content.decode()


def test_form_preview_shows_required_elements(client, site):
    client.force_login(site["sec"])
    form = RecordForm.objects.get(code="DJ-JL-01")
    body = client.get(reverse("procedure_form", args=[form.pk])).content.decode()
    assert "决议分工落实情况" in body and body.count('<span class="bad">*</span>') >= 7 and "打印(A4 PDF)" in body


def test_readers_do_not_see_drafts(client, site):
    from procedures import services

    lib = Document.objects.get(owner=None, library_key="party_lecture")
    v = services.document_adopt(lib, unit=site["committee"], actor=site["admin"], label="草-1", change_reason="本委制度")
    client.force_login(site["sec"])  # a branch secretary below the committee: reader of its documents
    assert "草-1" not in client.get(reverse("procedure_register"), {"status": "draft"}).content.decode()
    assert "草-1" not in client.get(reverse("procedure_detail", args=[v.document_id])).content.decode()
    client.force_login(site["admin"])
    assert "草-1" in client.get(reverse("procedure_register"), {"status": "draft"}).content.decode()
