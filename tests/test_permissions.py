"""Who may act: one permission matrix for every state change (qms/rules/permissions.toml).

- every service function that acts for a person is declared in the matrix, and every row of
  the matrix is used by a service (an act added later without a row fails here);
- docs/permissions.md is generated from the matrix and kept current;
- the findings of the attack: a 党员 and the 外部审核员 raised nonconformities, a 党员
  verified one — each refused now, with the state and ledger unchanged;
- the matrix over every act × every role, and a generated web probe: every URL pattern,
  POSTed by read-only roles and anonymous users on real objects, changes nothing and never
  answers 5xx."""
from __future__ import annotations

import datetime as dt
import importlib
import inspect
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from audits.capa import services as capa
from audits.models import Nonconformity
from procedures.library_loader import load_library
from qms import ledger, permissions
from qms import services as core
from qms.models import Role, UnitKind
from tests import factories
from workflows.models import Occurrence
from workflows.scheduler import schedule

pytestmark = pytest.mark.django_db
D = dt.date
TODAY = timezone.localdate()

SERVICE_MODULES = (
    "qms.services", "qms.accounts", "qms.lockout", "qms.channel_settings", "qms.employee_numbers", "qms.otp", "qms.roster", "qms.workdays", "procedures.services", "workflows.services", "workflows.dues", "workflows.election", "workflows.recruitment_services", "workflows.org_change", "workflows.coalitions",
    "audits.capa.services", "audits.internal.services", "audits.review.services", "audits.performance.scoring", "audits.performance.annual", "audits.performance.grades", "audits.evidence.services",
    "audits.performance.targets",  # 目标管理(层层分解)
    "audits.campaign.services",
    "audits.certification.services", "audits.certification.findings_import",
    "audits.capa.services", "audits.internal.services", "audits.review.services", "audits.performance.scoring", "audits.performance.annual", "audits.evidence.services",
    "audits.system.services",
    "api.tokens",  # 数据接口令牌 (the REST API's tokens)
)
#: functions taking an ``actor`` that are not acts of a person (the system's own steps)
SYSTEM_ONLY = {"qms.ledger.record_many", "procedures.library_loader.copy_version_content",
               # read-only: names the conflicts an auditor has, in words the actor may read
               "audits.internal.services.independence_conflicts",
               # a step of member_transfer / member_status_change (checked there): a leaver's login is disabled
               "qms.accounts.disable_for_member"}


def _service_functions():
    for name in SERVICE_MODULES:
        mod = importlib.import_module(name)
        for fname, fn in inspect.getmembers(mod, inspect.isfunction):
            if fname.endswith(("_duty", "_duties")):  # the declarations' helpers (which duties a person holds)
                continue
            if fn.__module__ == name and not fname.startswith("_") and "actor" in inspect.signature(fn).parameters:
                yield f"{name}.{fname}", fn


def test_every_service_act_is_declared_in_the_matrix_and_every_row_is_used():
    undeclared = [qual for qual, fn in _service_functions() if qual not in SYSTEM_ONLY and not hasattr(fn, "act_key")]
    assert undeclared == [], f"service functions acting for a person without a row in the permission matrix: {undeclared}"
    used = {fn.act_key for _q, fn in _service_functions() if hasattr(fn, "act_key")}
    assert set(permissions.matrix()) - used == set(), "rows of the matrix that no service asks (a rule nothing triggers)"


def test_every_view_that_calls_a_service_calls_a_declared_one():
    """The web layer only reaches acts through declared services: every service function a
    view module calls by name is declared (or read-only)."""
    declared = {q.rsplit(".", 1)[1] for q, fn in _service_functions() if hasattr(fn, "act_key")}
    acting = {q.rsplit(".", 1)[1] for q, _fn in _service_functions()}
    root = Path(settings.BASE_DIR)
    for path in [*root.glob("*/views.py"), *root.glob("*/*_views.py"), *root.glob("qms/web/*.py")]:
        called = set(re.findall(r"\b(?:services|svc|core|capa|review|scoring|annual|packs|dues|accounts)\.(\w+)\(", path.read_text()))
        assert (called & acting) - declared == set(), path


def test_the_documentation_is_generated_from_the_matrix():
    doc = (Path(settings.BASE_DIR) / "docs" / "permissions.md").read_text(encoding="utf-8")
    assert doc == permissions.markdown(), "run: python manage.py permissions_doc"


