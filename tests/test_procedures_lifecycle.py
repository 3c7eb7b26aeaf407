"""Document control lifecycle, separation of duties, one effective version, and
per-organisation overrides of the library's rules (issue 3)."""
from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.utils import timezone
from viewflow.workflow.status import PROCESS, STATUS

from procedures import services
from procedures.flows import ApprovalProcess
from procedures.library_loader import load_library
from procedures.models import Document, DocumentVersion, Obligation, VersionStatus
from procedures.rules import effective_rules, expected_count
from qms import ledger
from qms import services as core
from qms.models import Role, UnitKind
from qms.permissions import NotPermitted
from tests import factories
from tests.conftest import require_postgres

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate


@pytest.fixture
def people(db):
    """Three 体系管理员 (the standard library is theirs to revise: permission matrix)."""
    root = factories.unit("LIBADM", UnitKind.COMMITTEE, name="体系管理党委")
    out = {}
    for n in ("drafter", "reviewer", "approver"):
        out[n] = factories.user(n)
        core.role_grant(actor=None, user=out[n], role=Role.ADMIN, unit=root, valid_from=dt.date(2020, 1, 1))
    return out


@pytest.fixture
def doc(db):
    load_library()
    return Document.objects.get(owner=None, library_key="branch_committee_meeting")


def _draft(doc, people, label="本地-1"):
    return services.version_create(doc, actor=people["drafter"], label=label, change_reason="年度修订")


def _through_approval(v, people, effective_on=None):
    services.version_submit(v, actor=people["drafter"])
    services.version_review(v, actor=people["reviewer"], password="pass-12345")
    return services.version_approve(v, actor=people["approver"], effective_on=effective_on or TODAY(), password="pass-12345")


def test_full_lifecycle_supersedes_the_old_version(doc, people):
    old = doc.effective_version()
    v = _draft(doc, people)
    assert v.status == VersionStatus.DRAFT and v.obligations.count() == old.obligations.count()
    v = _through_approval(v, people)
    assert v.status == VersionStatus.EFFECTIVE and v.approved_by == people["approver"] and v.approval_meaning == "批准发布"
    # each signature: who (and the name as signed), when, and what it means
    assert (v.reviewed_by, v.reviewer_name, v.review_meaning) == (people["reviewer"], "reviewer", "审核")
    assert v.approver_name == "approver" and v.approved_at and v.reviewed_at <= v.approved_at
    old.refresh_from_db()
    assert old.status == VersionStatus.SUPERSEDED
    assert DocumentVersion.objects.filter(document=doc, status=VersionStatus.EFFECTIVE).count() == 1
    actions = [e.action for e in ledger.history(v)]
    assert actions == ["document_version.create", "document_version.submit", "document_version.review",
                       "document_version.approve", "document_version.publish"]
    assert ledger.verify().ok
    # the viewflow process held the work items and is finished, each task done by its person
    process = ApprovalProcess.objects.get(artifact_object_id=v.pk)
    assert process.status == PROCESS.DONE
    done = {t.flow_task.name: t.owner for t in process.task_set.filter(status=STATUS.DONE) if t.owner}
    assert done == {"review": people["reviewer"], "approve": people["approver"]}


def test_send_back_cancels_the_process_and_resubmit_starts_a_new_one(doc, people):
    v = _draft(doc, people)
    services.version_submit(v, actor=people["drafter"])
    services.version_send_back(v, actor=people["reviewer"], reason="依据不足")
    assert list(ApprovalProcess.objects.filter(artifact_object_id=v.pk).values_list("status", flat=True)) == [PROCESS.CANCELED]
    services.version_submit(v, actor=people["drafter"])
    statuses = sorted(ApprovalProcess.objects.filter(artifact_object_id=v.pk).values_list("status", flat=True))
    assert statuses == sorted([PROCESS.CANCELED, PROCESS.NEW])


