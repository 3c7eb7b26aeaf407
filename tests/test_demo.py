"""The demo committee: shape, positions, logins and scopes, idempotence, intact ledger."""
from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count, Q

from qms import demo, ledger
from qms.models import (
    BRANCH_KINDS,
    LedgerEntry,
    Member,
    MemberCategory,
    Membership,
    MemberStatus,
    Position,
    Unit,
    UnitKind,
)
from qms.scoping import restrict, scopes_for
from qms.structure import tree_warnings

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded():
    out = io.StringIO()
    call_command("demo", "--no-history", stdout=out)
    return out.getvalue()


def test_shape_and_output(loaded):
    assert Unit.objects.filter(kind=UnitKind.GENERAL_BRANCH).count() >= 3
    assert Unit.objects.filter(kind__in=BRANCH_KINDS).count() >= 12
    assert Unit.objects.filter(kind=UnitKind.GROUP).count() >= 40
    assert Member.objects.count() >= 300
    assert Unit.objects.filter(kind=UnitKind.JOINT_BRANCH).exists()
    for login in demo.DEMO_LOGINS:
        assert login["username"] in loaded and login["password"] in loaded
    assert f"根组织编码:{demo.ROOT_CODE}" in loaded


def test_every_member_on_the_roll_has_exactly_one_open_membership(loaded):
    active = Member.objects.filter(status=MemberStatus.ACTIVE)
    counts = active.annotate(n=Count("memberships", filter=Q(memberships__end__isnull=True)))
    assert {m.n for m in counts} == {1}
    assert not Membership.objects.filter(end__isnull=True, member__status=MemberStatus.TRANSFERRED_OUT).exists()


def test_positions_follow_the_structure_rule_except_the_deliberate_branch(loaded):
    warnings = tree_warnings(Unit.objects.get(code=demo.ROOT_CODE), on=demo.TODAY)
    assert {(w.unit_code, w.code) for w in warnings} == {("HX-Z3-B3", "no_committee"), ("HX-Z2-B3", "term_expired")}
    for g in Unit.objects.filter(kind=UnitKind.GROUP):
        assert Position.objects.filter(unit=g, title="group_leader", end__isnull=True).count() == 1
    assert Position.objects.filter(unit__code=demo.ROOT_CODE, end__isnull=True).count() == 7


def test_logins_and_scopes(loaded):
    for login in demo.DEMO_LOGINS:
        assert authenticate(username=login["username"], password=login["password"]) is not None, login
    from django.contrib.auth import get_user_model

    U = get_user_model()
    sec = U.objects.get(username="shuji_b1")
    assert [(s.unit_code, s.can_manage) for s in scopes_for(sec)] == [("HX-Z1-B1", True)]
    seen = set(restrict(sec, Unit.objects.all()).values_list("code", flat=True))
    assert "HX-Z1-B1" in seen and "HX-Z1-B2" not in seen and all(c.startswith("HX-Z1-B1") for c in seen)
    assert [(s.unit_code, s.can_manage) for s in scopes_for(U.objects.get(username="zongzhi"))] == [("HX-Z1", True)]
    assert [(s.unit_code, s.level) for s in scopes_for(U.objects.get(username="dangyuan"))] == [("HX-Z1-B1", "member")]
    assert scopes_for(U.objects.get(username="admin"))[0].level == "admin"
    auditor = scopes_for(U.objects.get(username="neishen"))
    assert ("HX", "internal_auditor", False) in [(s.unit_code, s.level, s.can_manage) for s in auditor]
    assert [(s.level, s.can_manage) for s in scopes_for(U.objects.get(username="waishen"))] == [("external_auditor", False)]
    # every demo login goes by a person's name on the pages, never by the login itself
    from qms.people import person

    assert [u.username for u in U.objects.filter(username__in=[x["username"] for x in demo.DEMO_LOGINS])
            if person(u) == u.username] == []


def test_categories_and_dates_are_coherent(loaded):
    for m in Member.objects.all():
        if m.category == MemberCategory.FULL:
            assert m.joined_on and m.full_on and m.full_on > m.joined_on
        if m.joined_on:
            assert (m.joined_on.year - m.birth_date.year) >= 18
        assert m.gender == ("M" if int(m.id_number[16]) % 2 else "F")


