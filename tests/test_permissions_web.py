"""Who may act, through the pages: every act of the permission matrix × every role.

For each act with a page, a scenario puts an object of 第一党支部 (or of the committee, where the
act is the committee's) in the state where the act is possible and names the page's POST. Each
role of the ``org`` fixture (and an anonymous visitor, and the duty holders the act's row names)
then makes that POST inside a savepoint that is rolled back, and:

- where the matrix (``permissions.allowed`` with the duties the person holds on the object)
  allows it, the act takes effect: the object's state changes, the ledger head moves, and the
  answer is no error;
- where it does not, the answer is a 403 page whose reason is a Chinese sentence (a 404 for a
  person who cannot see the object's unit at all, the login page for an anonymous visitor), the
  object's state and the ledger head are unchanged — and never a 5xx.

A person who cannot address the object at all — its unit is outside what they see, or the page
works on their own scope and that is another unit — may also get the page back with the form's
error (its choices do not offer the object); nothing may change either way. Where a page refuses
what the row allows because a rule of the act is narrower than the row, the pair is listed in
``NARROWER`` with that rule, and the test holds it to that refusal.

Acts without a page are listed in ``EXEMPT`` with the reason; a new act of the matrix without a
scenario or an exemption fails ``test_every_act_has_a_web_scenario_or_a_reason``. The
organisation is built once for the module; each scenario runs in a savepoint of it.
"""
from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from openpyxl import Workbook

from audits.capa import services as capa
from audits.evidence import services as packs
from audits.internal import services as asvc
from audits.models import (
    AnnualReport,
    Audit,
    ChecklistItem,
    ChecklistTemplate,
    EvidencePack,
    ManagementReview,
    Nonconformity,
    Objective,
    PackLink,
    ProgrammeEntry,
    SampledRecord,
    Score,
    ScoringItem,
)
from audits.performance import scoring
from audits.review import services as review
from procedures import services as psvc
from procedures.models import Document, DocumentVersion, Obligation, VersionStatus
from qms import accounts, ledger, permissions, roster
from qms import services as core
from qms.models import HigherDecision, Member, MemberEvent, Position, RoleGrant, Unit
from qms.scoping import can_see, scopes_for
from tests import factories
from tests.test_permissions import build_org
from workflows import dues
from workflows import services as wsvc
from workflows.models import (
    Applicant,
    Attachment,
    Attendance,
    DuesNonPayment,
    DuesPayment,
    FollowUp,
    Occurrence,
    Record,
    RecruitStep,
    RemovalRequest,
    State,
)

pytestmark = pytest.mark.django_db
D = dt.date
TODAY = timezone.localdate()
ROLES = ("admin", "sec_b1", "sec_c", "sec_b2", "ia", "member", "ext", None)  # None: an anonymous visitor

#: Acts of the matrix with no page of their own, and why. Keep this short and true.
EXEMPT = {
    # created only by the demo builder and the data set-up (qms/demo.py); no page creates one
    "admin_unit.create": "no page: administrative units come with the demo / data set-up",
    # granted by the demo set-up, and by audit_plan as a step of planning (the audit team's
    # time-limited reading access) — that path is covered by audit.plan below
    "role.grant": "no page: granted at set-up, and inside audit.plan (covered there)",
    # organisation rule overrides are set by the data set-up; no page edits them yet
    "policy.override": "no page: overrides are set by the data set-up",
    # publishing happens in the daily task publish_due, or inside version.approve when the
    # effective date has come (covered by version.approve)
    "version.publish": "no page: the daily task publishes; approve publishes when due (covered)",
    # evidence files are uploaded on the implementation form: a step of nc.implement, whose
    # check covers it (qms.permissions.act: steps of an authorised act are not asked again)
    "nc.attach": "no page of its own: uploaded with nc.implement (covered there)",
    # one's own password, on 我的账号: the object is the requester's own login (duty self), so
    # every logged-in person may and nobody may for another — tests/test_accounts.py
    "account.change_password": "one's own login only (duty self): tests/test_accounts.py",
    # one's own authenticator, on 我的账号 (双因素登录): duty self, like the password above
    "otp.enrol": "one's own login only (duty self): tests/test_login_otp.py",
    "otp.confirm": "one's own login only (duty self): tests/test_login_otp.py",
    # one's own channels (接收通知的方式, on 我的账号): duty self, like the password above
    "notice.channels": "one's own login only (duty self): tests/test_notify_channels.py",
    "otp.recovery_regenerate": "one's own login only (duty self): tests/test_login_otp.py",
    # one's own API token, on 数据接口令牌: duty self, like the password above — tests/test_api.py
    "api_token.create_personal": "one's own token only (duty self): tests/test_api.py",
}


#: Where a page refuses what the act's row allows, because a rule of the act itself is narrower
#: than the row — shown here, not hidden: (act, role) → the refusal the page gives. The test
#: asserts that it is still refused with that reason, so a change on either side shows up.
NARROWER = {
}


@dataclass
class Case:
    """One POST that does the act, and how to see that it did."""

    url: str
    data: dict[str, Any] | Callable[[Unit | None], dict[str, Any]]  # callable: of the requester's scope unit
    snapshot: Callable[[], Any]  # the object's state: changes iff the act took effect
    unit: Unit | None  # the object's unit, as the matrix sees it
    duties: dict[str, set[str]] = field(default_factory=dict)  # duties a role holds on the object
    extra: dict[str, Any] = field(default_factory=dict)  # more people to try (duty holders)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    by_scope: bool = False  # the page acts on the requester's own scope (objectives, programme …)
    root: Unit | None = None  # the page's root is the requester's scope: others cannot address it
    prepare: Callable[[Any], dict[str, Any]] | None = None  # more POST data made for the requester (a token)


SCENARIOS: dict[str, Callable[[dict], Case]] = {}


def scenario(key: str):
    def wrap(fn):
        assert key in permissions.matrix(), key
        SCENARIOS[key] = fn
        return fn
    return wrap


def _iso(d: dt.date) -> str:
    return d.isoformat()


# ------------------------------------------------------------------------ helpers for set-up


def _person(unit, name: str, username: str):
    """A member of ``unit`` with a login."""
    m = factories.member(unit, name)
    u = factories.user(username)
    core.member_update(m, actor=None, reason="账号", user=u)
    return m, u


def _plain(org) -> Member:
    """A 党员 of 第一党支部 without a login or an office: the one the acts are about."""
    if "plain" not in org:
        org["plain"] = factories.member(org["b1"], "王五")
    return org["plain"]


def _library_doc() -> Document:
    return (Document.objects.filter(owner__isnull=True, versions__status=VersionStatus.EFFECTIVE,
                                    versions__obligations__per__gt="").distinct().order_by("pk").first())


def _draft(org) -> DocumentVersion:
    """第一党支部 adopts a library document: a draft drafted by its secretary."""
    return psvc.document_adopt(_library_doc(), unit=org["b1"], actor=org["sec_b1"], label="2026.1", change_reason="采用")


def _row(model, pk):
    """The object's whole row: any change of state, content or signatures shows."""
    return lambda: model.objects.filter(pk=pk).values().first()


def _effective(org) -> DocumentVersion:
    """第一党支部's own version in force: drafted by its secretary, reviewed by the committee's,
    approved by the 体系管理员."""
    v = _draft(org)
    psvc.version_submit(v, actor=org["sec_b1"])
    psvc.version_review(v, actor=org["sec_c"], comment="同意", password="pass-12345")
    return psvc.version_approve(v, actor=org["admin"], effective_on=TODAY, password="pass-12345")


def _version_state(v: DocumentVersion):
    return _row(DocumentVersion, v.pk)


def _occ(org) -> Occurrence:
    return (Occurrence.objects.filter(unit=org["b1"], obligation_key="branch_general_meeting", period_start__lte=TODAY)
            .order_by("-period_start").first())