#: The fixture's people by name (pages show names, never logins).
NAMES = {"sec_b1": "王一支", "sec_c": "赵党委", "member": "李党员", "sec_b2": "孙二支", "admin": "周管理",
         "ext": "吴外审", "ia": "郑内审"}


@pytest.fixture
def org(db):
    return build_org()


def build_org() -> dict:
    """测试党委 C → 第一党支部 B1, 第二党支部 B2; the secretaries of each, a 党员 of B1 (the
    committee's secretary is a member of B1 too), a 体系管理员, an 外部审核员 and a 内审员 over C,
    and a nonconformity of B1 raised by the committee's secretary."""
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b1 = factories.unit("B1", UnitKind.BRANCH, parent=c, name="第一党支部")
    b2 = factories.unit("B2", UnitKind.BRANCH, parent=c, name="第二党支部")
    people = {}
    for key, unit, title in (("sec_b1", b1, "secretary"), ("sec_c", c, "secretary"), ("member", b1, None),
                             ("sec_b2", b2, "secretary")):
        m = factories.member(b1 if unit == c else unit, NAMES[key])
        people[key] = factories.user(key)
        core.member_update(m, actor=None, reason="账号", user=people[key])
        if title:
            core.position_assign(actor=None, member=m, unit=unit, title=title, start=D(2024, 1, 1))
    for key, role in (("admin", Role.ADMIN), ("ext", Role.EXTERNAL_AUDITOR), ("ia", Role.INTERNAL_AUDITOR)):
        people[key] = factories.user(key, first_name=NAMES[key])
        core.role_grant(actor=None, user=people[key], role=role, unit=c, valid_from=D(2020, 1, 1))
    schedule(today=TODAY)
    nc = capa.nc_raise(actor=people["sec_c"], unit=b1, source="spot_check", grade="minor", clause="DJ-CX-02",
                       requirement="每月至少召开1次支委会", evidence="3月无支委会记录")
    return {"c": c, "b1": b1, "b2": b2, "nc": nc, **people}


def _implemented(org):
    nc = org["nc"]
    capa.nc_acknowledge(nc, actor=org["sec_b1"])
    capa.nc_analyse(nc, actor=org["sec_b1"], why=["为何", "因为"], root_cause="缺少制度")
    capa.nc_plan(nc, actor=org["sec_b1"], correction="补开", corrective_action="建立制度", owner=nc.unit.memberships.first().member,
                 due_date=TODAY + dt.timedelta(days=10))
    capa.nc_implement(nc, actor=org["sec_b1"], evidence="已补开", done_on=TODAY)
    return nc


@pytest.mark.parametrize("who", ["member", "ext", "ia"])
def test_read_only_roles_cannot_raise_a_nonconformity(org, client, who):
    client.force_login(org[who])
    head, count = ledger.head(), Nonconformity.objects.count()
    assert client.get("/audits/problems/new/").status_code == 403
    r = client.post("/audits/problems/new/", {"unit": org["b1"].pk, "source": "spot_check", "grade": "minor",
                                              "clause": "x", "requirement": "y", "evidence": "z"})
    assert r.status_code == 403 and "您无权提出不符合项" in r.content.decode()
    assert (ledger.head(), Nonconformity.objects.count()) == (head, count)


def test_a_member_cannot_verify_or_close_and_the_implementer_cannot_verify(org, client):
    nc = _implemented(org)
    head = ledger.head()
    for who in ("member", "ext", "ia", "sec_b1"):
        client.force_login(org[who])
        r = client.post(f"/audits/problems/{nc.pk}/verify/", {"note": "已核实"})
        assert r.status_code == 403, who
        assert "实施人不能验证" in r.content.decode() if who == "sec_b1" else "您无权验证整改" in r.content.decode()
    assert ledger.head() == head and Nonconformity.objects.get(pk=nc.pk).state == "implemented"
    client.force_login(org["sec_c"])  # the raiser, a secretary of the level above
    r = client.post(f"/audits/problems/{nc.pk}/verify/", {"note": "已核实", "password": "pass-12345"})
    assert r.status_code < 400 and Nonconformity.objects.get(pk=nc.pk).state == "verified"


