"""The isolation matrix (TRUST 2; docs/reliability.md T10): every URL pattern of the project,
filled with objects of unit A (第一党支部 and what hangs below it), requested by every role of
the sibling unit B (第二党支部: its secretary, a committee member, a plain 党员, an internal
auditor granted B only) and by an anonymous visitor — GET, GET with A's code and ids in the query
string, and POST with A's ids in the form (the test client does not check CSRF tokens):

- no answer is 5xx;
- an anonymous visitor is sent to the login page (the external auditor's link pages, whose
  token is the credential, answer 404/410 to a revoked link);
- no answer of any status — nor the page a redirect leads to — carries any of A's data: the
  names of A's people, their 身份证号 and 手机号 (also in the masked form shown to readers),
  A's unit name, and the marker planted in every text of A's records (topics, speeches,
  resolutions, tickets, attachments, decisions, applicants, targets, …). Downloads are read
  too: Excel workbooks and ZIP files entry by entry, PDFs through ``pdftotext``;
- nothing changes: the ledger (every change writes one entry) has the same head after each
  POST, and every table has the same number of rows at the end.

The patterns come from the resolver (``get_resolver()``, recursively). Each pattern with
parameters is filled from ``FILL`` (pattern name → the A object for each parameter) or listed in
``UNFILLED`` with the reason; a new pattern that is neither fails
``test_every_pattern_is_filled_or_listed``. ``test_unit_a_sees_its_own_data`` is the control:
the same detector finds A's data on A's own pages, so a view that forgets its scope check fails
the matrix (shown once by removing one, see /work/notes/t21-matrix-progress.md).

The organisation is built once for the module inside a transaction rolled back at its end.
"""
from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import urlencode, urlparse

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from openpyxl import Workbook

from qms import ledger
from qms import services as core
from qms.models import Member, Position, Role
from qms.privacy import mask_id_number, mask_phone
from tests import factories
from tests import test_permissions_web as pw
from tests.test_permissions import build_org

pytestmark = pytest.mark.django_db
D = dt.date
TODAY = timezone.localdate()

#: planted in every text of A's records: a page showing it shows A's data
MARK = "甲单位专属标记"

#: B's roles (and the anonymous visitor) who try A's objects
ROLES = ("sec_b2", "cm_b2", "mem_b2", "ia_b2", None)

#: Patterns with parameters the matrix does not fill, and why. Keep this short and true.
UNFILLED: dict[str, str] = {
    "api_not_found": "the REST API's JSON 404 for any other address under /api/v1/: it reads no object",
}


# ----------------------------------------------------------------------------- the resolver