def test_future_effective_date_waits_for_the_daily_publish(doc, people, monkeypatch):
    later = TODAY() + dt.timedelta(days=10)
    v = _through_approval(_draft(doc, people), people, effective_on=later)
    assert v.status == VersionStatus.APPROVED
    with pytest.raises(ValidationError, match="尚未到生效日期"):
        services.version_publish(v)
    assert services.publish_due() == 0
    assert doc.effective_version().library_version != ""  # still the shipped one
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a, **k: later)
    assert services.publish_due() == 1
    assert doc.effective_version().pk == v.pk


# allowed and forbidden moves, table-driven: (state reached by these steps, action, allowed?)
STEPS = {
    "draft": [],
    "under_review": ["submit"],
    "reviewed": ["submit", "review"],
    "approved": ["submit", "review", "approve_later"],
    "effective": ["submit", "review", "approve"],
    "superseded": ["submit", "review", "approve", "next_version_effective"],
    "obsolete": ["withdraw"],
}
MOVES = [
    ("draft", "submit", True), ("draft", "review", False), ("draft", "approve", False), ("draft", "send_back", False),
    ("draft", "publish", False), ("draft", "withdraw", True),
    ("under_review", "submit", False), ("under_review", "approve", False), ("under_review", "review", True),
    ("under_review", "send_back", True), ("under_review", "withdraw", True),
    ("reviewed", "review", False), ("reviewed", "approve", True), ("reviewed", "publish", False), ("reviewed", "send_back", True),
    ("approved", "submit", False), ("approved", "review", False), ("approved", "approve", False),
    ("approved", "publish", False),  # its effective date has not come
    ("approved", "withdraw", True),
    ("effective", "submit", False), ("effective", "review", False), ("effective", "send_back", False),
    ("effective", "publish", False), ("effective", "withdraw", True),
    ("superseded", "submit", False), ("superseded", "publish", False), ("superseded", "withdraw", False),
    ("obsolete", "submit", False), ("obsolete", "review", False), ("obsolete", "withdraw", False),
]


def _act(v, action, people):
    d, r, a = people["drafter"], people["reviewer"], people["approver"]
    return {
        "submit": lambda: services.version_submit(v, actor=d),
        "review": lambda: services.version_review(v, actor=r, password="pass-12345"),
        "send_back": lambda: services.version_send_back(v, actor=r, reason="补充"),
        "approve": lambda: services.version_approve(v, actor=a, effective_on=TODAY(), password="pass-12345"),
        "approve_later": lambda: services.version_approve(v, actor=a, effective_on=TODAY() + dt.timedelta(days=30), password="pass-12345"),
        "publish": lambda: services.version_publish(v),
        "withdraw": lambda: services.version_withdraw(v, actor=a, reason="不再适用"),
        "next_version_effective": lambda: _through_approval(_draft(v.document, people, label="本地-9"), people),
    }[action]()


@pytest.mark.parametrize(("state", "action", "allowed"), MOVES)
def test_allowed_and_forbidden_moves(doc, people, state, action, allowed):
    v = _draft(doc, people)
    for step in STEPS[state]:
        _act(v, step, people)
        v.refresh_from_db()
    assert v.status == {"reviewed": "under_review"}.get(state, state)
    before = v.status
    if allowed:
        _act(v, action, people)
        v.refresh_from_db()
        assert v.status != before or action == "review"
    else:
        with pytest.raises(ValidationError):
            _act(v, action, people)
        v.refresh_from_db()
        assert v.status == before


def test_separation_of_duties(doc, people):
    v = _draft(doc, people)
    services.version_submit(v, actor=people["drafter"])
    with pytest.raises(NotPermitted, match="起草人不能审核"):  # the permission matrix's 回避
        services.version_review(v, actor=people["drafter"], password="pass-12345")
    services.version_review(v, actor=people["reviewer"], password="pass-12345")
    for who in ("drafter", "reviewer"):
        with pytest.raises(NotPermitted, match="职责分离"):
            services.version_approve(v, actor=people[who], effective_on=TODAY(), password="pass-12345")
    with pytest.raises(ValidationError, match="生效日期不能早于今天"):
        services.version_approve(v, actor=people["approver"], effective_on=TODAY() - dt.timedelta(days=1), password="pass-12345")


