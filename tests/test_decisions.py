"""上级批复 — one record for a higher organisation's decision (seed 001 三(二)1、三(二)8):
recorded by the managers of a unit above (or, for the top unit's higher committee outside the
system, by a 体系管理员), ledgered, refused in Chinese when the body is not above."""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from qms import ledger
from qms import services as core
from qms.decision_kinds import decision_kinds
from qms.models import HigherDecision, Role, UnitKind
from qms.permissions import NotPermitted
from tests import factories

pytestmark = pytest.mark.django_db
D = dt.date
TODAY = timezone.localdate()
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def org(tree):
    people = {}
    for key, unit in (("sec_c", tree["committee"]), ("sec_g", tree["general"]), ("sec_b1", tree["b1"])):
        m = factories.member(tree["b1"], f"书记{key[-1]}")
        people[key] = factories.user(key)
        core.member_update(m, actor=None, reason="账号", user=people[key])
        core.position_assign(actor=None, member=m, unit=unit, title="secretary", start=D(2024, 1, 1))
    people["admin"] = factories.user("admin")
    core.role_grant(actor=None, user=people["admin"], role=Role.ADMIN, unit=tree["committee"], valid_from=D(2020, 1, 1))
    return {**tree, **people}


def _record(org, actor, unit, by, **kw):
    args = dict(kind="term_extend", doc_number="机党发〔2026〕3号", date=TODAY, outcome="approved", text="同意延期一年")
    args.update(kw)
    if isinstance(by, str):
        return core.decision_record_external(actor=actor, unit=unit, decided_by_name=by, **args)
    return core.decision_record(actor=actor, unit=unit, decided_by_unit=by, **args)


def test_every_kind_of_matter_cites_its_source():
    kinds = decision_kinds()
    assert {"term_extend", "term_advance", "election_request", "election_approval", "committee_filing"} <= set(kinds)
    election = ("term_extend", "term_advance", "election_request", "election_approval", "committee_filing")
    assert all(kinds[k].source.startswith("seed 001") for k in election)
    # kinds other processes add (发展党员's approvals) cite the regulation that gives the decision
    assert all(k.source.startswith(("seed ", "《")) for k in kinds.values())