def _day(occ) -> dt.date:
    return max(occ.period_start, TODAY - dt.timedelta(days=1)) if occ.period_start < TODAY else occ.period_start


def _occ_state(occ):
    """The occurrence's row and its record's (elements, submission, check)."""
    return lambda: (_row(Occurrence, occ.pk)(), Record.objects.filter(occurrence_id=occ.pk).values().first())


def _planned(org) -> Occurrence:
    occ = _occ(org)
    wsvc.occurrence_plan(occ, actor=org["sec_b1"], planned_date=_day(occ), place="党员活动室", topic="学习党章")
    return occ


def _roster(org, occ) -> list[Member]:
    return list(wsvc.roster_on(org["b1"], _day(occ)))


def _recorded(org) -> Occurrence:
    """A full record: elements, everybody present, one resolution."""
    occ = _planned(org)
    people = _roster(org, occ)
    wsvc.record_save(occ, actor=org["sec_b1"], elements={"time": f"{_iso(_day(occ))}T09:00", "speeches": "书记传达;党员发言",
                                                          "votes": {"for": len(people), "against": 0, "abstain": 0}})
    for m in people:
        wsvc.attendance_mark(occ, actor=org["sec_b1"], member=m, presence="present")
    wsvc.followup_add(occ, actor=org["sec_b1"], text="组织专题学习", owner=people[0], due_date=_day(occ) + dt.timedelta(days=20))
    return occ


def _held(org) -> Occurrence:
    occ = _recorded(org)
    wsvc.record_submit(occ, actor=org["sec_b1"], held_on=_day(occ))
    return Occurrence.objects.get(pk=occ.pk)


def _checked(org) -> Occurrence:
    occ = _held(org)
    wsvc.record_check(occ, actor=org["admin"], password="pass-12345")
    return Occurrence.objects.get(pk=occ.pk)


def _act_url(occ, action: str) -> str:
    return f"/work/{occ.pk}/{action}/"


def _nc_state(nc):
    return _row(Nonconformity, nc.pk)


def _nc_at(org, step: str | None) -> Nonconformity:
    """A ticket of 第一党支部 raised by the internal auditor as a finding of an audit (so the
    raiser holds no office: the duty alone lets them verify), carried to ``step`` by the
    branch's secretary (the implementer) and the committee's (the level above)."""
    nc = capa.nc_raise(actor=org["ia"], unit=org["b1"], source="internal_audit", grade="minor", clause="DJ-CX-02",
                       requirement="每月至少召开1次支委会", evidence="3月无支委会记录", audit=_audit(org))
    sec = org["sec_b1"]
    steps = ("acknowledged", "analysed", "planned", "implemented", "verified", "closed")
    for s in steps[: steps.index(step) + 1] if step else ():
        if s == "acknowledged":
            nc = capa.nc_acknowledge(nc, actor=sec)
        elif s == "analysed":
            nc = capa.nc_analyse(nc, actor=sec, why=["为何未开", "无人提醒"], root_cause="缺少制度")
        elif s == "planned":
            nc = capa.nc_plan(nc, actor=sec, correction="补开", corrective_action="建立提醒制度", owner=_plain(org),
                              due_date=TODAY + dt.timedelta(days=10))
        elif s == "implemented":
            nc = capa.nc_implement(nc, actor=sec, evidence="已补开", done_on=TODAY)
        elif s == "verified":
            nc = capa.nc_verify(nc, actor=org["sec_c"], note="已核实", password="pass-12345")
        elif s == "closed":
            nc = capa.nc_close(nc, actor=org["sec_c"], effectiveness_after_days=0, password="pass-12345")
    return Nonconformity.objects.get(pk=nc.pk)


#: the ticket of ``_nc_at``: raised by the internal auditor, implemented by 第一党支部's secretary
NC_DUTIES = {"ia": {"raiser"}, "sec_b1": {"implementer"}}


def _audit(org, *, opened: bool = False) -> Audit:
    """An internal audit of 第一党支部 by the committee, the internal auditor leading it."""
    a = asvc.audit_plan(actor=org["admin"], year=TODAY.year, title="年度内审", root=org["c"], units=[org["b1"]], lead=org["ia"],
                        start=TODAY, end=TODAY + dt.timedelta(days=5))
    if opened:
        asvc.audit_open(a, actor=org["ia"], held_on=TODAY, place="会议室", notes="首次会议", auditors=[org["ia"]],
                        auditees=[_plain(org)])
    return Audit.objects.get(pk=a.pk)


AUDIT_DUTIES = {"ia": {"audit_team", "audit_lead"}}  # ia leads the audit


def _pack(org, *, done: bool) -> EvidencePack:
    """A pack of 第一党支部, built (``done``) or failed, through the real run with a stand-in builder."""
    import audits.evidence.builder as builder

    pack = packs.pack_request(actor=org["admin"], root=org["b1"], start=D(TODAY.year, 1, 1), end=TODAY, enqueue=False)
    real = builder.build_pack

    def fake(root, start, end, *, out_dir, **_):
        if not done:
            raise OSError("排版失败")
        pdf, zf = out_dir / "p.pdf", out_dir / "p.zip"
        pdf.write_bytes(b"%PDF-1.4 test")
        zf.write_bytes(b"PK\x05\x06" + b"\0" * 18)
        return SimpleNamespace(pdf_path=pdf, zip_path=zf, pdf_sha256="0" * 64, zip_sha256="0" * 64, pages=1,
                               ledger_head=(1, "0" * 64), missing_attachments=[], layout=SimpleNamespace(processes=1))

    builder.build_pack = fake
    try:
        return packs.pack_run(pack.pk)
    finally:
        builder.build_pack = real



# --------------------------------------------------------------------------------- 账号


def _login_of(org, name: str, username: str):
    """A 党员 of 第一党支部 with a login and no office or role: the login the acts are about."""
    _m, u = _person(org["b1"], name, username)
    return u


@scenario("account.create")
def _(org):
    m = _plain(org)
    return Case(f"/accounts/members/{m.pk}/create/", {"username": "wangwu", "password": ""},
                lambda: Member.objects.get(pk=m.pk).user_id, org["b1"])


@scenario("account.reset_password")
def _(org):
    u = _login_of(org, "赵六", "zhaoliu")
    return Case(f"/accounts/logins/{u.pk}/reset/", {}, lambda: User.objects.get(pk=u.pk).password, org["b1"])


@scenario("account.disable")
def _(org):
    u = _login_of(org, "钱七", "qianqi")
    return Case(f"/accounts/logins/{u.pk}/disable/", {"reason": "长期外派"}, lambda: User.objects.get(pk=u.pk).is_active,
                org["b1"])


@scenario("account.enable")
def _(org):
    u = _login_of(org, "孙八", "sunba")
    accounts.login_disable(actor=org["admin"], user=u, reason="长期外派")
    return Case(f"/accounts/logins/{u.pk}/enable/", {"reason": "返岗"}, lambda: User.objects.get(pk=u.pk).is_active,
                org["b1"])


@scenario("account.unlock")
def _(org):
    from axes.models import AccessAttempt

    _login_of(org, "周十", "zhoushi")
    AccessAttempt.objects.create(username="zhoushi", ip_address="10.9.9.9", user_agent="", http_accept="", path_info="/login/",
                                 get_data="", post_data="", failures_since_start=5)
    return Case("/accounts/lockouts/unlock/", {"username": "zhoushi", "ip_address": "10.9.9.9", "reason": "已电话核实本人"},
                lambda: AccessAttempt.objects.filter(username="zhoushi").exists(), None)


@scenario("robot.create")
def _(org):
    from qms.models import GroupRobot

    return Case("/accounts/robots/", {"unit": org["b1"].pk, "name": "第一党支部工作群", "kind": "wecom",
                                      "webhook": "KEY-0123456789abcdef", "kinds": ["meeting_due"]},
                lambda: GroupRobot.objects.count(), org["b1"])