def test_an_internal_auditor_raises_findings_only_inside_an_audit_they_are_on(org):
    from audits.internal import services as svc

    with pytest.raises(permissions.NotPermitted):
        capa.nc_raise(actor=org["ia"], unit=org["b1"], source="internal_audit", grade="minor", clause="x",
                      requirement="y", evidence="z")
    audit = svc.audit_plan(actor=org["ia"], year=TODAY.year, title="内审", root=org["c"], units=[org["b1"]], lead=org["ia"],
                           start=TODAY, end=TODAY + dt.timedelta(days=3))
    nc = capa.nc_raise(actor=org["ia"], unit=org["b1"], source="internal_audit", grade="minor", clause="x",
                       requirement="y", evidence="z", audit=audit)
    assert nc.raised_by == org["ia"] and nc.audit == audit


def _expected(act: permissions.Act, who: str) -> bool:
    """What each role of the fixture may do to an object of 第一党支部, read off the row."""
    return {
        "admin": "admin" in act.allow,
        "sec_b1": "officer" in act.allow,
        "sec_c": "officer" in act.allow or "officer_above" in act.allow,
        "sec_b2": False,  # a sibling branch's secretary
        "ia": "internal_auditor" in act.allow,
        "member": False, "ext": False,
    }[who]


def test_the_matrix_over_every_act_and_role(org):
    from django.contrib.auth.models import AnonymousUser

    for key, act in permissions.matrix().items():
        for who in ("admin", "sec_b1", "sec_c", "sec_b2", "ia", "member", "ext"):
            assert permissions.allowed(org[who], key, org["b1"]) == _expected(act, who), (key, who)
        assert not permissions.allowed(AnonymousUser(), key, org["b1"])
        for duty in act.forbid:  # a 回避 excludes even a 体系管理员
            assert not permissions.allowed(org["admin"], key, org["b1"], duties={duty})


def _patterns(resolver=None, prefix=""):
    for p in (resolver or get_resolver()).url_patterns:
        if isinstance(p, URLResolver):
            yield from _patterns(p, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def _words() -> list[str]:
    """Action names the views dispatch on, read from their source."""
    root = Path(settings.BASE_DIR)
    words: set[str] = set()
    for path in [*root.glob("*/views.py"), *root.glob("*/*_views.py"), *root.glob("qms/web/*.py")]:
        text = path.read_text()
        words |= set(re.findall(r'(?:name|action|kind) == "([a-z_]+)"', text))
        for group in re.findall(r'(?:name|action|kind) in \(([^)]*)\)', text):
            words |= set(re.findall(r'"([a-z_]+)"', group))
        words |= set(re.findall(r'^\s+"([a-z_]+)": ', text, re.M))
    return sorted(words)


#: self-service POSTs every logged-in person may make (their own session, language, notifications)
SELF_SERVICE = ("login/", "logout/", "scope/", "i18n/", "notifications/", "account/notices/")


def test_generated_web_probe_read_only_roles_change_nothing_anywhere(org, client):
    """Every URL pattern, POSTed on real objects by a 党员, the 外部审核员 and an anonymous
    visitor: no answer is 5xx and the ledger (every change writes one entry) is unchanged."""
    occ = Occurrence.objects.filter(unit=org["b1"]).first()
    ids = sorted({org["nc"].pk, occ.pk, 1, 2})
    words = _words()
    strs = {"code": [org["b1"].code, org["c"].code], "token": ["x" * 43], "kind": ["pdf", "zip"]}
    head = ledger.head()
    tried = 0
    for who in ("member", "ext", None):
        client.logout()
        if who:
            client.force_login(org[who])
        for route, _pattern in _patterns():
            if route.startswith(SELF_SERVICE) or route.startswith("static/"):
                continue
            conv = re.findall(r"<(?:(\w+):)?(\w+)>", route)
            combos = [{}]
            for typ, name in conv:
                values = ids if typ in ("int", "id") else strs.get(name, words)
                combos = [{**c, name: v} for c in combos for v in values]
            for kwargs in combos[:200]:
                url = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m, kw=kwargs: str(kw[m.group(1)]), route)
                r = client.post(url, {"reason": "x", "note": "x", "evidence": "x", "text": "x"})
                tried += 1
                assert r.status_code < 500, (who, url, r.status_code)
                assert ledger.head() == head, (who, url)
    assert tried > 200


# ------------------------------------------------------------- the declaration's wrapper (T21)