def test_separation_of_duties_holds_with_an_out_of_date_copy(doc, people):
    """The reviewer kept a copy loaded before reviewing: approving with it is still refused,
    because the check runs on the locked row."""
    v = _draft(doc, people)
    services.version_submit(v, actor=people["drafter"])
    stale = DocumentVersion.objects.get(pk=v.pk)
    services.version_review(DocumentVersion.objects.get(pk=v.pk), actor=people["reviewer"], password="pass-12345")
    assert stale.reviewed_by_id is None
    with pytest.raises(ValidationError, match="职责分离"):
        services.version_approve(stale, actor=people["reviewer"], effective_on=TODAY(), password="pass-12345")
    with pytest.raises(ValidationError, match="已审核"):
        services.version_review(DocumentVersion.objects.get(pk=v.pk), actor=people["approver"], password="pass-12345")


def test_signatures_need_a_named_person_and_a_meaning(doc, people):
    v = _draft(doc, people)
    services.version_submit(v, actor=people["drafter"])
    with pytest.raises(ValidationError, match="具名"):
        services.version_review(v, actor=None, password="pass-12345")
    services.version_review(v, actor=people["reviewer"], password="pass-12345")
    with pytest.raises(ValidationError, match="具名"):
        services.version_approve(v, actor=None, effective_on=TODAY(), password="pass-12345")
    with pytest.raises(ValidationError, match="签署含义"):
        services.version_approve(v, actor=people["approver"], effective_on=TODAY(), meaning=" ", password="pass-12345")
    v = services.version_approve(v, actor=people["approver"], effective_on=TODAY(), meaning="批准(党委会2026年第3次会议)", password="pass-12345")
    assert v.approval_meaning == "批准(党委会2026年第3次会议)"


def test_send_back_clears_the_review_signature(doc, people):
    v = _draft(doc, people)
    services.version_submit(v, actor=people["drafter"])
    services.version_review(v, actor=people["reviewer"], password="pass-12345")
    services.version_send_back(v, actor=people["approver"], reason="依据需补充")
    v.refresh_from_db()
    assert (v.status, v.reviewed_by, v.reviewer_name, v.review_meaning) == (VersionStatus.DRAFT, None, "", "")


def test_status_is_protected_from_direct_assignment(doc):
    v = doc.effective_version()
    with pytest.raises(AttributeError):
        v.status = VersionStatus.DRAFT
    v.refresh_from_db()  # FSMModelMixin: refreshing a protected field still works
    assert v.status == VersionStatus.EFFECTIVE


def test_only_drafts_can_be_edited_and_new_versions_need_a_reason(doc, people):
    with pytest.raises(ValidationError, match="请新建版本"):
        services.version_update(doc.effective_version(), actor=people["drafter"], what="偷偷改")
    with pytest.raises(ValidationError, match="修订原因"):
        services.version_create(doc, actor=people["drafter"], label="X", change_reason="")
    v = _draft(doc, people)
    services.version_update(v, actor=people["drafter"], what="新内容")
    services.version_submit(v, actor=people["drafter"])
    with pytest.raises(ValidationError, match="请新建版本"):
        services.version_update(v, actor=people["drafter"], what="审核中再改")
    effective_rule = doc.effective_version().obligations.first()
    with pytest.raises(ValidationError, match="请新建版本"):
        services.obligation_update(effective_rule, actor=people["drafter"], reason="改", every_months=2)