@scenario("robot.update")
def _(org):
    from qms import channel_settings

    r = channel_settings.robot_create(actor=org["admin"], unit=org["b1"], name="第一党支部工作群", kind="wecom",
                              webhook="KEY-0123456789abcdef", kinds=["meeting_due"])
    return Case(f"/accounts/robots/{r.pk}/", {"name": "支部群", "kinds": ["meeting_due", "pack_ready"], "active": "on"},
                lambda: type(r).objects.get(pk=r.pk).kinds, org["b1"])


@scenario("account.otp_reset")
def _(org):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from qms import otp

    u = _login_of(org, "吴十一", "wushiyi")
    otp.otp_enrol(actor=u)
    return Case(f"/accounts/logins/{u.pk}/authenticator/reset/", {"reason": "手机丢失,已核实本人"},
                lambda: TOTPDevice.objects.filter(user=u).count(), org["b1"])


@scenario("api_token.create_integration")
def _(org):
    from api.models import ApiToken

    return Case("/api/tokens/", {"kind": "integration", "name": "OA系统", "units": [org["b1"].pk]},
                lambda: ApiToken.objects.filter(name="OA系统").count(), org["b1"])


@scenario("api_token.revoke")
def _(org):
    from api import tokens
    from api.models import ApiToken

    t = tokens.token_create_integration(actor=org["admin"], name="OA系统", units=[org["b1"]]).token
    return Case(f"/api/tokens/{t.pk}/revoke/", {"reason": "对接结束"}, lambda: ApiToken.objects.get(pk=t.pk).revoked_at,
                org["b1"], duties={"admin": {"self"}})


@scenario("role.grant_auditor")
def _(org):
    u = _login_of(org, "李九", "lijiu")
    m = Member.objects.get(user=u)
    return Case(f"/accounts/members/{m.pk}/grant/", {"role": "internal_auditor", "unit": org["b1"].pk, "valid_from": _iso(TODAY)},
                lambda: RoleGrant.objects.filter(user=u).count(), org["b1"])


@scenario("role.expire")
def _(org):
    u = _login_of(org, "周十", "zhoushi")
    g = core.role_grant(actor=None, user=u, role="internal_auditor", unit=org["b1"], valid_from=D(2025, 1, 1))
    return Case(f"/accounts/grants/{g.pk}/expire/", {"last_day": _iso(TODAY), "reason": "任期届满"},
                lambda: RoleGrant.objects.get(pk=g.pk).valid_until, org["b1"])

# --------------------------------------------------------------------------- 组织与党员


@scenario("unit.create")
def _(org):
    return Case("/units/new/", {"code": "B1G9", "name": "第九党小组", "kind": "group", "parent": org["b1"].pk},
                lambda: Unit.objects.filter(code="B1G9").exists(), org["b1"])


@scenario("calendar.edit")
def _(org):
    from qms.models import WorkCalendarYear

    return Case("/rules/calendar/", {"year": "2031", "source": "《国务院办公厅关于2031年部分节假日安排的通知》",
                                     "off": "1月1日", "on": "", "reason": ""},
                lambda: WorkCalendarYear.objects.filter(year=2031).exists(), None)


@scenario("unit.update")
def _(org):
    b1 = org["b1"]
    return Case(f"/units/{b1.code}/edit/", {"code": b1.code, "name": "第一党支部(更名)", "kind": b1.kind, "parent": org["c"].pk,
                                             "founded_on": "", "term_start": "", "term_years": "", "reason": "更名"},
                lambda: Unit.objects.get(pk=b1.pk).name, b1)


@scenario("decision.record")
def _(org):
    return Case("/units/B1/decisions/new/", {"kind": "term_extend", "doc_number": "测委〔2026〕1号", "date": _iso(TODAY),
                                             "decided_by_unit": org["c"].pk, "outcome": "approved", "text": "同意"},
                lambda: HigherDecision.objects.count(), org["c"])


@scenario("decision.record_external")
def _(org):
    return Case("/units/C/decisions/new/", {"kind": "election_request", "doc_number": "市机工委〔2026〕1号", "date": _iso(TODAY),
                                            "decided_by_name": "市直机关工委", "outcome": "approved"},
                lambda: HigherDecision.objects.count(), org["c"])


@scenario("election.run")
def _(org):
    from qms.structure import add_years
    from workflows.models import Election
    from workflows.scheduler import schedule

    b1 = core.unit_update(org["b1"], actor=None, reason="本届任期", term_start=add_years(TODAY, -3) + dt.timedelta(days=30))
    schedule(today=TODAY, root=b1)  # the 换届 occurrence is due: the election may be opened
    return Case("/work/elections/B1/", {"step": "open"}, lambda: Election.objects.count(), org["b1"])


@scenario("org_change.run")
def _(org):
    from workflows.models import OrgChange

    return Case("/work/orgchanges/unit/B1/new/", {"reason": "党员增加,增设党小组", "code_0": "B1G8", "name_0": "第八党小组",
                                                   "kind_0": "group"},
                lambda: OrgChange.objects.count(), org["b1"])


@scenario("coalition.manage")
def _(org):
    from workflows.models import Coalition

    return Case("/work/coalitions/", {"action": "coalition", "kind": "liaison", "name": "测试联系组", "basis": "业务相近",
                                      "units": [org["b1"].pk, org["b2"].pk], "lead_unit": org["b1"].pk,
                                      "content": "交流", "form": "联席会议"},
                lambda: Coalition.objects.count(), org["c"], root=org["c"])


@scenario("coalition.meeting")
def _(org):
    from workflows import coalitions
    from workflows.models import CoalitionMeeting

    leader = Member.objects.get(user=org["member"])  # a plain member of 第一党支部 leads the group
    c = coalitions.coalition_create(actor=None, root=org["c"], kind="liaison", name="测试联系组", basis="业务相近",
                                    units=[org["b1"], org["b2"]], lead_unit=org["b1"], leader=leader, content="交流",
                                    form="联席会议")
    return Case(f"/work/coalitions/{c.pk}/", {"held_on": _iso(TODAY), "topic": "联席会议", "place": "会议室",
                                               "units_present": [org["b1"].pk], "attendance": "5", "minutes": "议定"},
                lambda: CoalitionMeeting.objects.count(), org["c"], duties={"member": {"coalition_lead"}})


@scenario("member.enroll")
def _(org):
    return Case("/members/new/", {"name": "新党员", "gender": "M", "id_number": factories.id_number(), "birth_date": "1990-01-01",
                                  "category": "full", "joined_on": "2015-07-01", "full_on": "2016-07-01", "unit": org["b1"].pk,
                                  "start": _iso(TODAY)},
                lambda: Member.objects.count(), org["b1"])


def _member_form(m: Member, **changes) -> dict:
    data = {f: getattr(m, f) or "" for f in ("name", "gender", "id_number", "birth_date", "ethnicity", "education", "phone",
                                             "category", "joined_on", "full_on")}
    data.update(changes)
    return {k: (_iso(v) if isinstance(v, dt.date) else v) for k, v in data.items()}


@scenario("member.update")
def _(org):
    m = _plain(org)
    return Case(f"/members/{m.pk}/amend/", {**_member_form(m, phone="13900002222"), "reason": "更正手机号"},
                lambda: Member.objects.get(pk=m.pk).phone, org["b1"])


@scenario("member.transfer")
def _(org):
    m = _plain(org)
    return Case(f"/members/{m.pk}/transfer/", {"date": _iso(TODAY), "to_unit": "", "note": "转往系统外"},
                lambda: (Member.objects.get(pk=m.pk).status, m.memberships.filter(end__isnull=True).count()), org["b1"])


@scenario("member.status_change")
def _(org):
    m = _plain(org)
    return Case(f"/members/{m.pk}/status/", {"kind": "retire", "category": "", "date": _iso(TODAY), "note": "退休"},
                lambda: MemberEvent.objects.filter(member=m).count(), org["b1"])