@pytest.fixture
def declare():
    """Declares throw-away functions as the act 检查记录 (record.check), as a service module
    does at import, and takes them out of the declarations afterwards."""
    made = []
    # as if no service had declared the act yet (the first declaration of a key starts its list)
    services = permissions.DECLARED.pop("record.check")

    def make(**options):
        calls = []

        @permissions.act("record.check", **options)
        def check_probe(thing, *, actor, note="默认"):
            calls.append((thing, note, getattr(permissions._INSIDE, "act", None)))
            if note == "出错":
                raise ValueError(note)
            return f"{thing}:{note}"

        check_probe.calls = calls
        made.append(check_probe)
        return check_probe

    yield make
    assert permissions.DECLARED["record.check"] == made
    permissions.DECLARED["record.check"] = services


def test_a_declared_function_names_its_act_and_is_listed(declare):
    fn = declare()
    assert fn.act_key == "record.check" and fn.__name__ == "check_probe"
    assert fn in permissions.DECLARED["record.check"]
    with pytest.raises(KeyError, match="没有动作 no.such_act"):
        permissions.act("no.such_act")


def test_the_declaration_hands_the_calls_arguments_by_name_defaults_included(org, declare):
    seen = []

    def unit_of(**values):
        seen.append(("unit", values))
        return org["b1"]

    def duties_of(**values):
        seen.append(("duties", values))
        return ["checker"]

    fn = declare(unit=unit_of, duties=duties_of)
    assert fn("记录甲", actor=org["member"]) == "记录甲:默认"
    expected = {"thing": "记录甲", "actor": org["member"], "note": "默认"}
    assert seen == [("unit", expected), ("duties", expected)]
    assert fn.calls == [("记录甲", "默认", "record.check")]  # the act is marked as running inside
    assert permissions._INSIDE.act is None  # and unmarked after


def test_a_refusal_says_why_and_adds_who_holds_the_duty_here(org, declare):
    fn = declare(unit=lambda **_: org["b1"], explain=lambda thing, **_: f"检查人应为{thing}的组织委员")
    with pytest.raises(permissions.NotPermitted) as refused:
        fn("第一党支部", actor=org["member"])
    assert str(refused.value) == (permissions.refusal(org["member"], "record.check", org["b1"])
                                  + "(检查人应为第一党支部的组织委员)")
    assert fn.calls == [] and permissions._INSIDE.act is None
    bare = declare(unit=lambda **_: org["b1"])
    with pytest.raises(permissions.NotPermitted) as refused:
        bare("记录", actor=org["sec_b2"])
    assert str(refused.value) == "您无权检查记录:“第一党支部”的此项只能由体系管理员、规定指定的检查人办理"


def test_a_forbidden_duty_refuses_with_its_own_sentence_and_no_explanation(org, declare):
    fn = declare(unit=lambda **_: org["b1"], duties=lambda **_: {"checker", "submitter"},
                 explain=lambda **_: "检查人应为上级组织的组织委员")
    with pytest.raises(permissions.NotPermitted) as refused:
        fn("记录", actor=org["admin"])
    assert str(refused.value) == "提交人不能检查自己提交的记录"
    assert fn.calls == []


def test_the_system_acts_without_asking_and_a_step_inside_an_act_is_not_asked_again(org, declare):
    asked = []
    fn = declare(unit=lambda **_: asked.append(1) or org["b1"])
    assert fn("记录", actor=None, note="系统") == "记录:系统" and asked == []
    inner = declare(unit=lambda **_: org["b1"])  # the member may not do this on their own …
    outer = declare(unit=lambda **_: org["b1"], duties=lambda **_: ["checker"])
    with pytest.raises(permissions.NotPermitted):
        inner("记录", actor=org["member"])
    permissions._INSIDE.act = "record.check"  # … but as a step of an act they were allowed
    try:
        assert inner("记录", actor=org["member"], note="代办") == "记录:代办"
    finally:
        permissions._INSIDE.act = None
    assert outer("记录", actor=org["member"]) == "记录:默认"


def test_the_act_is_unmarked_even_when_the_function_fails(org, declare):
    fn = declare(unit=lambda **_: org["b1"])
    with pytest.raises(ValueError):
        fn("记录", actor=org["admin"], note="出错")
    assert fn.calls == [("记录", "出错", "record.check")]
    assert permissions._INSIDE.act is None