def test_obligation_edits_are_checked_like_the_library(doc, people):
    v = _draft(doc, people)
    o = v.obligations.get(key="branch_committee_meeting")
    with pytest.raises(ValidationError, match="every_months"):
        services.obligation_update(o, actor=people["drafter"], reason="试", every_months=13)
    with pytest.raises(ValidationError, match="频次字段互相冲突"):
        services.obligation_update(o, actor=people["drafter"], reason="试", before="07-01")
    with pytest.raises(ValidationError, match="依据"):
        services.obligation_update(o, actor=people["drafter"], reason="试", source="")
    with pytest.raises(ValidationError, match="原因"):
        services.obligation_update(o, actor=people["drafter"], reason="", every_months=2)
    with pytest.raises(ValidationError, match="适用组织类别"):
        services.obligation_update(o, actor=people["drafter"], reason="试", applies_to=["club"])
    o.refresh_from_db()
    assert (o.count, o.per, o.every_months) == (1, "month", None)
    o = services.obligation_update(o, actor=people["drafter"], reason="本委制度", every_months=2, how="每双月第一周召开")
    assert (o.count, o.per, o.every_months, o.how) == (None, "", 2, "每双月第一周召开")


def test_one_effective_version_is_a_database_constraint(doc, people):
    v = _draft(doc, people)
    with pytest.raises(IntegrityError), transaction.atomic():
        DocumentVersion.objects.filter(pk=v.pk).update(status=VersionStatus.EFFECTIVE)


def test_publishing_supersedes_in_the_same_transaction(doc, people):
    first = doc.effective_version()
    for label in ("本地-2", "本地-3"):
        _through_approval(_draft(doc, people, label=label), people)
        assert DocumentVersion.objects.filter(document=doc, status=VersionStatus.EFFECTIVE).count() == 1
    statuses = dict(doc.versions.values_list("label", "status"))
    assert statuses == {first.label: "superseded", "本地-2": "superseded", "本地-3": "effective"}
    assert ledger.verify().ok


@pytest.mark.django_db(transaction=True)
def test_two_approvers_at_once_exactly_one_wins():
    require_postgres()
    load_library()
    doc = Document.objects.get(owner=None, library_key="branch_committee_meeting")
    root = factories.unit("LIBADM", UnitKind.COMMITTEE, name="体系管理党委")
    people = {n: factories.user(n) for n in ("drafter", "reviewer", "a1", "a2")}
    for u in people.values():  # 体系管理员 revise the standard library (permission matrix)
        core.role_grant(actor=None, user=u, role=Role.ADMIN, unit=root, valid_from=dt.date(2020, 1, 1))
    v = _draft(doc, people)
    services.version_submit(v, actor=people["drafter"])
    services.version_review(v, actor=people["reviewer"], password="pass-12345")
    barrier = threading.Barrier(2)
    results: list[str] = []

    def approve(name):
        try:
            mine = DocumentVersion.objects.get(pk=v.pk)
            barrier.wait(10)
            services.version_approve(mine, actor=people[name], effective_on=TODAY() + dt.timedelta(days=5), password="pass-12345")
            results.append("ok")
        except ValidationError as exc:
            results.append(exc.messages[0])
        finally:
            connections.close_all()

    ts = [threading.Thread(target=approve, args=(n,)) for n in ("a1", "a2")]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert results.count("ok") == 1, results
    assert any("已被他人处理" in r or "不允许" in r for r in results if r != "ok")
    assert ledger.history(DocumentVersion.objects.get(pk=v.pk)).filter(action="document_version.approve").count() == 1


# ------------------------------------------------------------------------------ overrides


@pytest.fixture
def two_committees(db, people):
    load_library()
    c1 = factories.unit("C1", UnitKind.COMMITTEE, name="甲党委")
    c2 = factories.unit("C2", UnitKind.COMMITTEE, name="乙党委")
    for user in people.values():  # the people who revise both committees' own rules
        for c in (c1, c2):
            core.role_grant(actor=None, user=user, role=Role.ADMIN, unit=c, valid_from=dt.date(2020, 1, 1))
    b1 = factories.unit("C1B", UnitKind.BRANCH, parent=c1, name="甲一支部")
    b2 = factories.unit("C2B", UnitKind.BRANCH, parent=c2, name="乙一支部")
    for b in (b1, b2):  # a 支委会 of 3, so the 支委会 rule applies
        ms = [factories.member(b, f"{b.code}委员{i}") for i in range(3)]
        for m, t in zip(ms, ("secretary", "organization", "propaganda"), strict=True):
            core.position_assign(actor=None, member=m, unit=b, title=t, start=dt.date(2024, 1, 1))
    return c1, c2, b1, b2


