"""The rolled-up heatmap's bands: 良好 is the organisation's 三会一课执行率 objective where one is
set for the year (its own or the nearest above), else the cited default rule; 一般 is a rule.
Changed for one organisation, the other keeps the defaults."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from audits.models import Objective
from audits.performance import scoring
from qms import services as core
from qms.models import Role, UnitKind
from qms.rules import defaults
from tests import factories
from workflows import views as workflow_views
from workflows.views import RateBands, rate_bands

pytestmark = pytest.mark.django_db
YEAR = 2025


@pytest.fixture
def two():
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b = factories.unit("B1", UnitKind.BRANCH, parent=c, name="第一党支部")
    c2 = factories.unit("C2", UnitKind.COMMITTEE, name="另一党委")
    admin = factories.user("admin")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=c, valid_from=dt.date(2020, 1, 1))
    return {"c": c, "b": b, "c2": c2, "admin": admin}


def test_defaults_are_cited_rules():
    good, fair = defaults()["heatmap_good_percent"], defaults()["heatmap_fair_percent"]
    assert (good.value, fair.value) == (95, 80) and good.source.startswith("本系统默认") and fair.source.startswith("本系统默认")


def test_the_objective_sets_the_good_line_where_one_is_set(two):
    assert rate_bands(two["b"], YEAR) == rate_bands(two["c2"], YEAR)
    b = rate_bands(two["b"], YEAR)
    assert (b.good, b.fair) == (95, 80) and b.css(0.95) == "h-good" and b.css(0.9) == "h-fair" and b.css(0.79) == "h-poor"

    scoring.objectives_seed(two["c"], YEAR, actor=two["admin"])
    o = Objective.objects.get(root=two["c"], year=YEAR, indicator="sanhui")
    scoring.objective_set(o, actor=two["admin"], target=Decimal("90"), comparator="ge", reason="党委会研究调整")
    b = rate_bands(two["b"], YEAR)  # the branch follows its committee's objective
    assert b.good == 90 and b.css(0.9) == "h-good" and b.css(0.899) == "h-fair" and "三会一课执行率" in b.good_source
    assert rate_bands(two["b"], YEAR + 1).good == 95  # another year: no objective, the default
    assert rate_bands(two["c2"], YEAR).good == 95  # another organisation: the default

    core.policy_override_set(actor=None, unit=two["c"], key="heatmap_fair_percent", value=92, source="本党委:低于92%须说明")
    b = rate_bands(two["b"], YEAR)
    assert b.fair == 90 and b.css(0.89) == "h-poor"  # 一般 never above 良好
    assert rate_bands(two["c2"], YEAR).fair == 80
    core.policy_override_set(actor=None, unit=two["c2"], key="heatmap_good_percent", value=98, source="另一党委:98%为良好")
    assert rate_bands(two["c2"], YEAR).good == 98 and rate_bands(two["c2"], YEAR).good_source == "另一党委:98%为良好"


def test_the_rolled_map_shows_the_bands_and_their_source(client, two, monkeypatch):
    monkeypatch.setattr(workflow_views, "ROLLUP_ABOVE", 1)
    client.force_login(two["admin"])
    body = client.get(reverse("compliance"), {"unit": "C", "year": YEAR}).content.decode()
    assert "执行率 ≥ 95%" in body and "色带依据" in body
    scoring.objectives_seed(two["c"], YEAR, actor=two["admin"])
    o = Objective.objects.get(root=two["c"], year=YEAR, indicator="sanhui")
    scoring.objective_set(o, actor=two["admin"], target=Decimal("85"), comparator="ge", reason="党委会研究调整")
    body = client.get(reverse("compliance"), {"unit": "C", "year": YEAR}).content.decode()
    assert "执行率 ≥ 85%" in body and "80%–85%" in body and "测试党委 2025 年党建目标“三会一课执行率”" in body


def test_without_a_registered_source_the_cells_are_not_banded(monkeypatch):
    from types import SimpleNamespace

    rates = {("P/", "a"): SimpleNamespace(rate=0.5, on_time=1, late=0, due=2)}
    obligations = [("a", "支委会"), ("b", "党课")]
    banded = workflow_views._rolled_cells(rates, "P/", obligations, RateBands(90, 80, "", ""))
    assert 'class="h-poor" title="50%(1/2)"' in banded and 'class="h-none" title="尚无到期事项"' in banded
    monkeypatch.setattr(workflow_views, "RATE_BANDS", [])
    assert rate_bands(None, YEAR) is None  # workflows alone has no lines: it does not invent them
    plain = workflow_views._rolled_cells(rates, "P/", obligations, None)
    assert 'class="h-plain" title="50%(1/2)"' in plain and "h-poor" not in plain