@scenario("member.event_record")
def _(org):
    m = _plain(org)
    return Case(f"/members/{m.pk}/events/new/", {"kind": "hardship", "date": _iso(TODAY), "note": "家人住院"},
                lambda: MemberEvent.objects.filter(member=m).count(), org["b1"])


@scenario("position.assign")
def _(org):
    m = _plain(org)
    return Case(f"/units/{org['b1'].code}/positions/new/", {"member_id_number": m.id_number, "title": "propaganda",
                                                              "start": _iso(TODAY)},
                lambda: Position.objects.filter(member=m).count(), org["b1"])


@scenario("position.end")
def _(org):
    p = core.position_assign(actor=None, member=_plain(org), unit=org["b1"], title="propaganda", start=D(2024, 1, 1))
    return Case(f"/positions/{p.pk}/end/", {"reason": "换届"}, lambda: Position.objects.get(pk=p.pk).end, org["b1"])


@scenario("roster.import")
def _(org):
    """The act takes effect on confirm: the requester's own upload, kept and previewed; one who
    may not upload confirms the 体系管理员's (refused either way)."""
    wb = Workbook()
    ws = wb.active
    ws.append(roster.HEADERS)
    values = {"姓名": "花名册党员", "性别": "男", "身份证号": factories.id_number(), "出生日期": "1985-03-02", "民族": "汉族",
              "学历": "本科", "手机号": "13900001111", "人员类别": "正式党员", "入党日期": "2010-07-01",
              "转正日期": "2011-07-01", "所在党组织编码": org["b1"].code, "党小组编码": "", "加入日期": "2024-01-01"}
    ws.append([values[h] for h in roster.HEADERS])
    buf = io.BytesIO()
    wb.save(buf)

    def prepare(user) -> dict[str, str]:
        owner = user
        try:
            token = roster.stage_upload(io.BytesIO(buf.getvalue()), actor=user).token if user else None
        except permissions.NotPermitted:
            token = None
        if token is None:
            owner = org["admin"]
            token = roster.stage_upload(io.BytesIO(buf.getvalue()), actor=owner).token
        return {"token": token, "seen": roster.preview_staged(token, actor=owner)[1].fingerprint}

    return Case("/roster/import/confirm/", {}, lambda: Member.objects.count(), org["b1"], prepare=prepare)


# ---------------------------------------------------------------------------- 体系文件


@scenario("version.create")
def _(org):
    v = _effective(org)
    doc = v.document
    return Case(f"/procedures/{doc.pk}/new-version/", {"label": "2026.2", "change_reason": "修订"},
                lambda: doc.versions.count(), org["b1"])


@scenario("version.update")
def _(org):
    v = _draft(org)
    data = {f: getattr(v, f) or "" for f in ("why", "what", "who", "when", "where", "how", "body")}
    return Case(f"/procedures/versions/{v.pk}/edit/", {**data, "what": "修订后的内容", "change_reason": "修订"},
                _version_state(v), org["b1"], duties={"sec_b1": {"author"}})


@scenario("obligation.update")
def _(org):
    v = _draft(org)
    o = v.obligations.filter(per__gt="", event="", before="").order_by("pk").first() or v.obligations.filter(per__gt="").first()
    return Case(f"/procedures/obligations/{o.pk}/edit/", {"title": o.title, "count": o.count or 1, "per": o.per, "every_months": "",
                                                          "grace_days": (o.grace_days or 0) + 3, "source": o.source or "本支部制度",
                                                          "reason": "放宽宽限"},
                lambda: Obligation.objects.get(pk=o.pk).grace_days, org["b1"])


@scenario("version.submit")
def _(org):
    v = _draft(org)
    return Case(f"/procedures/versions/{v.pk}/submit/", {}, _version_state(v), org["b1"], duties={"sec_b1": {"author"}})


@scenario("version.review")
def _(org):
    v = _draft(org)
    psvc.version_submit(v, actor=org["sec_b1"])
    return Case(f"/procedures/versions/{v.pk}/review/", {"comment": "同意", "password": "pass-12345"}, _version_state(v), org["b1"],
                duties={"sec_b1": {"author"}})


@scenario("version.send_back")
def _(org):
    v = _draft(org)
    psvc.version_submit(v, actor=org["sec_b1"])
    return Case(f"/procedures/versions/{v.pk}/send_back/", {"reason": "请补充依据"}, _version_state(v), org["b1"],
                duties={"sec_b1": {"author"}})


@scenario("version.approve")
def _(org):
    v = _draft(org)
    psvc.version_submit(v, actor=org["sec_b1"])
    psvc.version_review(v, actor=org["sec_c"], comment="同意", password="pass-12345")
    return Case(f"/procedures/versions/{v.pk}/approve/", {"effective_on": _iso(TODAY), "password": "pass-12345"}, _version_state(v), org["b1"],
                duties={"sec_b1": {"author"}, "sec_c": {"reviewer"}})


@scenario("version.withdraw")
def _(org):
    v = _effective(org)
    return Case(f"/procedures/versions/{v.pk}/withdraw/", {"reason": "已被新制度取代"}, _version_state(v), org["b1"],
                duties={"sec_b1": {"author"}})


@scenario("document.adopt")
def _(org):
    doc = _library_doc()
    return Case(f"/procedures/{doc.pk}/adopt/", {"unit": org["b1"].pk, "label": "2026.1", "change_reason": "采用"},
                lambda: Document.objects.filter(owner=org["b1"]).count(), org["b1"])


# ---------------------------------------------------------------------------- 执行与记录


@scenario("occurrence.plan")
def _(org):
    occ = _occ(org)
    return Case(_act_url(occ, "plan"), {"planned_date": _iso(_day(occ)), "place": "党员活动室", "topic": "学习党章"},
                _occ_state(occ), org["b1"])


@scenario("occurrence.cancel")
def _(org):
    occ = _occ(org)
    return Case(_act_url(occ, "cancel"), {"reason": "并入党委统一活动"}, _occ_state(occ), org["b1"])


@scenario("record.save")
def _(org):
    occ = _planned(org)
    return Case(_act_url(occ, "save"), {"speeches": "书记传达;党员发言"}, _occ_state(occ), org["b1"])


@scenario("attendance.mark")
def _(org):
    occ = _planned(org)
    return Case(_act_url(occ, "attend"), {"member": _plain(org).pk, "presence": "present"},
                lambda: Attendance.objects.filter(record__occurrence=occ).count(), org["b1"])


@scenario("followup.add")
def _(org):
    occ = _planned(org)
    return Case(_act_url(occ, "resolution"), {"text": "组织专题学习", "owner": _plain(org).pk,
                                             "due_date": _iso(TODAY + dt.timedelta(days=20))},
                lambda: FollowUp.objects.filter(record__occurrence=occ).count(), org["b1"])


@scenario("followup.done")
def _(org):
    occ = _checked(org)
    fu = occ.record.followups.order_by("pk").first()
    return Case(_act_url(occ, "followup_done"), {"followup": fu.pk, "done_on": _iso(TODAY), "outcome": "已完成"},
                lambda: FollowUp.objects.get(pk=fu.pk).done_on, org["b1"])


@scenario("record.submit")
def _(org):
    occ = _recorded(org)
    return Case(_act_url(occ, "submit"), {"held_on": _iso(_day(occ))}, _occ_state(occ), org["b1"])


@scenario("record.check")
def _(org):
    occ = _held(org)  # submitted by 第一党支部's secretary; the rule names the committee's 组织委员 (or its leaders)
    assert occ.obligation.checker == "organization" and occ.obligation.checker_level == "parent"
    m, checker = _person(org["b2"], "党委组织委员", "c_org")  # the named checker, a member of 第二党支部
    core.position_assign(actor=None, member=m, unit=org["c"], title="organization", start=D(2024, 1, 1))
    return Case(_act_url(occ, "check"), {"password": "pass-12345"}, _occ_state(occ), org["b1"],
                duties={"sec_b1": {"submitter"}, "sec_c": {"checker"}, "c_org": {"checker"}}, extra={"c_org": checker})