def test_a_persons_unit_is_their_current_membership_and_none_once_they_left(org):
    from qms.models import Member

    member = Member.objects.get(user=org["member"])
    assert permissions.member_unit(member=member) == org["b1"]
    assert permissions.member_unit(member=None) is None
    assert permissions.member_unit(actor=org["admin"]) is None
    member.memberships.update(end=TODAY - dt.timedelta(days=1))
    assert permissions.member_unit(member=Member.objects.get(pk=member.pk)) is None


def test_an_act_on_no_single_unit_is_judged_on_the_first_unit_the_person_manages(org):
    assert permissions.managed_unit(actor=org["sec_b1"]) == org["b1"]
    assert permissions.managed_unit(actor=org["admin"]) == org["c"]
    assert permissions.managed_unit(actor=org["member"]) is None  # a member manages nothing
    assert permissions.managed_unit(actor=org["ia"]) is None  # nor does an auditor
    assert permissions.managed_unit(actor=None) is None


def test_require_refuses_with_the_reason_and_lets_the_permitted_through(org):
    permissions.require(org["sec_b1"], "nc.raise", org["b1"])
    permissions.require(None, "nc.raise", org["b1"])  # the system itself
    with pytest.raises(permissions.NotPermitted) as refused:
        permissions.require(org["sec_b2"], "nc.raise", org["b1"])
    assert str(refused.value) == permissions.refusal(org["sec_b2"], "nc.raise", org["b1"])
    assert refused.value.message == str(refused.value) and refused.value.args == (str(refused.value),)
    with pytest.raises(permissions.NotPermitted, match="提交人不能检查自己提交的记录"):
        permissions.require(org["admin"], "record.check", org["b1"], duties={"submitter"})
    permissions.require(org["member"], "record.check", org["b1"], duties={"checker"})


def test_a_grant_reaches_its_own_unit_and_those_below_it_only(org):
    """A 体系管理员 or 内审员 granted over 第二党支部 acts there as the row says, and in
    第一党支部 (a sibling) not at all."""
    admin_b2, ia_b2 = factories.user("admin_b2"), factories.user("ia_b2")
    core.role_grant(actor=None, user=admin_b2, role=Role.ADMIN, unit=org["b2"], valid_from=D(2020, 1, 1))
    core.role_grant(actor=None, user=ia_b2, role=Role.INTERNAL_AUDITOR, unit=org["b2"], valid_from=D(2020, 1, 1))
    for key, act in permissions.matrix().items():
        assert permissions.allowed(admin_b2, key, org["b2"]) == ("admin" in act.allow), key
        assert permissions.allowed(ia_b2, key, org["b2"]) == ("internal_auditor" in act.allow), key
        assert not permissions.allowed(admin_b2, key, org["b1"]), key
        assert not permissions.allowed(ia_b2, key, org["b1"]), key
    why = permissions.refusal(admin_b2, "nc.verify", org["b1"])
    assert why == "您无权验证整改:“第一党支部”的此项只能由" + permissions.matrix()["nc.verify"].who() + "办理"


def test_refusals_are_plain_sentences(org, tmp_path, monkeypatch):
    from django.contrib.auth.models import AnonymousUser

    assert permissions.refusal(AnonymousUser(), "nc.verify", org["b1"]) == "请先登录"
    act = permissions.matrix()["version.approve"]
    assert permissions.refusal(org["member"], "version.approve") == f"您无权批准版本:此项只能由{act.who()}办理"
    with pytest.raises(KeyError, match="权限矩阵中未知的关系:nobody"):
        permissions._holds(org["admin"], "nobody", org["b1"], frozenset())

    # a row without its own message for a 回避 names the duty that excludes the person
    rows = permissions._FILE.read_text(encoding="utf-8").replace(
        'forbid_message = "起草人或审核人不能批准同一版本(职责分离)"\n', "")
    (tmp_path / "permissions.toml").write_text(rows, encoding="utf-8")
    monkeypatch.setattr(permissions, "_FILE", tmp_path / "permissions.toml")
    permissions._data.cache_clear()
    permissions.matrix.cache_clear()
    try:
        assert permissions.refusal(org["admin"], "version.approve", org["b1"], duties={"reviewer"}) == "该版本的审核人不能批准版本"
    finally:
        monkeypatch.undo()
        permissions._data.cache_clear()
        permissions.matrix.cache_clear()
    assert permissions.matrix()["version.approve"].forbid_message == "起草人或审核人不能批准同一版本(职责分离)"