def patterns(resolver=None, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    """Every URL pattern of the project as (route, pattern), includes followed."""
    for p in (resolver or get_resolver()).url_patterns:
        if isinstance(p, URLResolver):
            yield from patterns(p, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def params(route: str) -> list[str]:
    return [name for _conv, name in PARAM.findall(route)]


def url_for(route: str, kwargs: dict) -> str:
    return "/" + PARAM.sub(lambda m: str(kwargs[m.group(2)]), route)


def action_words(view) -> list[str]:
    """The action names a view dispatches on (``name == "verify"``, ``action in (…)``), read from
    its source: the slugs and ``action`` fields to POST."""
    import inspect

    try:
        text = inspect.getsource(inspect.unwrap(view))
    except (OSError, TypeError):
        return []
    words: set[str] = set(re.findall(r'(?:name|action|kind|step) == "([a-z_]+)"', text))
    for group in re.findall(r'(?:name|action|kind|step) in \(([^)]*)\)', text):
        words |= set(re.findall(r'"([a-z_]+)"', group))
    return sorted(words)


# ------------------------------------------------------------------------------ the world


def _xlsx(rows: list[list]) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _pdf(text: str) -> bytes:
    from weasyprint import HTML

    return HTML(string=f"<html><body><p>{text}</p></body></html>").write_pdf()


def build_world() -> dict:
    """测试党委 C → 第一党支部 B1 (unit A, with two 党小组) and 第二党支部 B2 (unit B); A filled
    with one object of every kind, every text carrying ``MARK``; B's four roles."""
    from audits.capa import services as capa
    from audits.certification import findings_import
    from audits.evidence import services as packs
    from audits.performance import targets as tsvc
    from audits.review import services as review
    from audits.system import services as system
    from qms import roster, roster_pending
    from workflows import coalitions, dues, org_change
    from workflows import recruitment_services as rs
    from workflows import services as wsvc
    from workflows.models import Occurrence, State

    org = build_org()
    b1, b2, c = org["b1"], org["b2"], org["c"]
    w: dict = dict(org)
    # --- unit A: two 党小组 and people with personal data
    w["g1"] = factories.unit("B1G1", "group", parent=b1, name=f"{MARK}第一党小组")
    people = []
    for i, name in enumerate(("钱甲秘", "孙甲密", "周甲隐")):
        m = factories.member(b1, name, group=w["g1"] if i == 0 else None, phone=f"1391234{i:04d}",
                             id_number=factories.id_number(900 + i))
        people.append(m)
    w["a_people"] = people
    w["plain"] = people[1]
    member_a = Member.objects.get(user=org["member"])
    core.member_update(member_a, actor=None, reason="补录", phone="13955550001")
    core.member_event_record(people[0], actor=org["sec_b1"], kind="hardship", date=TODAY, note=f"{MARK}困难")
    # --- unit B: a committee member, a plain member, an internal auditor over B only
    for key, name, title in (("cm_b2", "冯二委", "committee_member"), ("mem_b2", "陈二员", None)):
        m, u = pw._person(b2, name, key)
        w[key] = u
        if title:
            core.position_assign(actor=None, member=m, unit=b2, title=title, start=D(2024, 1, 1))
    w["ia_b2"] = factories.user("ia_b2", first_name="褚二审")
    core.role_grant(actor=None, user=w["ia_b2"], role=Role.INTERNAL_AUDITOR, unit=b2, valid_from=D(2020, 1, 1))
    # --- records: a planned, a recorded and a checked occurrence with everything marked
    w["occ"] = occ = pw._occ(w)
    day = pw._day(occ)
    wsvc.occurrence_plan(occ, actor=org["sec_b1"], planned_date=day, place=f"{MARK}活动室", topic=f"{MARK}议题")
    roll = list(wsvc.roster_on(b1, day))
    wsvc.record_save(occ, actor=org["sec_b1"], elements={"time": f"{day.isoformat()}T09:00", "speeches": f"{MARK}发言",
                                                          "votes": {"for": len(roll), "against": 0, "abstain": 0}})
    for m in roll:
        wsvc.attendance_mark(occ, actor=org["sec_b1"], member=m, presence="present")
    w["followup"] = wsvc.followup_add(occ, actor=org["sec_b1"], text=f"{MARK}决议", owner=people[0],
                                      due_date=day + dt.timedelta(days=20))
    w["attachment"] = wsvc.attachment_add(occ, actor=org["sec_b1"],
                                          upload=SimpleUploadedFile("签到表.pdf", _pdf(f"{MARK}签到表 钱甲秘")))
    wsvc.record_submit(occ, actor=org["sec_b1"], held_on=day)
    wsvc.record_check(occ, actor=org["admin"], password="pass-12345")
    w["occ"] = Occurrence.objects.get(pk=occ.pk)
    wsvc.mark_missed()
    w["missed"] = Occurrence.objects.filter(unit=b1, state=State.MISSED).order_by("due_date").first()
    # --- a ticket at every interesting step, with an evidence file
    nc = capa.nc_raise(actor=org["sec_c"], unit=b1, source="spot_check", grade="minor", clause="DJ-CX-02",
                       requirement=f"{MARK}要求", evidence=f"{MARK}问题")
    capa.nc_acknowledge(nc, actor=org["sec_b1"])
    capa.nc_analyse(nc, actor=org["sec_b1"], why=[f"{MARK}为何"], root_cause=f"{MARK}原因")
    capa.nc_plan(nc, actor=org["sec_b1"], correction=f"{MARK}纠正", corrective_action=f"{MARK}措施", owner=people[0],
                 due_date=TODAY + dt.timedelta(days=10))
    w["nc_file"] = capa.nc_attach(nc, actor=org["sec_b1"], upload=SimpleUploadedFile("整改.pdf", _pdf(f"{MARK}整改证据")))
    w["nc"] = nc
    # --- internal audit of A, with a report
    w["audit"] = pw._audit(w, opened=True)
    # --- documents: A's own version in force and a draft, their obligation and form
    w["version"] = pw._effective(w)
    w["doc"] = w["version"].document
    w["obligation"] = w["version"].obligations.order_by("pk").first()
    from procedures.models import RecordForm

    # no service makes a unit's own record form yet (the library's forms have no owner); the
    # view's scope check on ``owner`` is what is tried
    w["form"] = RecordForm.objects.create(owner=b1, code="B1-JL-01", version="1", title=f"{MARK}记录表")
    # --- organisation: a decision with its file, a position, an org change, a coalition
    w["decision"] = core.decision_record(actor=org["sec_c"], unit=b1, decided_by_unit=c, kind="term_extend",
                                         doc_number="测委〔2026〕9号", date=TODAY, outcome="approved", text=f"{MARK}批复",
                                         upload=SimpleUploadedFile("批复.pdf", _pdf(f"{MARK}批复文件")))
    w["position"] = Position.objects.filter(unit=b1).order_by("pk").first()
    from qms import channel_settings  # 群机器人 of A (qms/channel_settings.py)

    w["robot"] = channel_settings.robot_create(actor=None, unit=b1, name=f"{MARK}工作群", kind="wecom", webhook="KEY-0123456789abcdef",
                                       kinds=["meeting_due"])
    w["org_change"] = org_change.request(actor=org["sec_b1"], parent=b1, kind="setup", reason=f"{MARK}请示",
                                         new_units=[{"code": "B1G7", "name": f"{MARK}第七党小组", "kind": "group"}])
    w["coalition"] = coalitions.coalition_create(actor=None, root=c, kind="liaison", name=f"{MARK}联系组", basis="业务相近",
                                                 units=[b1, b2], lead_unit=b1, leader=member_a, content=f"{MARK}交流",
                                                 form="联席会议")
    # --- recruitment, dues
    a = rs.applicant_register(actor=None, unit=b1, name="吴甲申", gender="F",
                              id_number=factories.id_number(950, birth=D(2000, 3, 1)), birth_date=D(2000, 3, 1),
                              applied_on=TODAY - dt.timedelta(days=30), note=f"{MARK}申请")
    w["applicant"] = a
    people.append(a)
    month = dues.month_start(TODAY)
    dues.dues_record(people[0], actor=org["sec_b1"], month=month, paid_on=TODAY, way="cash",
                     amount=Decimal("10.00"))
    w["removal"] = dues.removal_request(people[2], actor=org["sec_b1"], reason=f"{MARK}连续未交")
    # --- evidence pack with a PDF, a live and a revoked external link
    w["pack"] = _built_pack(w)
    link, token = packs.link_issue(w["pack"], actor=org["admin"], auditor_name="李审核", organisation="认证中心",
                                   expires_on=TODAY + dt.timedelta(days=30))
    packs.link_revoke(link, actor=org["admin"], reason="审核结束")
    w["revoked_token"] = token
    # --- certification, campaign, review, system, targets
    w["certificate"] = pw._certificate(w)
    w["cert_audit"] = w["certificate"].audits.order_by("due_on").first()
    w["findings_token"] = findings_import.stage_findings(
        w["cert_audit"], io.BytesIO(_xlsx([["条款", "要求", "事实"], ["7.5", f"{MARK}要求", f"{MARK}事实"]])),
        actor=org["admin"], filename="findings.xlsx").token
    w["campaign"] = pw._campaign(w, past=True, drawn=2)
    w["campaign_entry"] = pw._campaign_entry(w["campaign"], b1)
    w["review"] = review.review_plan(actor=org["admin"], root=c, year=TODAY.year, planned_on=TODAY + dt.timedelta(days=7),
                                     chair=org["sec_c"], title=f"{MARK}管理评审")
    w["training"] = system.training_record(actor=org["sec_b1"], unit=b1, member=people[0], course=f"{MARK}培训", hours=8,
                                           taken_on=TODAY, upload=SimpleUploadedFile("证书.pdf", _pdf(f"{MARK}证书")))
    w["survey"] = system.survey_create(actor=org["admin"], root=b1, title=f"{MARK}调查", population="members", start=TODAY,
                                       end=TODAY + dt.timedelta(days=3), questions=[{"text": f"{MARK}问题", "kind": "scale"}])
    w["target"] = tsvc.target_add(actor=org["admin"], year=TODAY.year, measure="study_notes", title=f"{MARK}目标", value=10,
                                  due_date=D(TODAY.year, 12, 31), unit=b1, source="seed 004 篇8")
    # --- the REST API: A's record, and an 对接令牌 for A made by the 体系管理员
    from api import tokens as api_tokens
    from workflows.models import Record

    w["record"] = Record.objects.get(occurrence=w["occ"])
    w["api_token"] = api_tokens.token_create_integration(actor=org["admin"], name=f"{MARK}对接", units=[b1]).token
    # --- logins and grants of A; files staged by A's secretary for preview
    w["a_login"] = org["member"]
    w["a_grant"] = core.role_grant(actor=None, user=factories.user("a_ia", first_name="卫甲审"), role=Role.INTERNAL_AUDITOR,
                                   unit=b1, valid_from=D(2025, 1, 1))
    sheet = _xlsx([roster.HEADERS, ["郑甲册" if h == "姓名" else "" for h in roster.HEADERS]])
    w["roster_token"] = roster.stage_upload(io.BytesIO(sheet), actor=org["sec_b1"]).token
    w["staged_token"] = roster_pending.stage(sheet, user=org["sec_b1"], filename="名单.xlsx").token
    return w


def _built_pack(w):
    """A finished evidence pack of A, its PDF carrying A's marker (the builder stood in for)."""
    import audits.evidence.builder as builder
    from audits.evidence import services as packs

    pack = packs.pack_request(actor=w["admin"], root=w["b1"], start=D(TODAY.year, 1, 1), end=TODAY, enqueue=False)
    real = builder.build_pack

    def fake(root, start, end, *, out_dir, **_):
        from types import SimpleNamespace

        pdf, zf = out_dir / "p.pdf", out_dir / "p.zip"
        pdf.write_bytes(_pdf(f"{MARK}证据包 钱甲秘"))
        with zipfile.ZipFile(zf, "w") as z:
            z.writestr("记录.txt", f"{MARK}记录")
        return SimpleNamespace(pdf_path=pdf, zip_path=zf, pdf_sha256="0" * 64, zip_sha256="0" * 64, pages=1,
                               ledger_head=(1, "0" * 64), missing_attachments=[], layout=SimpleNamespace(processes=1))

    builder.build_pack = fake
    try:
        return packs.pack_run(pack.pk)
    finally:
        builder.build_pack = real



# --------------------------------------------------------------- filling the patterns with A


def _pk(key):
    return lambda w: w[key].pk


#: pattern name → parameter → the A value (a function of the world). A slug parameter naming an
#: action (``<slug:action>``, ``<slug:name>``) is tried with every action word of the view's module.
FILL: dict[str, dict] = {
    # 体系文件
    "procedure_detail": {"pk": _pk("doc")}, "procedure_diff": {"pk": _pk("doc")},
    "procedure_adopt": {"pk": _pk("doc")}, "procedure_new_version": {"pk": _pk("doc")},
    "procedure_new_instruction": {"pk": _pk("doc")},
    "procedure_version_edit": {"pk": _pk("version")}, "procedure_version_action": {"pk": _pk("version")},
    "procedure_obligation_edit": {"pk": _pk("obligation")},
    "procedure_form": {"pk": _pk("form")}, "procedure_form_pdf": {"pk": _pk("form")},
    "procedure_unit_rules": {"code": lambda w: w["b1"].code},
    # 执行与记录
    "occurrence_detail": {"pk": _pk("occ")}, "signin_sheet": {"pk": _pk("occ")}, "occurrence_action": {"pk": _pk("occ")},
    "attachment_download": {"pk": _pk("attachment")},
    "election_page": {"code": lambda w: w["b1"].code},
    "org_change_page": {"pk": _pk("org_change")},
    "org_change_list": {"code": lambda w: w["b1"].code}, "org_change_new": {"code": lambda w: w["b1"].code},
    "coalition_page": {"pk": _pk("coalition")},
    "recruitment_applicant": {"pk": _pk("applicant")},
    "history_import_preview": {"token": lambda w: w["staged_token"]},
    # 不符合与整改
    "nc_detail": {"pk": _pk("nc")}, "nc_feedback_pdf": {"pk": _pk("nc")}, "nc_action": {"pk": _pk("nc")},
    "nc_attachment": {"pk": _pk("nc"), "att": _pk("nc_file")},
    "nc_raise_gap": {"pk": _pk("missed")},
    # 管理评审、考核、目标
    "review_detail": {"pk": _pk("review")}, "review_action": {"pk": _pk("review")},
    "coalition_scoring": {"pk": _pk("coalition")},
    "grades": {"year": lambda w: TODAY.year},
    "targets_tree": {"code": lambda w: w["b1"].code, "year": lambda w: TODAY.year},
    # 自查与抽查
    "campaign_detail": {"pk": _pk("campaign")}, "campaign_summary": {"pk": _pk("campaign")},
    "campaign_summary_pdf": {"pk": _pk("campaign")}, "campaign_summary_xlsx": {"pk": _pk("campaign")},
    "campaign_entry": {"pk": _pk("campaign"), "entry": _pk("campaign_entry")},
    "campaign_entry_action": {"pk": _pk("campaign"), "entry": _pk("campaign_entry")},
    "campaign_action": {"pk": _pk("campaign")},
    # 体系策划与支持
    "system_certificate": {"pk": _pk("training")}, "system_survey": {"pk": _pk("survey")},
    # 证据包 (the external pages: the link is the credential — A's revoked link)
    "pack_detail": {"pk": _pk("pack")}, "pack_progress": {"pk": _pk("pack")},
    "pack_download": {"pk": _pk("pack"), "kind": lambda w: ("pdf", "zip")}, "pack_action": {"pk": _pk("pack")},
    "pack_external": {"token": lambda w: w["revoked_token"]},
    "pack_external_download": {"token": lambda w: w["revoked_token"], "kind": lambda w: ("pdf", "zip")},
    # 认证周期
    "certificate_detail": {"pk": _pk("certificate")},
    "cert_findings_import": {"pk": _pk("cert_audit")}, "cert_findings_confirm": {"pk": _pk("cert_audit")},
    "cert_findings_preview": {"pk": _pk("cert_audit"), "token": lambda w: w["findings_token"]},
    "cert_audit_action": {"pk": _pk("cert_audit")},
    # 内部审核
    "audit_detail": {"pk": _pk("audit")}, "audit_report_pdf": {"pk": _pk("audit")}, "audit_action": {"pk": _pk("audit")},
    # 组织与党员
    "unit_detail": {"code": lambda w: w["b1"].code}, "unit_edit": {"code": lambda w: w["b1"].code},
    "position_add": {"code": lambda w: w["b1"].code}, "decision_add": {"code": lambda w: w["b1"].code},
    "decision_file": {"pk": _pk("decision")}, "position_end": {"pk": _pk("position")},
    "member_detail": {"pk": _pk("plain")}, "member_amend": {"pk": _pk("plain")}, "member_transfer": {"pk": _pk("plain")},
    "member_status": {"pk": _pk("plain")}, "member_event": {"pk": _pk("plain")},
    "roster_preview": {"token": lambda w: w["roster_token"]},
    "units_import_preview": {"token": lambda w: w["staged_token"]},
    "positions_import_preview": {"token": lambda w: w["staged_token"]},
    # 账号
    "account_member": {"pk": _pk("plain")}, "account_create": {"pk": _pk("plain")},
    "account_grant": {"pk": lambda w: Member.objects.get(user=w["a_login"]).pk},
    "account_reset": {"pk": _pk("a_login")}, "account_disable": {"pk": _pk("a_login")},
    "account_otp_reset": {"pk": _pk("a_login")},
    "robot_edit": {"pk": _pk("robot")},
    "account_enable": {"pk": _pk("a_login")}, "grant_expire": {"pk": _pk("a_grant")},
    # 数据接口 (api/urls.py): every resource and transition, with A's objects
    "api-unit-detail": {"pk": _pk("b1")}, "api-member-detail": {"pk": _pk("plain")},
    "api-position-detail": {"pk": _pk("position")}, "api-record-detail": {"pk": _pk("record")},
    **{f"api-occurrence-{n}": {"pk": _pk("occ")} for n in (
        "detail", "record", "attendance", "attachments", "transition-plan", "transition-submit", "transition-check",
        "transition-close", "transition-cancel")},
    **{f"api-nonconformity-{n}": {"pk": _pk("nc")} for n in (
        "detail", "transition-acknowledge", "transition-analyse", "transition-plan", "transition-implement",
        "transition-verify", "transition-reject", "transition-close", "transition-review-effectiveness")},
    "api-procedure-detail": {"pk": _pk("doc")}, "api-audit-detail": {"pk": _pk("audit")}, "api-pack-detail": {"pk": _pk("pack")},
    "api-pack-download-pdf": {"pk": _pk("pack")}, "api-pack-download-zip": {"pk": _pk("pack")},
    "api_token_revoke": {"pk": _pk("api_token")},
}

#: slug parameters that name an action of the view (filled with its module's action words)
ACTION_SLUGS = ("action", "name")


def requests_for(w: dict) -> list[tuple[str, str, str, list[str]]]:
    """(pattern name, view module, URL, action words for the form) for every pattern, filled with A."""
    out = []
    for route, p in patterns():
        names = params(route)
        fill = FILL.get(p.name, {})
        if names and p.name in UNFILLED:
            continue
        words = action_words(p.callback)
        combos: list[dict] = [{}]
        for n in names:
            if n in ACTION_SLUGS and n not in fill:
                values = words or ["x"]
            else:
                v = fill[n](w)
                values = list(v) if isinstance(v, tuple) else [v]
            combos = [{**c, n: v} for c in combos for v in values]
        for kw in combos:
            out.append((p.name, p.callback.__module__, url_for(route, kw), [] if set(names) & set(ACTION_SLUGS) else words))
    return out


def test_every_pattern_is_filled_or_listed():
    """A pattern with parameters is filled with A's objects or listed with its reason; a new
    pattern without either fails here (and names the parameters to fill)."""
    missing = {}
    for route, p in patterns():
        names = [n for n in params(route) if not (n in ACTION_SLUGS and n not in FILL.get(p.name, {}))]
        if names and p.name not in UNFILLED and set(names) - set(FILL.get(p.name, {})):
            missing[p.name] = route
    assert missing == {}, f"URL patterns neither filled with unit A's objects in FILL nor listed in UNFILLED: {missing}"
    names = {p.name for _r, p in patterns()}
    assert set(FILL) <= names and set(UNFILLED) <= names, "FILL/UNFILLED name patterns that no longer exist"
    assert not set(FILL) & set(UNFILLED)


# ------------------------------------------------------------------------ finding A's data


def _pdf_text(data: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(data)
        f.flush()
        out = subprocess.run(["pdftotext", "-q", f.name, "-"], capture_output=True, timeout=30)
    return out.stdout.decode("utf-8", "replace")


def readable(data: bytes, ctype: str = "", depth: int = 0) -> str:
    """All text a person could read out of an answer: the body as text, every entry of a ZIP
    (an Excel workbook's XML, a pack's files), a PDF through pdftotext — recursively."""
    text = data.decode("utf-8", "replace")
    if data.startswith(b"%PDF"):
        text += "\n" + _pdf_text(data)
    elif data.startswith(b"PK") and depth < 3:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for info in z.infolist()[:500]:
                    text += "\n" + info.filename + "\n" + readable(z.read(info), depth=depth + 1)
        except zipfile.BadZipFile:
            pass
    return text


def a_data(w: dict) -> list[str]:
    """What of A must never reach B: the marker, A's unit name, its people's names, 身份证号 and
    手机号 in full and masked."""
    out = [MARK, w["b1"].name]
    people = list(w["a_people"]) + [Member.objects.get(user=w[k]) for k in ("sec_b1", "member")]
    for m in people:
        out.append(m.name)
        out += [m.id_number, mask_id_number(m.id_number)]
        if getattr(m, "phone", ""):
            out += [m.phone, mask_phone(m.phone)]
    return sorted(set(filter(None, out)))


def found(text: str, needles: list[str]) -> list[str]:
    return [n for n in needles if n in text]


# ------------------------------------------------------------------------------ the runner


@pytest.fixture(scope="module")
def _base(django_db_setup, django_db_blocker):
    """The world, built once for the module inside a transaction rolled back at its end (its
    files in a temporary folder); each test runs in a savepoint of it, each POST in another."""
    media = tempfile.mkdtemp(prefix="qms-matrix-")
    with override_settings(MEDIA_ROOT=media), django_db_blocker.unblock(), transaction.atomic():
        built = build_world()
        yield {k: _freeze(v) for k, v in built.items()}
        transaction.set_rollback(True)
    shutil.rmtree(media, ignore_errors=True)


def _freeze(value):
    if isinstance(value, list):
        return [_freeze(v) for v in value]
    if hasattr(value, "_meta") and hasattr(value, "pk"):
        return ("obj", type(value), value.pk)
    return value


def _thaw(value):
    if isinstance(value, list):
        return [_thaw(v) for v in value]
    if isinstance(value, tuple) and len(value) == 3 and value[0] == "obj":
        return value[1]._default_manager.get(pk=value[2])
    return value


@pytest.fixture
def world(_base, db, settings):
    return {k: _thaw(v) for k, v in _base.items()}


#: addresses of files: asked by GET only
DOWNLOADS = (".pdf", ".xlsx", ".json", ".zip")


class _Rollback(Exception):
    pass


#: pages that are public by design: the login page, the health check, the language switch, and
#: the external auditor's link pages (the token is the credential; A's is revoked here)
PUBLIC = {"login", "logout", "healthz", "set_language", "pack_external", "pack_external_download",
          "api_schema", "api_docs"}  # the API's schema and its docs page describe the API, no data

#: the REST API answers a request without a token 401 (JSON), never a login page
API = "/api/v1/"


def _queries(w: dict) -> list[dict]:
    """A page without parameters is also asked for A by its query string: A's code, A's ids."""
    b1 = w["b1"]
    return [{}, {"unit": b1.code, "parent": b1.code, "source": b1.code, "source_code": b1.code, "year": TODAY.year,
                 "certificate": w["certificate"].pk, "target": w["target"].pk, "version": w["version"].pk,
                 "a": w["version"].pk, "b": w["version"].pk, "show": "all", "status": "all", "state": "all"},
            {"unit": b1.pk, "parent": b1.pk, "root": b1.pk, "member": w["plain"].pk}]


def _form(w: dict) -> dict:
    """A POST naming A's objects in every field a page reads an object from."""
    b1, m = w["b1"], w["plain"]
    return {"unit": b1.pk, "units": [b1.pk], "units_present": [b1.pk], "root": b1.pk, "parent": b1.pk, "to_unit": b1.pk,
            "lead_unit": b1.pk, "decided_by_unit": b1.pk, "sources": [b1.pk], "receiver": b1.pk, "code": b1.code,
            "member": m.pk, "members": [m.pk], "owner": m.pk, "leader": m.pk, "auditees": [m.pk],
            "target": w["target"].pk, "followup": w["followup"].pk, "request": w["removal"].pk, "token": w["roster_token"],
            "item": w["nc"].pk, "link": 1, "result": 1, "entry": w["campaign_entry"].pk,
            "reason": "测试", "note": "测试", "text": "测试", "evidence": "测试", "comment": "测试", "outcome": "approved",
            "year": TODAY.year, "date": TODAY.isoformat(), "done_on": TODAY.isoformat(), "held_on": TODAY.isoformat(),
            "paid_on": TODAY.isoformat(), "month": f"{TODAY:%Y-%m}", "amount": "10", "way": "cash", "presence": "present"}


#: rows without ``scope_unit_lookup``: the lookup to their unit, to place a change in A or not
OWNER_LOOKUP = {
    "qms.rolegrant": "unit", "qms.policyoverride": "unit", "procedures.document": "owner",
    "procedures.documentversion": "document__owner", "procedures.obligation": "version__document__owner",
    "procedures.recordform": "owner", "procedures.formfield": "form__owner", "audits.checklistitem": "audit__root",
    "audits.sampledrecord": "audit__root", "audits.auditmeeting": "audit__root", "audits.reviewdecision": "review__root",
    "audits.scoringitem": "scheme__root", "audits.campaignitem": "campaign__root", "audits.team": "campaign__root",
    "qms.noticechannels": "user__member__memberships__unit",  # one's own 接收通知的方式 (a login with no member: its own)
}


def _touches_a(w: dict, entries, name: str) -> list[str]:
    """New ledger entries that are about A (or cannot be placed): what a POST of B changed in A.
    A change B makes in its own unit (a page working on the requester's own scope) is not one;
    neither is the refusal of A's revoked link, which the link pages log by design."""
    models = ledger.registered_models()
    bad = []
    for e in entries:
        if name in PUBLIC and e.action == "pack_link.refused":
            continue
        model = models.get(e.obj_type)
        lookup = getattr(model, "scope_unit_lookup", OWNER_LOOKUP.get(e.obj_type)) if model else None
        if lookup is None:
            bad.append(f"{e.action} {e.obj_type}#{e.obj_id}")
            continue
        path = f"{lookup}__path__startswith" if lookup else "path__startswith"
        if not model._default_manager.filter(pk=e.obj_id).exclude(**{path: w["b1"].path}).exists():
            bad.append(f"{e.action} {e.obj_type}#{e.obj_id}")
    return bad


def _row_counts() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()
            if m._meta.app_label in ("qms", "procedures", "workflows", "audits", "auth")}


def _judge(w, who, name, method, url, r, needles, client) -> list[str]:
    out = []
    if r.status_code >= 500:
        return [f"{who} {method} {url}: {r.status_code}"]
    location = r.get("Location", "")
    if who is None and name not in PUBLIC:
        login = r.status_code == 302 and urlparse(location).path == "/login/"
        if not (login or r.status_code in (400, 403, 404, 405) or (url.startswith(API) and r.status_code == 401)):
            out.append(f"anonymous {method} {url}: {r.status_code} {location} (not sent to the login page)")
    text = readable(r.content, r.get("Content-Type", "")) if not r.streaming else readable(b"".join(r.streaming_content))
    leaked = found(text, needles)
    if r.status_code in (301, 302, 303) and location and not urlparse(location).netloc and who is not None:
        follow = client.get(location)
        if follow.status_code >= 500:
            out.append(f"{who} {method} {url} → {location}: {follow.status_code}")
        leaked += [f"{n} (after the redirect to {location})" for n in found(readable(follow.content), needles)]
    if leaked:
        out.append(f"{who or 'anonymous'} {method} {url}: {r.status_code} shows A's data: {leaked}")
    return out


@pytest.mark.parametrize("who", ROLES, ids=[r or "anonymous" for r in ROLES])
def test_unit_b_and_anonymous_reach_nothing_of_unit_a(world, client, who):
    w = world
    needles = a_data(w)
    user = w[who] if who else None
    counts, head = _row_counts(), ledger.head()
    from qms.models import PersonalDataView

    views_before = PersonalDataView.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    form = _form(w)
    problems: list[str] = []
    tried = 0
    seen_get: set[str] = set()
    seen_post: set[str] = set()
    if user is not None:
        client.force_login(user)
    for name, _module, url, words in requests_for(w):
        slugged = bool(set(ACTION_SLUGS) & set(params_of(name)))
        base = re.sub(r"/[a-z_]+/$", "/", url) if slugged else url
        if base not in seen_get:  # an action's page once; a list with and without A in the query
            seen_get.add(base)
            for q in (_queries(w) if not params_of(name) else [{}]):
                full = url + ("?" + urlencode(q) if q else "")
                r = client.get(full)
                problems += _judge(w, who, name, "GET", full, r, needles, client)
                tried += 1
        # B's secretary tries every action of every page; the other roles each page once
        if url.endswith(DOWNLOADS):
            posts = []  # a file is the same answer to GET and POST
        elif who == "sec_b2":
            posts = [form] + [{**form, "action": word, "step": word} for word in words]
        elif base in seen_post:
            posts = []
        else:
            posts = [form]
        seen_post.add(base)
        for data in posts:
            try:
                with transaction.atomic():
                    before = ledger.head()
                    r = client.post(url, data)
                    problems += _judge(w, who, name, "POST", url, r, needles, client)
                    if ledger.head() != before:
                        from qms.models import LedgerEntry

                        changed = _touches_a(w, LedgerEntry.objects.filter(seq__gt=before[0]).order_by("seq"), name)
                        if changed:
                            problems.append(f"{who or 'anonymous'} POST {url} {data.get('action', '')}: changed A: {changed}")
                    raise _Rollback
            except _Rollback:
                pass
            tried += 1
            if name in ("login", "logout") and user is not None:
                client.force_login(user)
    assert tried > 200
    assert problems == [], f"{len(problems)} leaks:\n" + "\n".join(problems)
    # nothing changed; the only entries written are the refusals of A's revoked link, by design
    from qms.models import LedgerEntry

    written = set(LedgerEntry.objects.filter(seq__gt=head[0]).values_list("action", flat=True))
    assert written <= {"pack_link.refused"}, written
    # the 身份证号 access log grows with B's own lookups of B's members (by design); none of its new
    # rows may be about a member of A
    from qms.models import PersonalDataView

    logs = ("qms.LedgerEntry", "qms.PersonalDataView")
    new_views = PersonalDataView.objects.filter(pk__gt=views_before)
    assert not new_views.filter(member__memberships__unit__path__startswith=w["b1"].path).exists()
    assert {k: v for k, v in _row_counts().items() if k not in logs} == {k: v for k, v in counts.items() if k not in logs}


def _api_requests(w: dict) -> list[tuple[str, str]]:
    """(pattern name, URL) of every REST API endpoint (api/urls.py, under /api/v1/), filled with A."""
    return [(name, url) for name, module, url, _words in requests_for(w) if module.startswith("api.") and url.startswith(API)]


def _api_body(w: dict) -> dict:
    """A JSON body naming A's objects in every field an endpoint reads one from, and valid values
    for the rest (so a missing scope check would act, not fail on the input)."""
    return {"unit": w["b1"].code, "start": f"{TODAY.year}-01-01", "end": TODAY.isoformat(),
            "member": w["plain"].pk, "owner": w["plain"].pk, "presence": "present", "planned_date": TODAY.isoformat(),
            "place": "测试", "topic": "测试", "held_on": TODAY.isoformat(), "reason": "测试", "elements": {"speeches": "测试"},
            "why": ["测试"], "root_cause": "测试", "correction": "测试", "corrective_action": "测试",
            "due_date": TODAY.isoformat(), "evidence": "测试", "done_on": TODAY.isoformat(), "effective": True, "note": "测试"}


def _api_import_bodies(w: dict, name: str) -> list[dict]:
    """The bulk imports' own bodies, naming A: A's unit, and A's people by their 身份证号 (as if
    enrolling them in B's own unit) — each must be refused without a word of A."""
    people = [Member.objects.get(user=w[k]) for k in ("sec_b1", "member")]
    if name == "api-import-members":
        row = {"name": "测试", "gender": "男", "category": "正式党员", "joined_on": "2015-07-01", "full_on": "2016-07-01"}
        return [{"members": [{**row, "id_number": p.id_number, "unit": unit} for p in people
                             for unit in (w["b1"].code, w["b2"].code)]}]
    if name == "api-import-meetings":
        return [{"meetings": [{"external_id": "matrix-1", "unit": w["b1"].code, "date": f"{TODAY.year - 1}-03-10",
                               "category": "branch_general_meeting", "topic": "测试"}]}]
    return []


@pytest.mark.parametrize("who", ROLES[:-1])
def test_unit_b_tokens_reach_nothing_of_unit_a_through_the_api(world, client, who):
    """The trust requirement for the REST API: a read-write token of each of B's roles walks every
    API endpoint — GET, GET with A's code and ids in the query, POST with A's ids in a JSON body
    (and with the endpoint's fields only) — no 5xx, none of A's data, nothing changed."""
    from api import tokens as api_tokens
    from qms.models import LedgerEntry

    w = world
    needles = a_data(w)
    h = {"HTTP_AUTHORIZATION": f"Bearer {api_tokens.token_create_personal(actor=w[who], name='测试', write=True).secret}"}
    counts, head = _row_counts(), ledger.head()
    body = _api_body(w)
    problems, tried = [], 0
    for name, url in _api_requests(w):
        for q in (_queries(w) if not params_of(name) else [{}]):
            full = url + ("?" + urlencode(q) if q else "")
            r = client.get(full, **h)
            tried += 1
            if r.status_code >= 500:
                problems.append(f"{who} GET {full}: {r.status_code}")
            if leaked := found(readable(r.content), needles):
                problems.append(f"{who} GET {full}: {r.status_code} shows A's data: {leaked}")
        for data in (body, {}, *_api_import_bodies(w, name)):
            r = client.post(url, data, content_type="application/json", **h)
            tried += 1
            if r.status_code >= 500 or (r.status_code < 400 and params_of(name)):
                problems.append(f"{who} POST {url}: {r.status_code} {r.content[:200]!r}")
            if leaked := found(readable(r.content), needles):
                problems.append(f"{who} POST {url}: {r.status_code} shows A's data: {leaked}")
    assert tried > 60
    assert problems == [], f"{len(problems)} problems:\n" + "\n".join(problems)
    assert not LedgerEntry.objects.filter(seq__gt=head[0]).exists()
    assert {k: v for k, v in _row_counts().items() if k != "qms.PersonalDataView"} == \
        {k: v for k, v in counts.items() if k != "qms.PersonalDataView"}


def test_unit_a_sees_its_own_data_through_the_api(world, client):
    """The control of the test above: A's secretary's token finds A's data on the same endpoints."""
    from api import tokens as api_tokens

    w = world
    needles = a_data(w)
    h = {"HTTP_AUTHORIZATION": f"Bearer {api_tokens.token_create_personal(actor=w['sec_b1'], name='测试').secret}"}
    blind = []
    for name, url in _api_requests(w):
        if name.startswith("api-audit-"):  # the committee's audit: its team and the 体系管理员 read it (as on the pages)
            continue
        if name.endswith(("-detail", "-record", "-attendance", "-attachments")) or name.endswith("-list"):
            r = client.get(url, **h)
            if r.status_code != 200 or not found(readable(r.content), needles):
                blind.append(f"{url}: {r.status_code}")
    assert blind == [], "A's own API answers where the detector finds none of A's data:\n" + "\n".join(blind)


def params_of(name: str) -> list[str]:
    for route, p in patterns():
        if p.name == name:
            return params(route)
    return []


#: The control: A's own pages, files and downloads, as A's secretary and the 体系管理员 — the
#: same detector finds A's data in each (so an answer to B that carried it would be caught).
CONTROL = ("member_detail", "occurrence_detail", "signin_sheet", "attachment_download", "nc_detail", "nc_attachment",
           "nc_feedback_pdf", "decision_file", "pack_download", "system_certificate", "recruitment_applicant",
           "procedure_form_pdf", "audit_report_pdf", "org_change_page", "targets_tree", "unit_detail")
CONTROL_LISTS = ("/members/export.xlsx?unit=B1", "/work/records.xlsx?unit=B1", "/audits/problems.xlsx", "/members/?unit=B1")


@pytest.mark.parametrize("who", ["sec_b1", "admin"])
def test_unit_a_sees_its_own_data(world, client, who):
    w = world
    needles = a_data(w)
    client.force_login(w[who])
    skip = {"audit_report_pdf"} if who == "sec_b1" else set()  # the committee's audit: its team and the 体系管理员 read it
    urls = [u for name, _m, u, _w in requests_for(w) if name in CONTROL and name not in skip] + list(CONTROL_LISTS)
    assert {name for name, _m, _u, _w in requests_for(w) if name in CONTROL} == set(CONTROL)
    blind = []
    for url in urls:
        r = client.get(url)
        body = readable(b"".join(r.streaming_content) if r.streaming else r.content)
        if r.status_code != 200 or not found(body, needles):
            blind.append(f"{url}: {r.status_code} {found(body, needles)}")
    assert blind == [], "A's own pages where the detector finds none of A's data:\n" + "\n".join(blind)


# ------------------------------------------------------------- the leaks the matrix found


def test_lead_and_chair_choices_name_no_sibling_officer(world, client):
    """Found by the matrix: the audit-lead and review-chair lists named every officer of the
    organisation, 第一党支部's secretary included, to 第二党支部. Now: the people in line with
    the requester's scope (at, above or below it) — the committee's auditors and B's own."""
    w = world
    client.force_login(w["sec_b2"])
    for url, field in (("/audits/new/", "lead"), ("/audits/reviews/", "chair")):
        page = client.get(url).content.decode()
        select = re.search(rf'<select name="{field}"[^>]*>(.*?)</select>', page, re.S).group(1)
        offered = {int(v) for v in re.findall(r'value="(\d+)"', select)}
        assert w["sec_b1"].pk not in offered, url
        assert {w["ia"].pk, w["admin"].pk, w["sec_b2"].pk} <= offered, url


def test_a_removal_request_is_not_decided_or_named_from_another_branch(world, client):
    """Found by the matrix: the 党费 page looked a 除名申请 up by number alone; B's secretary
    deciding A's request got a refusal naming A's unit. Now it is not found within scope."""
    from workflows.models import RemovalRequest

    w = world
    req = w["removal"]
    client.force_login(w["sec_b2"])
    head = ledger.head()
    for action in ("approve", "reject"):
        r = client.post("/work/dues/?unit=B2", {"action": action, "request": req.pk, "note": "同意"}, follow=True)
        assert r.status_code == 200 and found(r.content.decode(), a_data(w)) == []
    assert RemovalRequest.objects.get(pk=req.pk).state == req.state and ledger.head() == head