@scenario("occurrence.close")
def _(org):
    occ = _checked(org)
    for fu in occ.record.followups.all():
        wsvc.followup_done(fu, actor=org["sec_b1"], done_on=TODAY, outcome="已完成")
    return Case(_act_url(occ, "close"), {}, _occ_state(occ), org["b1"])


@scenario("record.amend")
def _(org):
    occ = _checked(org)
    return Case(_act_url(occ, "amend"), {"field": "speeches", "value": "书记传达;党员发言(更正)", "reason": "笔误"},
                _occ_state(occ), org["b1"])


@scenario("attachment.add")
def _(org):
    occ = _planned(org)
    return Case(_act_url(occ, "attach"), {}, lambda: Attachment.objects.filter(record__occurrence=occ).count(), org["b1"],
                files={"file": ("签到表.pdf", b"%PDF-1.4 sign-in sheet")})


@scenario("dues.record")
def _(org):
    m = _plain(org)
    month = dues.month_start(TODAY)
    return Case(f"/work/dues/?unit={org['b1'].code}", {"action": "pay", "member": m.pk, "month": f"{month:%Y-%m}",
                                                       "paid_on": _iso(TODAY), "way": "cash", "amount": "10.00"},
                lambda: DuesPayment.objects.filter(member=m).count(), org["b1"])


@scenario("dues.excuse")
def _(org):
    m = _plain(org)
    occ = next(o for o in Occurrence.objects.filter(unit=org["b1"], period_start__lte=TODAY).order_by("-period_start")
               if wsvc.dues_month(o) is not None)
    return Case(_act_url(occ, "dues"), {"paid_on": _iso(TODAY), "way": "cash", f"x_{m.pk}": "经批准免交"},
                lambda: DuesNonPayment.objects.filter(member=m).count(), org["b1"])


@scenario("removal.request")
def _(org):
    m = _plain(org)  # enrolled in 2020 and never paid: in arrears
    return Case(f"/work/dues/?unit={org['b1'].code}", {"action": "remove", "member": m.pk, "reason": "连续6个月未交党费"},
                lambda: RemovalRequest.objects.filter(member=m).count(), org["b1"])


@scenario("removal.decide")
def _(org):
    req = dues.removal_request(_plain(org), actor=org["sec_b1"], reason="连续6个月未交党费")
    return Case(f"/work/dues/?unit={org['b1'].code}", {"action": "approve", "request": req.pk, "note": "同意"},
                lambda: RemovalRequest.objects.get(pk=req.pk).state, org["b1"])


def _applicant(org, until: str):
    """An applicant of 第一党支部 whose next step is ``until`` (steps done by the system itself)."""
    from qms.models import MemberCategory
    from workflows import recruitment_services as rs
    from workflows.recruitment import SAMPLE_FIELDS

    day = TODAY - dt.timedelta(days=800)
    a = rs.applicant_register(actor=None, unit=org["b1"], name="申请人甲", gender="F", id_number=factories.id_number(birth=D(2000, 3, 1)),
                              birth_date=D(2000, 3, 1), applied_on=day)
    full = list(Member.objects.filter(memberships__unit=org["b1"], category=MemberCategory.FULL).values_list("pk", flat=True)[:2])
    plan = [("talk", 10, {}), ("activist_decide", 20, {}), ("activist_file", 25, {}), ("contacts", 30, {"people": full[:1]}),
            ("candidate_decide", 400, {}), ("candidate_file", 405, {}), ("sponsors", 410, {"people": full}),
            ("political_review", 415, {}), ("training", 420, {"days": 3}), ("committee_review", 425, {})]
    for key, offset, extra in plan:
        if key == until:
            break
        rs.branch_step(a, actor=None, step=key, done_on=day + dt.timedelta(days=offset), fields=SAMPLE_FIELDS.get(key, {}), **extra)
    return a


@scenario("recruitment.apply")
def _(org):
    return Case(f"/work/recruitment/?unit={org['b1'].code}",
                {"name": "申请人乙", "gender": "M", "id_number": factories.id_number(birth=D(2001, 4, 2)),
                 "birth_date": "2001-04-02", "applied_on": _iso(TODAY)},
                lambda: Applicant.objects.filter(unit=org["b1"]).count(), org["b1"])


@scenario("recruitment.step")
def _(org):
    a = _applicant(org, "talk")
    return Case(f"/work/recruitment/{a.pk}/", {"step": "talk", "done_on": _iso(a.applied_on + dt.timedelta(days=5)),
                                               "field_talker": "支部书记", "field_content": "了解入党动机"},
                lambda: RecruitStep.objects.filter(applicant=a).count(), org["b1"])


@scenario("recruitment.higher")
def _(org):
    a = _applicant(org, "pre_review")
    return Case(f"/work/recruitment/{a.pk}/", {"step": "pre_review", "done_on": _iso(TODAY),
                                               "notice_start": _iso(TODAY - dt.timedelta(days=30)),
                                               "notice_end": _iso(TODAY - dt.timedelta(days=10)),
                                               "field_conclusion": "预审合格"},
                lambda: RecruitStep.objects.filter(applicant=a).count(), org["b1"])


# ---------------------------------------------------------------------------- 内部审核


@scenario("audit.plan")
def _(org):
    return Case("/audits/new/", lambda unit: {"title": "年度内审", "units": [unit.pk if unit else 0], "lead": org["ia"].pk,
                                              "start": _iso(TODAY), "end": _iso(TODAY + dt.timedelta(days=5))},
                lambda: Audit.objects.count(), None, by_scope=True)


@scenario("programme.build")
def _(org):
    return Case(f"/audits/programme/?year={TODAY.year}", {}, lambda: ProgrammeEntry.objects.count(), None, by_scope=True)


@scenario("audit.checklist")
def _(org):
    a = _audit(org)
    return Case(f"/audits/{a.pk}/item_add/", {"unit": org["b1"].pk, "clause": "9.2", "text": "补充检查项"},
                lambda: ChecklistItem.objects.filter(audit=a).count(), org["c"], duties=AUDIT_DUTIES)


@scenario("audit.sample")
def _(org):
    a = _audit(org)
    _checked(org)  # one executed record of the year to draw
    return Case(f"/audits/{a.pk}/sample/", {"seed": "2026", "per_unit": "1"},
                lambda: SampledRecord.objects.filter(audit=a).count(), org["c"], duties=AUDIT_DUTIES)


@scenario("audit.meeting")
def _(org):
    a = _audit(org)
    return Case(f"/audits/{a.pk}/open/", {"held_on": _iso(TODAY), "place": "会议室", "notes": "首次会议",
                                          "auditors": [org["ia"].pk], "auditees": [_plain(org).pk]},
                lambda: a.meetings.count(), org["c"], duties=AUDIT_DUTIES)


@scenario("audit.item_record")
def _(org):
    a = _audit(org, opened=True)
    item = a.items.order_by("pk").first()
    return Case(f"/audits/{a.pk}/item/", {"item": item.pk, "result": "conform", "note": "记录齐全"},
                lambda: ChecklistItem.objects.get(pk=item.pk).result, org["c"], duties=AUDIT_DUTIES)


@scenario("audit.finding")
def _(org):
    a = _audit(org, opened=True)
    item = a.items.order_by("pk").first()
    asvc.item_record(item, actor=org["ia"], result="nonconform", note="3月支委会记录缺表决情况")
    return Case(f"/audits/{a.pk}/finding/", {"item": item.pk, "grade": "minor"},
                lambda: Nonconformity.objects.count(), org["c"], duties=AUDIT_DUTIES)


@scenario("audit.template")
def _(org):
    a = _audit(org)
    return Case(f"/audits/{a.pk}/template_save/", {"template_name": "支部年度内审"},
                lambda: ChecklistTemplate.objects.count(), org["c"], duties=AUDIT_DUTIES)


