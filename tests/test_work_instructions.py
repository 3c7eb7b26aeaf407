"""作业文件 (seed 004 篇8, the fourth document layer): a work instruction sits under a procedure
(``Document.parent``), goes through the same versioning and approval as every controlled
document, and is shown under its procedure; any other parent, or a parent on another kind of
document, is refused in Chinese."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from procedures import services as psvc
from procedures.models import Document, DocumentKind, VersionStatus
from qms import ledger
from qms.permissions import NotPermitted
from tests.test_permissions import build_org

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


@pytest.fixture
def org(db):
    return build_org()


def _procedure(owner=None) -> Document:
    return (Document.objects.filter(kind=DocumentKind.PROCEDURE, owner=owner, versions__status=VersionStatus.EFFECTIVE)
            .order_by("code").first())


def test_a_work_instruction_under_a_procedure_is_drafted_reviewed_approved_and_shown_under_it(org, client):
    proc = _procedure()
    v = psvc.work_instruction_create(proc, unit=org["b1"], actor=org["sec_b1"], code=f"{proc.code}-ZY01",
                                     title="支委会会议记录填写作业指导书", label="1.0")
    doc = v.document
    assert (doc.kind, doc.parent, doc.owner, v.status) == (DocumentKind.WORK_INSTRUCTION, proc, org["b1"], VersionStatus.DRAFT)
    assert ledger.history(doc).first().action == "document.create"
    # the same versioning and approval as every document: drafted, submitted, reviewed by another, approved
    psvc.version_update(v, actor=org["sec_b1"], what="会议记录须写明时间、地点、主持人、出席和缺席人员、议题和决议")
    psvc.version_submit(v, actor=org["sec_b1"])
    with pytest.raises(NotPermitted, match="起草人不能审核"):  # the drafter does not review their own version
        psvc.version_review(v, actor=org["sec_b1"], comment="同意", password="pass-12345")
    psvc.version_review(v, actor=org["sec_c"], comment="同意", password="pass-12345")
    v = psvc.version_approve(v, actor=org["admin"], effective_on=TODAY, password="pass-12345")
    assert doc.effective_version() == v

    client.force_login(org["sec_b1"])
    page = client.get(f"/procedures/{proc.pk}/").content.decode()
    assert "<h2>作业文件</h2>" in page and f'href="/procedures/{doc.pk}/">支委会会议记录填写作业指导书</a>' in page
    assert "编制作业文件" in page  # the secretary may write one here
    own = client.get(f"/procedures/{doc.pk}/").content.decode()
    assert f'本作业文件细化程序文件 <a href="/procedures/{proc.pk}/">{proc.code} {proc.title}</a>' in own
    listed = client.get("/procedures/?kind=work_instruction").content.decode()
    assert f"属于 {proc.code} {proc.title}" in listed


def test_the_page_creates_one_and_a_reader_cannot(org, client):
    proc = _procedure()
    client.force_login(org["sec_b1"])
    r = client.post(f"/procedures/{proc.pk}/new-instruction/", {"unit": org["b1"].pk, "code": "ZY-01", "title": "党费收缴作业指导书",
                                                                "label": "1.0"})
    doc = Document.objects.get(code="ZY-01")
    assert r.status_code == 302 and doc.parent == proc
    client.force_login(org["member"])
    r = client.post(f"/procedures/{proc.pk}/new-instruction/", {"unit": org["b1"].pk, "code": "ZY-02", "title": "作业指导书",
                                                                "label": "1.0"})
    assert r.status_code == 403 and not Document.objects.filter(code="ZY-02").exists()


def test_refusals(org):
    proc = _procedure()
    manual = Document.objects.filter(kind=DocumentKind.MANUAL).first()
    cases = [
        (manual, org["b1"], "ZY-01", "作业文件只能归属于程序文件"),
        (proc, org["b1"], "", "请填写文件编号"),
    ]
    b2_version = psvc.document_adopt(proc, unit=org["b2"], actor=org["sec_b2"], label="2026.1", change_reason="本支部制度")
    cases.append((b2_version.document, org["b1"], "ZY-02", "是第二党支部的文件,不适用于第一党支部"))
    head = ledger.head()
    for parent, unit, code, reason in cases:
        with pytest.raises(ValidationError) as exc:
            psvc.work_instruction_create(parent, unit=unit, actor=org["admin"], code=code, title="作业指导书", label="1.0")
        assert reason in ";".join(exc.value.messages)
    assert ledger.head() == head and not Document.objects.filter(kind=DocumentKind.WORK_INSTRUCTION).exists()

    psvc.work_instruction_create(proc, unit=org["b1"], actor=org["admin"], code="ZY-01", title="作业指导书", label="1.0")
    with pytest.raises(ValidationError, match="文件编号 ZY-01 在第一党支部已被使用"):
        psvc.work_instruction_create(proc, unit=org["b1"], actor=org["admin"], code="ZY-01", title="另一份", label="1.0")
    with pytest.raises(NotPermitted):
        psvc.work_instruction_create(proc, unit=org["b1"], actor=org["member"], code="ZY-03", title="作业指导书", label="1.0")


def test_only_a_work_instruction_has_a_parent(org):
    proc, other = Document.objects.filter(kind=DocumentKind.PROCEDURE, owner__isnull=True).order_by("code")[:2]
    other.parent = proc
    with pytest.raises(ValidationError, match="只有作业文件可以归属于程序文件"):
        other.save()
    with pytest.raises(IntegrityError), transaction.atomic():  # nor by a write around the model
        Document.objects.filter(pk=other.pk).update(parent=proc)
    assert Document.objects.get(pk=other.pk).parent is None