def _rule(unit, key):
    return next(r for r in effective_rules(unit) if r.obligation.key == key)


def test_committee_override_applies_below_it_and_not_to_a_sibling(two_committees, people):
    c1, c2, b1, b2 = two_committees
    lib = Document.objects.get(owner=None, library_key="branch_committee_meeting")
    v = services.document_adopt(lib, unit=c1, actor=people["drafter"], label="甲-2026", change_reason="本委制度:每两月召开一次支委会")
    o = v.obligations.get(key="branch_committee_meeting")
    services.obligation_update(o, actor=people["drafter"], reason="甲党委《支部工作细则》第3条", every_months=2,
                               source="甲党委《支部工作细则》第3条(seed 004 篇1 十三)")
    _through_approval(v, people)
    r1, r2 = _rule(b1, "branch_committee_meeting"), _rule(b2, "branch_committee_meeting")
    assert r1.expected_per_year == 6 and r1.from_unit == c1 and "甲党委" in r1.origin
    assert r2.expected_per_year == 12 and r2.from_unit is None and "标准文件库" in r2.origin
    assert lib.effective_version().status == VersionStatus.EFFECTIVE  # the library itself is untouched
    assert ledger.verify().ok


def _own_version(lib_key, unit, people, label, **rule_changes):
    lib = Document.objects.get(owner=None, library_key=lib_key)
    v = services.document_adopt(lib, unit=unit, actor=people["drafter"], label=label, change_reason=f"{unit.name}制度")
    o = v.obligations.get(key=lib_key)
    services.obligation_update(o, actor=people["drafter"], reason=f"{unit.name}制度", **rule_changes)
    return _through_approval(v, people)


def test_the_nearest_ancestor_wins(two_committees, people):
    """甲党委 says every 2 months; its 总支 says quarterly for the branches below it; a branch
    directly under 甲党委 follows 甲党委, the branch under the 总支 follows the 总支."""
    c1, _c2, b1, b2 = two_committees
    gb = factories.unit("C1G", UnitKind.GENERAL_BRANCH, parent=c1, name="甲总支")
    b3 = factories.unit("C1GB", UnitKind.BRANCH, parent=gb, name="甲总支一支部")
    ms = [factories.member(b3, f"甲总支委员{i}") for i in range(3)]
    for m, t in zip(ms, ("secretary", "organization", "propaganda"), strict=True):
        core.position_assign(actor=None, member=m, unit=b3, title=t, start=dt.date(2024, 1, 1))
    _own_version("branch_committee_meeting", c1, people, "甲-1", every_months=2, source="甲党委细则第3条")
    _own_version("branch_committee_meeting", gb, people, "总支-1", count=1, per="quarter", source="甲总支细则第2条")
    r1, r3, r2 = (_rule(u, "branch_committee_meeting") for u in (b1, b3, b2))
    assert (expected_count(r1.obligation, 2026), r1.from_unit) == (6, c1)
    assert (expected_count(r3.obligation, 2026), r3.from_unit) == (4, gb) and "甲总支" in r3.origin
    assert (expected_count(r2.obligation, 2026), r2.from_unit) == (12, None)
    # a unit's other rules still come from the library
    assert _rule(b3, "branch_general_meeting").from_unit is None


def test_a_withdrawn_own_version_falls_back_to_the_library(two_committees, people):
    c1, _c2, b1, _b2 = two_committees
    own = _own_version("branch_committee_meeting", c1, people, "甲-1", every_months=2, source="甲党委细则第3条")
    assert expected_count(_rule(b1, "branch_committee_meeting").obligation, 2026) == 6
    services.version_withdraw(own, actor=people["approver"], reason="恢复执行标准文件库")
    assert expected_count(_rule(b1, "branch_committee_meeting").obligation, 2026) == 12