def test_second_run_changes_nothing_and_ledger_verifies(loaded):
    before = (Member.objects.count(), LedgerEntry.objects.count())
    out = io.StringIO()
    call_command("demo", stdout=out)
    assert "已存在" in out.getvalue()
    assert (Member.objects.count(), LedgerEntry.objects.count()) == before
    assert ledger.verify().ok


class _Rollback(Exception):
    pass


def _fingerprint():
    return (
        sorted(Member.objects.values_list("name", "id_number", "category", "joined_on")),
        sorted(Membership.objects.values_list("member__id_number", "unit__code", "group__code", "start", "end")),
        sorted(Position.objects.values_list("member__id_number", "unit__code", "title")),
    )


def test_two_builds_on_empty_databases_are_identical():
    try:
        with transaction.atomic():
            demo.build()
            first = _fingerprint()
            raise _Rollback
    except _Rollback:
        pass
    assert not Member.objects.exists()
    demo.build()
    assert _fingerprint() == first and len(first[0]) >= 300


def test_readme_lists_the_demo_logins():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for login in demo.DEMO_LOGINS:
        assert f"| `{login['username']}` | `{login['password']}` |" in readme


def test_history_step_gives_a_year_of_mostly_complete_records_for_one_branch():
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from procedures.library_loader import load_library
    from workflows.compliance import compliance
    from workflows.demo import history_step
    from workflows.models import Occurrence, State

    demo.build()
    load_library()
    branch = Unit.objects.get(code="HX-Z1-B1")
    summary = history_step(branch, get_user_model().objects.get(username="admin"))
    assert "闭环" in summary
    states = set(Occurrence.objects.filter(unit__path__startswith=branch.path).values_list("state", flat=True))
    assert {State.CLOSED, State.MISSED} <= states
    m = compliance(branch, timezone.localdate().year)
    assert m.overall.rate is not None and m.overall.rate > 0.5
    assert ledger.verify().ok


def test_demo_dues_most_pay_a_few_in_arrears_one_flagged(loaded):
    """党费 in the demo: most members pay every month, a few are 2–7 months in arrears, so the
    6-month flag shows one or two people (never a branch's secretary) and the 党费 indicator has
    a realistic value."""
    import random

    from django.utils import timezone

    from audits.performance import indicators
    from workflows import dues
    from workflows.demo import SEED, dues_history

    root = Unit.objects.get(code=demo.ROOT_CODE)
    today = timezone.localdate()
    days, counts = dues_history(root, random.Random(SEED + 1), today)
    flagged = dues.arrears(root)
    assert 1 <= len(flagged) <= 2, [a["member"].name for a in flagged]
    secretaries = set(Position.objects.filter(title="secretary", end__isnull=True).values_list("member_id", flat=True))
    assert not secretaries & {a["member"].pk for a in flagged}
    assert counts["arrears"] >= 15 and counts["short"] and counts["excused"]
    b1 = Unit.objects.get(code="HX-Z1-B1")
    assert len(dues.arrears(b1)) == 1  # the branch secretary's page shows one person, not everyone
    last = dues.months_back(dues.month_start(today), 1)
    share = indicators.value("dues", root, dues.months_back(last, 11), dues.month_end(last), today=today)
    assert 0.9 < share.value < 1, share.text()
    assert len(days) >= 12 * 13 - 1
    assert not dues.unsettled(b1, dues.months_back(last, 8))  # before the arrears began: everyone settled
    assert [m.name for m in dues.unsettled(b1, last)] == [flagged_b1["member"].name for flagged_b1 in dues.arrears(b1)]
    assert ledger.verify().ok


def test_a_background_history_shows_its_progress_on_every_page_until_done(client):
    """``make run`` serves at once while a separate process builds the year of executions: the
    pages say so with its last progress line; a builder that died is said too; done — silence."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    path = settings.DEMO_PROGRESS_FILE
    assert demo.history_progress() is None and "演示数据" not in client.get("/login/").content.decode()
    demo.write_progress("running", "执行记录 600/1665(36%)", pid=os.getpid())
    page = client.get("/login/").content.decode()
    assert "正在后台生成过去一年的执行记录(执行记录 600/1665(36%))" in page
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    demo.write_progress("running", "执行记录 700/1665(42%)", pid=gone.pid)
    assert demo.history_progress()["state"] == "stopped"
    assert "没有生成完" in client.get("/login/").content.decode()
    demo.write_progress("done", "已完成")
    assert "演示数据" not in client.get("/login/").content.decode()
    path.unlink()
