"""空缺 (seed 001 三(二)1、三(二)8 “及时补选”): a unit whose 书记 seat (a seat its kind requires,
qms/rules/tree.toml [seats]) is empty is warned until a 补选 fills it."""
from __future__ import annotations

import datetime as dt

import pytest

from qms import services as core
from qms.models import Position, Role, UnitKind
from qms.structure import required_seats, tree_warnings
from tests import factories

pytestmark = pytest.mark.django_db
D = dt.date


def _vacant(tree, code, on):
    return [w for w in tree_warnings(tree["committee"], on=on) if w.unit_code == code and w.code == "vacant_seat"]


def test_every_kind_names_its_required_seats_with_a_source():
    seats = required_seats()
    assert set(seats) == set(UnitKind.values)
    assert all(source for _t, source in seats.values())
    assert seats["branch"][0] == ("secretary",) and "及时进行补选" in seats["branch"][1]


def test_a_secretary_who_leaves_leaves_a_vacancy_warned_until_filled(tree):
    b1, m = tree["b1"], tree["m1"]
    p = core.position_assign(actor=None, member=m[0], unit=b1, title="secretary", start=D(2024, 1, 1), past_term=True)
    assert _vacant(tree, "B1", D(2025, 1, 1)) == []
    core.position_end(p, actor=None, end=D(2025, 3, 31), reason="调离")
    [w] = _vacant(tree, "B1", D(2025, 4, 1))
    assert w.message.startswith("书记空缺") and "及时按程序进行补选" in w.message and "三(二)1" in w.source
    core.position_assign(actor=None, member=m[1], unit=b1, title="secretary", start=D(2025, 5, 1), past_term=True)
    assert _vacant(tree, "B1", D(2025, 4, 15)) != []  # still empty before the 补选 took effect
    assert _vacant(tree, "B1", D(2025, 5, 1)) == []


def test_a_committee_without_its_secretary_is_warned_a_unit_with_no_offices_recorded_is_not(tree):
    core.position_assign(actor=None, member=tree["m1"][0], unit=tree["b1"], title="organization", start=D(2024, 1, 1))
    [w] = _vacant(tree, "B1", D(2025, 1, 1))
    assert w.message.startswith("书记未配备")
    assert _vacant(tree, "B2", D(2025, 1, 1)) == []  # its 班子 has not been entered at all
    assert _vacant(tree, "B1G1", D(2025, 1, 1)) == []  # a 党小组 has no required seat


def test_the_unit_page_shows_the_vacancy(tree, client):
    p = core.position_assign(actor=None, member=tree["m1"][0], unit=tree["b1"], title="secretary", start=D(2024, 1, 1))
    core.position_end(p, actor=None, end=D(2024, 6, 30), reason="退休")
    admin = factories.user("adm")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=tree["committee"], valid_from=D(2020, 1, 1))
    client.force_login(admin)
    page = client.get("/units/B1/").content.decode()
    assert "书记空缺" in page and "及时按程序进行补选" in page
    assert Position.objects.filter(unit=tree["b1"], end__isnull=True).count() == 0