def test_the_secretary_of_the_unit_above_records_a_decision_with_its_file_and_the_ledger(org, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    n = ledger.head()
    d = _record(org, org["sec_g"], org["b1"], org["general"], upload=SimpleUploadedFile("批复.pdf", PDF))
    assert (d.unit, d.decided_by, d.approved, d.kind_label) == (org["b1"], "第一党总支", True, "延期换届")
    with d.file.open("rb") as f:
        assert d.file_name == "批复.pdf" and len(d.file_sha256) == 64 and f.read() == PDF
    assert ledger.head() != n and ledger.history(d).last().action == "decision.record"


def test_a_unit_higher_up_may_decide_too(org):
    d = _record(org, org["sec_c"], org["b1"], org["committee"])
    assert d.decided_by_unit == org["committee"]


def test_the_unit_itself_or_a_sibling_is_not_a_higher_organisation(org):
    for by in (org["b1"], org["b2"]):
        with pytest.raises(ValidationError, match="的上级党组织,“.*”不是"):
            _record(org, org["admin"], org["b1"], by)
    assert HigherDecision.objects.count() == 0


def test_the_units_own_secretary_may_not_record_its_approval(org):
    with pytest.raises(NotPermitted, match="您无权登记上级批复"):
        _record(org, org["sec_b1"], org["b1"], org["general"])
    assert HigherDecision.objects.count() == 0


def test_a_body_outside_the_system_only_for_the_top_unit_and_only_by_an_administrator(org):
    with pytest.raises(ValidationError, match="系统外的上级党组织只用于顶层组织"):
        _record(org, org["admin"], org["b1"], "市直机关工委")
    with pytest.raises(NotPermitted, match="登记系统外上级党组织的批复"):
        _record(org, org["sec_c"], org["committee"], "市直机关工委", kind="election_request")
    d = _record(org, org["admin"], org["committee"], "市直机关工委", kind="election_request")
    assert d.decided_by == "市直机关工委" and d.decided_by_unit is None


@pytest.mark.parametrize(("change", "message"), [
    ({"kind": "whatever"}, "请从列表中选择批复事项"),
    ({"doc_number": "  "}, "请填写批复文号"),
    ({"date": TODAY + dt.timedelta(days=1)}, "批复日期不能晚于今天"),
    ({"outcome": "maybe"}, "请选择“同意”或“不同意”"),
])
def test_bad_input_is_refused_in_chinese_and_nothing_is_saved(org, change, message):
    n = ledger.head()
    with pytest.raises(ValidationError, match=message):
        _record(org, org["sec_g"], org["b1"], org["general"], **change)
    assert (ledger.head(), HigherDecision.objects.count()) == (n, 0)


def test_a_file_that_is_not_what_its_name_says_is_refused(org, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    with pytest.raises(ValidationError, match="文件内容与扩展名不符"):
        _record(org, org["sec_g"], org["b1"], org["general"], upload=SimpleUploadedFile("批复.pdf", b"MZ\x90\x00"))
    with pytest.raises(ValidationError, match="不允许的文件类型"):
        _record(org, org["sec_g"], org["b1"], org["general"], upload=SimpleUploadedFile("批复.exe", b"MZ"))
    assert HigherDecision.objects.count() == 0


def test_approving_decision_names_what_is_wrong(org):
    yes = _record(org, org["sec_g"], org["b1"], org["general"])
    no = _record(org, org["sec_g"], org["b1"], org["general"], outcome="rejected", doc_number="机党发〔2026〕4号")
    assert core.approving_decision(org["b1"], "term_extend", yes) == yes
    with pytest.raises(ValidationError, match="须有上级党组织同意的批复"):
        core.approving_decision(org["b1"], "term_extend", None)
    with pytest.raises(ValidationError, match="不同意"):
        core.approving_decision(org["b1"], "term_extend", no)
    with pytest.raises(ValidationError, match="不是关于“第二党支部”延期换届的批复"):
        core.approving_decision(org["b2"], "term_extend", yes)
    with pytest.raises(ValidationError, match="提前换届"):
        core.approving_decision(org["b1"], "term_advance", yes)


def test_the_unit_page_lists_decisions_and_the_form_records_one(org, client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(org["sec_g"])
    page = client.get("/units/B1/").content.decode()
    assert "上级批复" in page and "/units/B1/decisions/new/" in page
    form = client.get("/units/B1/decisions/new/").content.decode()
    assert "作出批复的上级组织" in form and "系统外的上级党组织" not in form
    r = client.post("/units/B1/decisions/new/", {
        "kind": "term_extend", "doc_number": "机党发〔2026〕9号", "date": TODAY.isoformat(),
        "decided_by_unit": org["general"].pk, "outcome": "approved", "text": "同意",
        "upload": SimpleUploadedFile("批复.pdf", PDF)})
    assert r.status_code == 302
    d = HigherDecision.objects.get()
    page = client.get("/units/B1/").content.decode()
    assert "机党发〔2026〕9号" in page and "延期换届" in page and f"/decisions/{d.pk}/file/" in page
    resp = client.get(f"/decisions/{d.pk}/file/")
    assert resp.status_code == 200 and b"".join(resp.streaming_content) == PDF
    # the branch's own secretary sees it but has no button, and a POST is refused with the reason
    client.force_login(org["sec_b1"])
    assert "/units/B1/decisions/new/" not in client.get("/units/B1/").content.decode()
    r = client.post("/units/B1/decisions/new/", {
        "kind": "term_extend", "doc_number": "自批〔2026〕1号", "date": TODAY.isoformat(),
        "decided_by_unit": org["general"].pk, "outcome": "approved"})
    assert r.status_code == 403 and HigherDecision.objects.count() == 1


def test_the_top_units_form_names_the_body_outside(org, client):
    client.force_login(org["admin"])
    form = client.get("/units/C/decisions/new/").content.decode()
    assert "系统外的上级党组织" in form and "作出批复的上级组织" not in form
    r = client.post("/units/C/decisions/new/", {"kind": "election_request", "doc_number": "市机工委〔2026〕1号",
                                                "date": TODAY.isoformat(), "decided_by_name": "市直机关工委", "outcome": "approved"})
    assert r.status_code == 302 and HigherDecision.objects.get().decided_by_name == "市直机关工委"
    assert org["committee"].kind == UnitKind.COMMITTEE