def test_min_full_members_condition(two_committees, people):
    c1, _c2, b1, _b2 = two_committees  # b1 has 3 full members
    _own_version("branch_general_meeting", c1, people, "甲-1", min_full_members=5, source="甲党委细则第5条")
    assert "branch_general_meeting" not in {r.obligation.key for r in effective_rules(b1)}
    for i in range(2):
        factories.member(b1, f"新党员{i}")
    assert "branch_general_meeting" in {r.obligation.key for r in effective_rules(b1)}


@pytest.mark.parametrize(("frequency", "count"), [
    ({"count": 1, "per": "month"}, 12), ({"every_months": 2}, 6), ({"count": 1, "per": "quarter"}, 4),
    ({"count": 1, "per": "half_year"}, 2), ({"count": 2, "per": "year"}, 2), ({"every_months": 5}, 3),
    ({"every_months": 12}, 1), ({"before": "07-01"}, 1), ({"count": 1, "per": "year", "preferred_period": "Q4"}, 1),
    ({"preferred_period": "Q4"}, 1), ({"event": "retirement"}, 0), ({"before": "02-29"}, 1),
])
def test_expected_count(frequency, count):
    o = Obligation(key="x", title="x", applies_to=["branch"], responsible="secretary", checker="secretary", source="s", **frequency)
    assert expected_count(o, 2026) == count == expected_count(o, 2028)


def test_rules_apply_by_kind_and_conditions(two_committees):
    c1, _c2, b1, _b2 = two_committees
    keys_branch = {r.obligation.key for r in effective_rules(b1)}
    keys_committee = {r.obligation.key for r in effective_rules(c1)}
    assert {"branch_general_meeting", "branch_committee_meeting", "theme_party_day"} <= keys_branch
    assert "committee_meeting" not in keys_branch and "committee_meeting" in keys_committee
    small = factories.unit("C1S", UnitKind.BRANCH, parent=c1, name="小支部")
    assert "branch_committee_meeting" not in {r.obligation.key for r in effective_rules(small)}  # no 支委会
    group = factories.unit("C1BG", UnitKind.GROUP, parent=b1, name="小组")
    assert {r.obligation.key for r in effective_rules(group)} == {"party_group_meeting"}


def test_newer_library_is_offered_as_a_draft_to_adopters(two_committees, people, tmp_path):
    import shutil

    from procedures.library_loader import LIBRARY_DIR

    c1, *_ = two_committees
    lib = Document.objects.get(owner=None, library_key="branch_committee_meeting")
    own = services.document_adopt(lib, unit=c1, actor=people["drafter"], label="甲-2026", change_reason="本委制度")
    _through_approval(own, people)
    libdir = tmp_path / "lib"
    shutil.copytree(LIBRARY_DIR, libdir)
    p = libdir / "cx02_branch_committee_meeting.toml"
    text = re.sub(r'(?m)^version = ".*"$', 'version = "2027.1"', p.read_text(encoding="utf-8"), count=1)
    p.write_text(text.replace("研究支部日常工作", "研究支部日常工作和重要事项"), encoding="utf-8")
    report = load_library(libdir)
    assert report.updated == ["DJ-CX-02 2027.1"] and len(report.offered) == 1
    own.refresh_from_db()
    assert own.status == VersionStatus.EFFECTIVE  # the organisation's own version is not overwritten
    offer = DocumentVersion.objects.get(document=own.document, label="2027.1-库更新")
    assert offer.status == VersionStatus.DRAFT and "研究支部日常工作和重要事项" in offer.why
    assert lib.effective_version().label == "2027.1"
    # the offer carries every rule of the new library version (支委会 and the 支部工作计划)
    assert set(Obligation.objects.filter(version=offer).values_list("key", flat=True)) == {
        "branch_committee_meeting", "branch_annual_plan"}


def test_publish_due_task_runs_eagerly(doc, people, monkeypatch):
    from procedures.tasks import publish_due_task

    later = TODAY() + dt.timedelta(days=3)
    v = _through_approval(_draft(doc, people), people, effective_on=later)
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *a, **k: later)
    assert publish_due_task.delay().get() == 1
    v.refresh_from_db()
    assert v.status == VersionStatus.EFFECTIVE