# ------------------------------------------------------------------------- 不符合与整改


@scenario("nc.raise")
def _(org):
    return Case("/audits/problems/new/", {"unit": org["b1"].pk, "source": "spot_check", "grade": "minor", "clause": "DJ-CX-02",
                                          "requirement": "每月至少召开1次支委会", "evidence": "4月无支委会记录"},
                lambda: Nonconformity.objects.count(), org["b1"])


@scenario("nc.raise_from_gap")
def _(org):
    wsvc.mark_missed()
    occ = Occurrence.objects.filter(unit=org["b1"], state=State.MISSED).order_by("due_date").first()
    return Case(f"/audits/gaps/{occ.pk}/raise/", {}, lambda: Nonconformity.objects.count(), org["b1"])


def _nc_case(org, step: str | None, action: str, data: dict) -> Case:
    nc = _nc_at(org, step)
    return Case(f"/audits/problems/{nc.pk}/{action}/", data, _nc_state(nc), org["b1"], duties=NC_DUTIES)


@scenario("nc.acknowledge")
def _(org):
    return _nc_case(org, None, "acknowledge", {})


@scenario("nc.analyse")
def _(org):
    return _nc_case(org, "acknowledged", "analyse", {"why1": "为何未开", "why2": "无人提醒", "root_cause": "缺少制度"})


@scenario("nc.plan")
def _(org):
    return _nc_case(org, "analysed", "plan", {"owner": _plain(org).pk, "correction": "补开", "corrective_action": "建立提醒制度",
                                              "due_date": _iso(TODAY + dt.timedelta(days=10))})


@scenario("nc.implement")
def _(org):
    return _nc_case(org, "planned", "implement", {"evidence": "已补开", "done_on": _iso(TODAY)})


@scenario("nc.verify")
def _(org):
    return _nc_case(org, "implemented", "verify", {"note": "已核实", "password": "pass-12345"})


@scenario("nc.reject")
def _(org):
    return _nc_case(org, "implemented", "reject", {"reason": "证据不足"})


@scenario("nc.close")
def _(org):
    return _nc_case(org, "verified", "close", {"password": "pass-12345"})


@scenario("nc.review_effectiveness")
def _(org):
    return _nc_case(org, "closed", "effective", {"note": "三个月未再发生"})


# ---------------------------------------------------------------------- 管理评审与考核


@scenario("review.manage")
def _(org):
    r = review.review_plan(actor=org["admin"], root=org["c"], year=TODAY.year, planned_on=TODAY + dt.timedelta(days=7),
                           chair=org["sec_c"], title="年度管理评审")
    return Case(f"/audits/reviews/{r.pk}/gather/", {}, lambda: ManagementReview.objects.get(pk=r.pk).inputs, org["c"])


@scenario("objectives.manage")
def _(org):
    return Case("/audits/objectives/", {"action": "seed", "year": TODAY.year}, lambda: Objective.objects.count(), None,
                by_scope=True)


@scenario("score.enter")
def _(org):
    scheme = scoring.scheme_seed(org["c"], TODAY.year, actor=org["admin"])
    item = ScoringItem.objects.filter(scheme=scheme, indicator="").order_by("pk").first()
    # a 委员 of the committee who belongs to 第二党支部: the level above 第一党支部, not its member
    _m, c_b2 = _person(org["b2"], "党委委员乙", "c_b2")
    core.position_assign(actor=None, member=_m, unit=org["c"], title="committee_member", start=D(2024, 1, 1))
    return Case(f"/audits/scoring/?year={TODAY.year}&period=Y",
                {"action": "score", "item": item.pk, "unit": org["b1"].pk, "value": str(item.points), "note": "督查"},
                lambda: list(Score.objects.filter(item=item).values_list("value", flat=True)), org["b1"],
                duties={"sec_c": {"own_unit"}}, extra={"c_b2": c_b2}, root=org["c"])


@scenario("assessment.fix")
def _(org):
    from audits.performance.models import Appraisal

    scoring.scheme_seed(org["c"], TODAY.year, actor=org["admin"])
    head = Member.objects.get(positions__unit=org["b1"], positions__title="secretary")
    return Case(f"/audits/grades/{TODAY.year}/", {"action": "appraisal", "member": head.pk, "grade": "competent"},
                lambda: Appraisal.objects.count(), org["c"])


@scenario("assessment.appeal")
def _(org):
    from audits.performance.models import Appeal, AssessmentResult

    scheme = scoring.scheme_seed(org["c"], TODAY.year, actor=org["admin"])
    res = AssessmentResult.objects.create(scheme=scheme, unit=org["b1"], score=Decimal("78.0"), rank=2, of=2, grade="fair")
    return Case(f"/audits/grades/{TODAY.year}/", {"action": "appeal", "result": res.pk, "reason": "材料漏报"},
                lambda: Appeal.objects.count(), org["b1"],
                duties={"sec_b1": {"own_unit"}, "sec_c": {"own_unit"}, "member": {"own_unit"}})


@scenario("annual.enter")
def _(org):
    from audits.performance import annual

    key = annual.manual_keys()[0]
    return Case("/audits/annual/", {"year": TODAY.year, "key": key, "value": "3", "note": "填报"},
                lambda: list(AnnualReport.objects.values_list("values", flat=True)), None, by_scope=True)


# ------------------------------------------------------------------------------- 证据包


@scenario("pack.request")
def _(org):
    return Case("/audits/packs/", {"unit": org["b1"].code, "start": _iso(D(TODAY.year, 1, 1)), "end": _iso(TODAY)},
                lambda: EvidencePack.objects.count(), org["b1"])


@scenario("pack.retry")
def _(org):
    p = _pack(org, done=False)
    return Case(f"/audits/packs/{p.pk}/retry/", {}, lambda: EvidencePack.objects.get(pk=p.pk).state, org["b1"])


@scenario("pack_link.issue")
def _(org):
    p = _pack(org, done=True)
    return Case(f"/audits/packs/{p.pk}/link/", {"auditor_name": "李审核", "organisation": "认证中心",
                                               "expires_on": _iso(TODAY + dt.timedelta(days=30))},
                lambda: PackLink.objects.count(), org["b1"])


@scenario("pack_link.revoke")
def _(org):
    p = _pack(org, done=True)
    link, _token = packs.link_issue(p, actor=org["admin"], auditor_name="李审核", organisation="认证中心",
                                    expires_on=TODAY + dt.timedelta(days=30))
    return Case(f"/audits/packs/{p.pk}/revoke/", {"link": link.pk, "reason": "审核结束"},
                lambda: PackLink.objects.get(pk=link.pk).revoked_at, org["b1"])


# ------------------------------------------------------------------- 目标管理(层层分解)


def _branch_target(org):
    """第一党支部's yearly target on 学习心得, set by the 体系管理员."""
    from audits.performance import targets as tsvc

    return tsvc.target_add(actor=org["admin"], year=TODAY.year, measure="study_notes", title="全年学习心得", value=10,
                           due_date=D(TODAY.year, 12, 31), unit=org["b1"], source="seed 004 篇8")


@scenario("targets.manage")
def _(org):
    from audits.performance.models import Target

    parent = _branch_target(org)
    return Case(f"/audits/targets/B1/{TODAY.year}/",
                {"action": "add", "parent": parent.pk, "owner": f"member:{_plain(org).pk}", "title": "个人学习心得",
                 "value": "2", "due_date": _iso(D(TODAY.year, 12, 31))},
                lambda: Target.objects.count(), org["b1"])


