"""电子签名 (TRUST item 1): a signature needs the password re-entered, keeps signer, time,
meaning and the SHA-256 of what was signed; a signed thing changed afterwards — even by a raw
SQL UPDATE — or a signature moved to another object is named by verify_signatures and
verify_ledger; pages and printed forms show “张三 · 2026-07-01 10:32 · 批准”."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from audits.capa import services as capa
from audits.models import NCAttachment, Nonconformity
from procedures import services as docs
from procedures.models import Document, DocumentKind, DocumentVersion, VersionStatus
from qms import ledger, signatures
from qms import services as core
from qms.models import ElectronicSignature, Role, SignatureMeaning, UnitKind
from tests import factories

pytestmark = pytest.mark.django_db
D = dt.date
TODAY = timezone.localdate()
PW = "pass-12345"


@pytest.fixture
def org():
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b1 = factories.unit("B1", UnitKind.BRANCH, parent=c, name="第一党支部")
    m = [factories.member(b1, name) for name in ("张三", "李四", "王五")]
    users = {}
    for member, login in zip(m, ("drafter", "reviewer", "approver"), strict=True):
        users[login] = factories.user(login)
        core.member_update(member, actor=None, reason="账号", user=users[login])
        core.role_grant(actor=None, user=users[login], role=Role.ADMIN, unit=c, valid_from=D(2020, 1, 1))
    return {"c": c, "b1": b1, "m": m, **users}


def _document(org) -> Document:
    with transaction.atomic():
        doc = Document.objects.create(code="DJ-T-01", title="测试制度", kind=DocumentKind.PROCEDURE, owner=org["c"])
        ledger.record("document.create", doc, actor=org["drafter"])
    v = docs.version_create(doc, actor=org["drafter"], label="1.0", change_reason="")
    docs.version_update(v, actor=org["drafter"], what="每月召开一次支委会", body="第一条 支委会每月召开一次。")
    docs.version_submit(v, actor=org["drafter"])
    return DocumentVersion.objects.get(pk=v.pk)


def _verify() -> tuple[bool, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_signatures", stdout=out, stderr=err)
    except SystemExit as exc:
        return exc.code == 0, out.getvalue() + err.getvalue()
    return True, out.getvalue() + err.getvalue()


def test_a_wrong_password_refuses_the_act_and_saves_nothing(org):
    v = _document(org)
    head = ledger.head()
    for wrong in (None, "", "not-the-password"):
        with pytest.raises(ValidationError, match="登录密码") as exc:
            docs.version_review(v, actor=org["reviewer"], password=wrong)
        assert isinstance(exc.value, signatures.WrongPassword)
    v.refresh_from_db()
    assert v.reviewed_by_id is None and v.status == VersionStatus.UNDER_REVIEW
    assert not ElectronicSignature.objects.exists() and ledger.head() == head
    # another person's password is not the signer's
    with pytest.raises(signatures.WrongPassword):
        docs.version_review(v, actor=org["reviewer"], password="x" + PW)


def test_review_and_approval_are_signed_with_the_digest_of_the_version(org):
    v = _document(org)
    docs.version_review(v, actor=org["reviewer"], comment="同意", password=PW)
    v = docs.version_approve(DocumentVersion.objects.get(pk=v.pk), actor=org["approver"], effective_on=TODAY, password=PW)
    assert v.status == VersionStatus.EFFECTIVE
    review, approval = signatures.of(v)
    assert (review.meaning, review.signer_name, review.signer_id) == (SignatureMeaning.REVIEW, "李四", org["reviewer"].pk)
    assert (approval.meaning, approval.signer_name) == (SignatureMeaning.APPROVE, "王五")
    assert approval.digest == signatures.digest_of(v) and len(approval.digest) == 64
    # the version's own signer fields are the signature's: one time, one name
    assert (v.reviewed_at, v.reviewer_name, v.approved_at, v.approver_name) == (
        review.signed_at, review.signer_name, approval.signed_at, approval.signer_name)
    assert signatures.text(approval) == f"王五 · {timezone.localtime(approval.signed_at):%Y-%m-%d %H:%M} · 批准"
    # the signature row is ledgered with the act
    assert list(ledger_actions(approval)) == ["signature.sign"]
    assert _verify()[0] and not ledger.verify().problems


def ledger_actions(sig):
    from qms.models import LedgerEntry

    return LedgerEntry.objects.filter(obj_type="qms.electronicsignature", obj_id=str(sig.pk)).values_list("action", flat=True)


def test_a_signed_version_changed_in_the_database_is_named(org):
    v = _document(org)
    docs.version_review(v, actor=org["reviewer"], password=PW)
    docs.version_approve(DocumentVersion.objects.get(pk=v.pk), actor=org["approver"], effective_on=TODAY, password=PW)
    assert _verify()[0]
    with connection.cursor() as c:
        c.execute("UPDATE procedures_documentversion SET body = %s WHERE id = %s", ["第一条 支委会每季度召开一次。", v.pk])
    ok, text = _verify()
    assert not ok
    assert "DJ-T-01 1.0" in text and "签名后被修改" in text and text.count("[签名") == 2  # both the 审核 and the 批准
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit):
        call_command("verify_ledger", stdout=out, stderr=err)
    assert "电子签名校验失败" in err.getvalue() and "DJ-T-01 1.0" in err.getvalue()


def test_a_signature_cannot_be_moved_to_another_object(org):
    first = _document(org)
    docs.version_review(first, actor=org["reviewer"], password=PW)
    with transaction.atomic():
        other_doc = Document.objects.create(code="DJ-T-02", title="另一制度", kind=DocumentKind.PROCEDURE, owner=org["c"])
        ledger.record("document.create", other_doc, actor=org["drafter"])
    other = docs.version_create(other_doc, actor=org["drafter"], label="1.0", change_reason="")
    docs.version_update(other, actor=org["drafter"], what="每月召开一次支委会", body="第一条 支委会每月召开一次。")  # the same text
    sig = signatures.latest(first, SignatureMeaning.REVIEW)
    with connection.cursor() as c:
        c.execute("UPDATE qms_electronicsignature SET object_id = %s WHERE id = %s", [other.pk, sig.pk])
    ok, text = _verify()
    assert not ok and "DJ-T-02 1.0" in text  # the digest is bound to the object's identity, not only its text
    problems = ledger.verify().problems
    assert any("qms.electronicsignature" in p.message and str(sig.pk) in p.message for p in problems)


def test_sending_back_voids_the_review_signature(org):
    v = _document(org)
    docs.version_review(v, actor=org["reviewer"], password=PW)
    docs.version_send_back(DocumentVersion.objects.get(pk=v.pk), actor=org["approver"], reason="请补充依据")
    v = DocumentVersion.objects.get(pk=v.pk)
    docs.version_update(v, actor=org["drafter"], body="第一条 支委会每月召开一次(依据支部工作条例)。")
    (sig,) = signatures.of(v)
    assert sig.voided_at is not None and sig.void_reason == "退回修改:请补充依据"
    assert signatures.latest(v, SignatureMeaning.REVIEW) is None
    assert _verify()[0] and not ledger.verify().problems
    html = render_to_string("qms/_signatures.html", {"lines": [{"text": signatures.text(sig), "void": True,
                                                                 "reason": sig.void_reason}], "title": "电子签名"})
    assert "已失效:退回修改" in html


# ---------------------------------------------------------------- corrective action (验证, 确认)

def _ticket(org):
    sec, auditor = org["drafter"], org["approver"]
    nc = capa.nc_raise(actor=auditor, unit=org["b1"], source="spot_check", grade="minor", clause="DJ-CX-02",
                       requirement="每月至少召开1次支委会", evidence="3月无支委会记录")
    capa.nc_acknowledge(nc, actor=sec)
    capa.nc_analyse(nc, actor=sec, why=["为何未开会"], root_cause="缺少代召集制度")
    capa.nc_plan(nc, actor=sec, correction="补开", corrective_action="建立代召集制度", owner=org["m"][1],
                 due_date=TODAY + dt.timedelta(days=30))
    from django.core.files.uploadedfile import SimpleUploadedFile

    capa.nc_implement(nc, actor=sec, evidence="已补开", done_on=TODAY,
                      uploads=[SimpleUploadedFile("记录.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")])
    return Nonconformity.objects.get(pk=nc.pk)


def test_verifying_and_closing_a_ticket_are_signed_and_bound_to_the_evidence(org, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    nc = _ticket(org)
    with pytest.raises(signatures.WrongPassword):
        capa.nc_verify(nc, actor=org["reviewer"], note="已核实", password="wrong")
    assert Nonconformity.objects.get(pk=nc.pk).state == "implemented"
    capa.nc_verify(nc, actor=org["reviewer"], note="已核实", password=PW)
    nc = capa.nc_close(Nonconformity.objects.get(pk=nc.pk), actor=org["reviewer"], password=PW)
    verify, confirm = signatures.of(nc)
    assert [verify.meaning, confirm.meaning] == [SignatureMeaning.VERIFY, SignatureMeaning.CONFIRM]
    assert _verify()[0]
    html = render_to_string("audits/feedback_print.html", {"nc": nc, "printed_at": timezone.localtime()})
    assert signatures.text(verify) in html and signatures.text(confirm) in html and "李四 · " in html
    # the evidence file's checksum is part of what was signed
    att = NCAttachment.objects.get(nonconformity=nc)
    with connection.cursor() as c:
        c.execute("UPDATE audits_ncattachment SET sha256 = %s WHERE id = %s", ["0" * 64, att.pk])
    ok, text = _verify()
    assert not ok and nc.code in text


def test_a_wrong_password_on_the_page_is_a_clear_message_and_a_failed_login(org, client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    nc = _ticket(org)
    seen = []

    def failed(sender, credentials, request=None, **kw):
        seen.append(credentials["username"])

    user_login_failed.connect(failed, dispatch_uid="test-signature-failed")
    try:
        client.force_login(org["reviewer"])
        page = client.get(f"/audits/problems/{nc.pk}/").content.decode()
        assert "请再次输入登录密码以签名" in page and 'type="password"' in page
        r = client.post(f"/audits/problems/{nc.pk}/verify/", {"note": "已核实", "password": "wrong"}, follow=True)
        assert r.status_code == 200 and "登录密码不正确,未签名" in r.content.decode()
        assert Nonconformity.objects.get(pk=nc.pk).state == "implemented" and seen == ["reviewer"]
        r = client.post(f"/audits/problems/{nc.pk}/verify/", {"note": "已核实", "password": PW}, follow=True)
        assert Nonconformity.objects.get(pk=nc.pk).state == "verified"
        sig = signatures.latest(nc, SignatureMeaning.VERIFY)
        assert signatures.text(sig) in r.content.decode()
    finally:
        user_login_failed.disconnect(dispatch_uid="test-signature-failed")


def test_confirmed_password_signs_a_batch_only_for_its_own_user(org):
    confirmed = signatures.confirm(org["reviewer"], PW)
    with pytest.raises(signatures.WrongPassword):
        signatures.check_password(org["approver"], confirmed)
    signatures.check_password(org["reviewer"], confirmed)
    with pytest.raises(TypeError):
        signatures.Confirmed(org["reviewer"].pk, object())
    with pytest.raises(signatures.WrongPassword):
        signatures.confirm(org["reviewer"], "wrong")


# ---------------------------------------------------------------- T9 figures: tamper corpus, one-factor attempts

#: raw SQL changes made after signing, each on its own (rolled back before the next); every one
#: must make verify_signatures name the object (reliability.md T9)
VERSION_EDITS = [(col, "改过") for col in ("why", "what", "who", "when", "where", "how", "body", "change_reason", "label")]
TICKET_EDITS = [(col, "改过") for col in ("clause", "requirement", "evidence", "root_cause", "correction",
                                          "corrective_action", "implementation_evidence", "verification_note")] + [
    ("why", '["改过"]'), ("due_date", "2001-01-01"), ("implemented_on", "2001-01-01"), ("raised_on", "2001-01-01")]


def _detected(sql: str, params: list) -> bool:
    sid = transaction.savepoint()
    try:
        with connection.cursor() as c:
            c.execute(sql, params)
        return bool(signatures.verify()[1])
    finally:
        transaction.savepoint_rollback(sid)


def test_t9_every_alteration_after_signing_and_every_moved_signature_is_detected(org, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    v = _document(org)
    docs.version_review(v, actor=org["reviewer"], password=PW)
    v = docs.version_approve(DocumentVersion.objects.get(pk=v.pk), actor=org["approver"], effective_on=TODAY, password=PW)
    nc = _ticket(org)
    capa.nc_verify(nc, actor=org["reviewer"], note="已核实", password=PW)
    nc = capa.nc_close(Nonconformity.objects.get(pk=nc.pk), actor=org["reviewer"], password=PW)
    other = _ticket(org)  # an unsigned ticket to move signatures to
    assert signatures.verify() == (4, [])  # 0 false positives on the clean signatures
    tried = held = 0
    cases = [(f'UPDATE procedures_documentversion SET "{col}" = %s WHERE id = %s', [val, v.pk]) for col, val in VERSION_EDITS]
    cases += [("UPDATE procedures_document SET code = %s WHERE id = %s", ["DJ-X", v.document_id]),
              ("UPDATE procedures_document SET title = %s WHERE id = %s", ["改过", v.document_id])]
    cases += [(f'UPDATE audits_nonconformity SET "{col}" = %s WHERE id = %s', [val, nc.pk]) for col, val in TICKET_EDITS]
    cases += [("UPDATE audits_ncattachment SET sha256 = %s WHERE nonconformity_id = %s", ["f" * 64, nc.pk]),
              ("UPDATE audits_ncattachment SET name = %s WHERE nonconformity_id = %s", ["换了.pdf", nc.pk]),
              ("UPDATE audits_ncattachment SET nonconformity_id = %s WHERE nonconformity_id = %s", [other.pk, nc.pk])]
    cases += [("UPDATE qms_electronicsignature SET object_id = %s WHERE id = %s", [other.pk, s.pk]) for s in signatures.of(nc)]
    cases += [("UPDATE qms_electronicsignature SET object_id = %s, content_type_id = %s WHERE id = %s",
               [other.pk, signatures.of(nc)[0].content_type_id, s.pk]) for s in signatures.of(v)]
    cases += [("UPDATE qms_electronicsignature SET digest = %s WHERE id = %s", ["0" * 64, s.pk]) for s in signatures.of(v)]
    with transaction.atomic():
        for sql, params in cases:
            tried += 1
            held += _detected(sql, params)
    assert (tried, held) == (len(cases), len(cases)), f"tried {tried}, detected {held}"
    print(f"T9 alterations: tried {tried}, detected {held}")
    # one factor only (the session, no password re-entered) or a wrong one: 0 signatures accepted
    attempts = accepted = 0
    for password in (None, "", " ", "pass-1234", PW.upper(), PW + " "):
        for act in (lambda p: capa.nc_verify(other, actor=org["reviewer"], note="x", password=p),
                    lambda p: docs.version_review(_document_again(org), actor=org["reviewer"], password=p)):
            attempts += 1
            try:
                act(password)
                accepted += 1
            except signatures.WrongPassword:
                pass
    assert accepted == 0 and attempts == 12
    print(f"T9 one-factor or wrong-password signings: tried {attempts}, accepted {accepted}")


def _document_again(org) -> DocumentVersion:
    """The submitted version of the test document (made once)."""
    existing = DocumentVersion.objects.filter(document__code="DJ-T-03").first()
    if existing is not None:
        return existing
    with transaction.atomic():
        doc = Document.objects.create(code="DJ-T-03", title="第三制度", kind=DocumentKind.PROCEDURE, owner=org["c"])
        ledger.record("document.create", doc, actor=org["drafter"])
    v = docs.version_create(doc, actor=org["drafter"], label="1.0", change_reason="")
    docs.version_update(v, actor=org["drafter"], body="第一条")
    docs.version_submit(v, actor=org["drafter"])
    return DocumentVersion.objects.get(pk=v.pk)


def test_the_nightly_check_finds_a_changed_signed_thing_and_tells_the_administrators(org):
    from qms import services as core
    from qms.models import Notification, Role
    from qms.tasks import verify_ledger_task

    admin = factories.user("nightly-admin", first_name="体系管理员甲")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=org["c"], valid_from=TODAY)
    v = _document(org)
    docs.version_review(v, actor=org["reviewer"], password=PW)
    out = verify_ledger_task.delay().get()
    assert out["ok"] and out["signatures"] == 1 and out["signature_problems"] == 0
    assert not Notification.objects.filter(user=admin).exists()
    with connection.cursor() as c:
        c.execute("UPDATE procedures_documentversion SET body = %s WHERE id = %s", ["改过的正文", v.pk])
    out = verify_ledger_task.delay().get()
    assert not out["ok"] and out["signature_problems"] == 1
    note = Notification.objects.get(user=admin)
    assert "1 个电子签名与记录不符" in note.title and note.level == "error"
    verify_ledger_task.delay().get()
    assert Notification.objects.filter(user=admin).count() == 1  # once a day