@scenario("targets.report")
def _(org):
    from audits.performance import targets as tsvc
    from audits.performance.models import TargetReport

    mine = tsvc.target_add(actor=org["admin"], year=TODAY.year, measure="study_notes", title="个人学习心得", value=2,
                           due_date=D(TODAY.year, 12, 31), parent=_branch_target(org), member=Member.objects.get(user=org["member"]))
    return Case(f"/audits/targets/B1/{TODAY.year}/", {"action": "report", "target": mine.pk, "value": "1", "note": "一篇"},
                lambda: TargetReport.objects.count(), org["b1"], duties={"member": {"self"}})
# ------------------------------------------------------------------------------ 自查与抽查


def _campaign(org, *, past: bool = False, team: bool = False, drawn: int = 0):
    """A campaign of the committee over its branches: open for 自查 (deadline ahead), or past its
    deadline with the internal auditor's 检查小组 and ``drawn`` units sampled (the team inspects them)."""
    from audits.campaign import services as camp

    start = TODAY - dt.timedelta(days=10) if past else TODAY
    c = camp.campaign_announce(actor=org["admin"], root=org["c"], title="专项检查", kinds=["branch"], today=start,
                               deadline=TODAY - dt.timedelta(days=1) if past else TODAY + dt.timedelta(days=5))
    if team or drawn:
        camp.team_create(c, actor=org["admin"], name="第一检查小组", leader=org["ia"])
    if drawn:
        camp.sample_draw(c, actor=org["admin"], seed=1, size=drawn)
    return c


def _campaign_entry(c, unit):
    from audits.campaign.models import CampaignUnit

    return CampaignUnit.objects.get(campaign=c, unit=unit)


def _inspection_form(c) -> dict:
    return {"visited_on": _iso(TODAY), "visit_notes": "走访活动室", "archive_notes": "查阅会议记录", "forum_sessions": "1",
            "forum_attendance": "8", "questionnaires_issued": "10", "questionnaires_returned": "9",
            "questionnaires_satisfied": "8", **{f"i_{i.pk}": str(i.max_score) for i in c.items.all()}}


CAMPAIGN_TEAM = {"ia": {"audit_team"}}  # ia is the 检查小组's leader


@scenario("campaign.announce")
def _(org):
    from audits.campaign.models import Campaign

    return Case("/audits/campaigns/new/", {"title": "专项检查", "root": org["c"].pk, "deadline": _iso(TODAY + dt.timedelta(days=7)),
                                           "kinds": ["branch"]}, lambda: Campaign.objects.count(), org["c"])


@scenario("campaign.checklist")
def _(org):
    c = _campaign(org)
    return Case(f"/audits/campaigns/{c.pk}/checklist/", {"text": ["三会一课"], "source": ["seed 000 三(四)"], "max_score": ["100"]},
                lambda: list(c.items.values_list("text", flat=True)), org["c"])


@scenario("campaign.self_assess")
def _(org):
    c = _campaign(org)
    e = _campaign_entry(c, org["b1"])
    return Case(f"/audits/campaigns/{c.pk}/units/{e.pk}/submit/",
                {"report": "逐项自查", **{f"s_{i.pk}": str(i.max_score) for i in c.items.all()}},
                _row(type(e), e.pk), org["b1"])


@scenario("campaign.team")
def _(org):
    c = _campaign(org)
    return Case(f"/audits/campaigns/{c.pk}/team/", {"name": "第二检查小组", "leader": org["ia"].pk},
                lambda: c.teams.count(), org["c"])


@scenario("campaign.sample")
def _(org):
    from audits.campaign.models import Campaign

    c = _campaign(org, past=True, team=True)
    return Case(f"/audits/campaigns/{c.pk}/sample/", {"seed": "7", "size": "1"},
                lambda: Campaign.objects.filter(pk=c.pk).values_list("state", "sample_seed").first(), org["c"])


@scenario("campaign.inspect")
def _(org):
    c = _campaign(org, past=True, drawn=2)
    e = _campaign_entry(c, org["b1"])
    return Case(f"/audits/campaigns/{c.pk}/units/{e.pk}/inspect/", _inspection_form(c),
                _row(type(e), e.pk), org["b1"], duties=CAMPAIGN_TEAM)


@scenario("campaign.finding")
def _(org):
    c = _campaign(org, past=True, drawn=2)
    e = _campaign_entry(c, org["b1"])
    return Case(f"/audits/campaigns/{c.pk}/units/{e.pk}/finding/",
                {"item": c.items.order_by("order").first().pk, "grade": "minor", "evidence": "三会一课记录不全"},
                lambda: Nonconformity.objects.count(), org["b1"], duties=CAMPAIGN_TEAM)


@scenario("campaign.close")
def _(org):
    from audits.campaign import services as camp
    from audits.campaign.models import Campaign

    c = _campaign(org, past=True, drawn=1)
    for e in c.units.filter(sampled=True):
        camp.inspection_record(e, actor=org["ia"], visited_on=TODAY, visit_notes="走访", archive_notes="查阅记录",
                               scores={i.pk: i.max_score for i in c.items.all()})
    return Case(f"/audits/campaigns/{c.pk}/close/", {"conclusion": "总体较好"},
                lambda: Campaign.objects.get(pk=c.pk).state, org["c"])


@scenario("campaign.plan")
def _(org):
    from audits.campaign.models import Plan

    return Case("/audits/campaigns/plans/new/", {"title": "三年整治计划", "start_year": str(TODAY.year)},
                lambda: Plan.objects.count(), None, by_scope=True)
# ------------------------------------------------------------------------------- 认证周期


def _certificate(org):
    """第一党支部's certificate, issued 400 days ago: its first surveillance audit is past its date."""
    from audits.certification import services as certs

    return certs.certificate_register(actor=org["admin"], unit=org["b1"], body="中国质量认证中心", standard="ISO 9001:2015",
                                      scope="党支部党建工作", number="CERT-B1-001", issued_on=TODAY - dt.timedelta(days=400))


@scenario("certificate.register")
def _(org):
    from audits.certification.models import Certificate

    return Case("/audits/certificates/", {"unit": org["b1"].pk, "body": "中国质量认证中心", "standard": "ISO 9001:2015",
                                          "scope": "党支部党建工作", "number": "CERT-B1-002", "issued_on": _iso(TODAY)},
                lambda: Certificate.objects.count(), org["b1"])


@scenario("certificate.audit_record")
def _(org):
    from audits.certification.models import CertificationAudit

    a = _certificate(org).audits.order_by("due_on").first()
    return Case(f"/audits/certificates/audits/{a.pk}/done/", {"done_on": _iso(TODAY), "reference": "CQC-审-01"},
                _row(CertificationAudit, a.pk), org["b1"])


@scenario("certificate.finding")
def _(org):
    a = _certificate(org).audits.order_by("due_on").first()
    return Case(f"/audits/certificates/audits/{a.pk}/finding/", {"unit": org["b1"].pk, "grade": "minor", "clause": "7.5.3",
                                                                 "requirement": "记录应妥善保存", "evidence": "3月支委会记录缺签到表"},
                lambda: Nonconformity.objects.count(), org["b1"])


@scenario("work_instruction.create")
def _(org):
    proc = Document.objects.filter(kind="procedure", owner__isnull=True, versions__status=VersionStatus.EFFECTIVE).first()
    return Case(f"/procedures/{proc.pk}/new-instruction/", {"unit": org["b1"].pk, "code": "ZY-01", "title": "会议记录作业指导书",
                                                           "label": "1.0"},
                lambda: Document.objects.count(), org["b1"])
# ------------------------------------------------------------------------------- 体系策划与支持


def _in_scope(unit):
    """A current member of ``unit``'s subtree (the pages offer these as owner / trainee)."""
    from qms.models import Member as _M

    return _M.objects.filter(memberships__end__isnull=True, memberships__unit__path__startswith=unit.path).order_by("pk").first()


@scenario("system.context")
def _(org):
    from audits.models import InterestedParty

    return Case("/audits/system/context/", {"action": "party", "name": "离退休党员", "needs": "就近参加组织生活", "monitoring": "走访"},
                lambda: InterestedParty.objects.count(), None, by_scope=True)


@scenario("system.risk")
def _(org):
    from audits.models import Risk

    return Case("/audits/system/risks/",
                lambda unit: {"action": "add", "kind": "risk", "title": "党员流动性大", "process": "党员管理", "likelihood": "3",
                              "impact": "3", "measure": "建立流动党员台账", "owner": _in_scope(unit).pk if unit else "",
                              "due_date": _iso(TODAY + dt.timedelta(days=9))},
                lambda: Risk.objects.count(), None, by_scope=True)


@scenario("system.training")
def _(org):
    from audits.models import TrainingRecord

    return Case("/audits/system/competence/",
                lambda unit: {"member": _in_scope(unit).pk if unit else "", "requirement": "rotation", "course": "书记轮训",
                              "hours": "16", "taken_on": _iso(TODAY)},
                lambda: TrainingRecord.objects.count(), None, by_scope=True)


@scenario("system.survey")
def _(org):
    from audits.models import SurveyEntry
    from audits.system import services as system

    s = system.survey_create(actor=org["admin"], root=org["c"], title="党员满意度调查", population="members", start=TODAY,
                             end=TODAY + dt.timedelta(days=3), questions=[{"text": "组织生活质量", "kind": "scale"}])
    q = s.questions.get()
    return Case(f"/audits/system/surveys/{s.pk}/", {"action": "answer", f"a{q.pk}": "5"},
                lambda: SurveyEntry.objects.count(), org["c"])


# ------------------------------------------------------------------------------- the runner


@pytest.fixture(scope="module")
def _base(django_db_setup, django_db_blocker):
    """The fixture's organisation, built once for the module inside a transaction rolled back at
    its end; each test runs in a savepoint of it (the ``db`` fixture), each attempt in another."""
    with django_db_blocker.unblock(), transaction.atomic():
        built = build_org()
        yield {k: (type(v), v.pk) for k, v in built.items()}
        transaction.set_rollback(True)


@pytest.fixture
def org(_base, db):
    """Fresh instances of the base objects for each test (no state carried in memory)."""
    return {k: model._default_manager.get(pk=pk) for k, (model, pk) in _base.items()}


class _Rollback(Exception):
    pass


_HAN = re.compile(r"[\u4e00-\u9fff]")
_GENERIC = "您没有权限访问此页面或进行此项操作"  # templates/403.html without a reason: not clear enough


def _reason(body: str) -> str:
    m = re.search(r'<p class="bad">(.*?)</p>', body, re.S)
    return m.group(1).strip() if m else ""


def _scope_unit(user) -> Unit | None:
    scopes = scopes_for(user)
    return Unit.objects.get(pk=scopes[0].unit_id) if scopes else None


def _attempt(client, case: Case, who: str | None, user) -> dict:
    """POST as ``user`` in a savepoint rolled back afterwards; what happened."""
    out: dict = {}
    try:
        with transaction.atomic():
            head, before = ledger.head(), case.snapshot()
            client.logout()
            if user is not None:
                client.force_login(user)
            files = {k: SimpleUploadedFile(name, data) for k, (name, data) in case.files.items()}
            data = case.data(_scope_unit(user) if user else None) if callable(case.data) else case.data
            if case.prepare is not None:
                data = {**data, **case.prepare(user)}
            r = client.post(case.url, {**data, **files})
            body = r.content.decode(errors="replace") if r.get("Content-Type", "").startswith("text/") else ""
            out = {"status": r.status_code, "location": r.get("Location", ""), "moved": ledger.head() != head,
                   "changed": case.snapshot() != before, "reason": _reason(body) if r.status_code == 403 else ""}
            if r.status_code == 302 and not out["changed"]:  # a refusal shown as a message on the next page
                follow = client.get(r["Location"])
                out["reason"] = " ".join(re.findall(r'class="(?:msg|alert|message)[^"]*"[^>]*>(.*?)<', follow.content.decode()))
            raise _Rollback
    except _Rollback:
        pass
    return out


def _judge(case: Case, key: str, who: str, user) -> tuple[bool, bool]:
    """(expected allowed, may the person address the object at all)."""
    if user is None:
        return False, False
    unit = _scope_unit(user) if case.by_scope else case.unit
    if case.root is not None and (_scope_unit(user) or Unit()).pk != case.root.pk:
        return permissions.allowed(user, key, unit, duties=case.duties.get(who, ())), False
    visible = unit is None or can_see(user, unit)
    return permissions.allowed(user, key, unit, duties=case.duties.get(who, ())), visible


def _problems(key: str, case: Case, who: str, user, got: dict) -> list[str]:
    allowed, addressable = _judge(case, key, who, user)
    status = got["status"]
    if status >= 500:
        return [f"{key} · {who}: {status}"]
    if (key, who) in NARROWER:
        if got["changed"] or got["moved"] or NARROWER[key, who] not in got["reason"]:
            return [f"{key} · {who}: listed in NARROWER, but now: status {status}, reason {got['reason']!r}, "
                    f"state changed {got['changed']}"]
        return []
    if allowed:
        if status >= 400 or not got["changed"] or not got["moved"]:
            return [f"{key} · {who}: the matrix allows it, but status {status}, state changed {got['changed']}, "
                    f"ledger moved {got['moved']} {got['location']} {got['reason']!r}"]
        return []
    if user is None:
        ok = status == 302 and "/login/" in got["location"]
    elif not addressable:
        # a person who cannot see the object's unit (or whose page is another unit's): not found
        # (404), refused (403, with a reason), or the page's choices do not offer the object and
        # nothing happens (200 with the form's error, 302 with a message)
        ok = status in (200, 302, 404) or (status == 403 and _GENERIC not in got["reason"])
    else:
        ok = status == 403 and bool(_HAN.search(got["reason"])) and _GENERIC not in got["reason"]
    if not ok or got["changed"] or got["moved"]:
        return [f"{key} · {who}: refused by the matrix, but status {status} {got['location']}, reason {got['reason']!r}, "
                f"state changed {got['changed']}, ledger moved {got['moved']}"]
    return []


def test_every_act_has_a_web_scenario_or_a_reason():
    acts = set(permissions.matrix())
    assert set(SCENARIOS) & set(EXEMPT) == set(), "an act with a scenario is not exempt"
    assert set(EXEMPT) <= acts, "EXEMPT names acts the matrix no longer has"
    missing = acts - set(SCENARIOS) - set(EXEMPT)
    assert missing == set(), f"acts of the matrix without a web scenario (add one, or an EXEMPT reason): {sorted(missing)}"


@pytest.mark.parametrize("key", sorted(SCENARIOS))
def test_the_pages_do_what_the_matrix_says(org, client, key, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    case = SCENARIOS[key](org)
    people = [(who or "anonymous", org[who] if who else None) for who in ROLES] + list(case.extra.items())
    named = set().union(*case.duties.values()) if case.duties else set()
    assert named <= set(permissions.duty_labels()), f"{key}: duties the matrix does not know: {named}"
    problems = []
    for who, user in people:
        problems += _problems(key, case, who, user, _attempt(client, case, who, user))
    assert problems == [], "\n".join(problems)
    # the scenario exercised both directions: someone may, someone may not (anonymous at least)
    assert any(_judge(case, key, who, user)[0] for who, user in people), f"{key}: nobody in the fixture may do it"


def test_the_audit_page_offers_the_checklist_to_whom_the_matrix_allows(org, client):
    """The buttons follow the same rows: a 体系管理员 and the audit team see the checklist and
    sample controls; the committee's secretary (who may see the audit) does not."""
    a = _audit(org)
    for who, shown in (("admin", True), ("ia", True), ("sec_c", False)):
        client.force_login(org[who])
        body = client.get(f"/audits/{a.pk}/").content.decode()
        assert (f"/audits/{a.pk}/item_add/" in body, f"/audits/{a.pk}/sample/" in body) == (shown, shown), who
