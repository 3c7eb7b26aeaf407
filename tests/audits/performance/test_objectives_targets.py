"""方针目标 as one list: the manual's text (二、目标) is written from its ``[[targets]]`` and each
organisation's yearly objectives are seeded from the same list — including 按期换届率, measured
from the 换届 occurrences held by their due date (seed 001 三(二)8)."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from audits.models import Objective
from audits.performance import indicators, scoring
from procedures.library_loader import LIBRARY_DIR, library_targets, load_library, validate_library
from procedures.models import Document, Obligation
from qms.models import UnitKind
from tests import factories
from tests.audits.performance.test_objectives_scoring import org  # noqa: F401  (fixture)
from workflows.models import Occurrence, State

pytestmark = pytest.mark.django_db


def test_manual_states_exactly_the_targets_the_objectives_are_seeded_from(org):  # noqa: F811
    load_library()
    targets = library_targets()
    assert [t["indicator"] for t in targets] == ["sanhui", "rectification", "dues", "term_on_time", "audit_coverage"]
    manual = Document.objects.get(owner=None, code="DJ-SC-01").effective_version()
    line = next(x for x in manual.body.splitlines() if x.startswith("二、目标"))
    assert line.startswith("二、目标:三会一课执行率 ≥ 95%;问题整改率 ≥ 95%;党费按月足额交纳率 ≥ 100%;按期换届率 ≥ 100%;"
                           "内审覆盖率(党支部) ≥ 100%。")
    assert "{targets}" not in manual.body
    seeded = scoring.objectives_seed(org["c"], 2026, actor=org["admin"])
    assert sorted((o.indicator, o.title, float(o.target), o.source) for o in seeded) == sorted(
        (t["indicator"], t["title"], float(t["target"]), t["source"]) for t in targets)


def test_every_target_names_a_known_indicator_and_a_source():
    known = set(indicators.rules()["indicators"])
    for t in library_targets():
        assert t["indicator"] in known, t
        assert t["source"].strip(), t
    assert "objectives" not in indicators.rules()  # no second copy of the list


def test_sanhui_cites_the_three_meetings_one_lecture_clause():
    """The 三会一课 rule is seed 001 三(二)2; 三(一)1 is the 党组书记's duty (fidelity audit §2 G)."""
    assert indicators.rules()["indicators"]["sanhui"]["source"].startswith("seed 001 三(二)2")
    sanhui = next(t for t in library_targets() if t["indicator"] == "sanhui")
    assert "三(二)2" in sanhui["source"] and "本系统默认" in sanhui["source"]


def test_term_on_time_counts_elections_held_by_their_due_date():
    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b1 = factories.unit("B1", UnitKind.BRANCH, parent=c, name="第一党支部")
    b2 = factories.unit("B2", UnitKind.BRANCH, parent=c, name="第二党支部")
    b3 = factories.unit("B3", UnitKind.BRANCH, parent=c, name="第三党支部")
    ob = Obligation.objects.filter(version__document__code="DJ-CX-11", version__document__owner__isnull=True,
                                   version__status="effective").first()
    due = dt.date(2026, 6, 30)
    for unit, state, held in ((b1, State.CHECKED, dt.date(2026, 6, 20)), (b2, State.HELD, dt.date(2026, 7, 15)),
                              (b3, State.MISSED, None)):
        Occurrence.objects.create(unit=unit, obligation=ob, obligation_key=ob.key, period_start=dt.date(2026, 1, 1),
                                  period_end=due, due_date=due, seq=1, state=state, held_on=held)
    share = indicators.value("term_on_time", c, dt.date(2026, 1, 1), dt.date(2026, 12, 31), today=dt.date(2026, 12, 1))
    assert (share.num, share.den) == (1, 3)  # held late (B2) and missed (B3) are not 按期
    held = indicators.value("sanhui", c, dt.date(2026, 1, 1), dt.date(2026, 12, 31), today=dt.date(2026, 12, 1))
    assert held.den == 0  # the 换届 occurrences are not 三会一课


@pytest.mark.parametrize("bad, reason", [
    ('source = ""', "目标必须注明依据"),
    ('comparator = "gt"', "应为 ge(不低于)或 le(不高于)"),
    ("target = 120", "目标值应为 0–100 之间的百分数"),
])
def test_a_malformed_target_is_refused_with_nothing_loaded(tmp_path: Path, bad: str, reason: str):
    lib = tmp_path / "library"
    shutil.copytree(LIBRARY_DIR, lib)
    manual = lib / "sc00_manual.toml"
    text = manual.read_text(encoding="utf-8")
    key = bad.split(" = ")[0]
    block = text[text.index("[[targets]]"):]
    line = next(x for x in block.splitlines() if x.startswith(f"{key} = "))
    manual.write_text(text.replace(block, block.replace(line, bad, 1)), encoding="utf-8")
    problems, _forms, _docs = validate_library(lib)
    assert any(p.file == "sc00_manual.toml" and p.key.startswith("targets[0]") and reason in p.reason for p in problems)
    report = load_library(lib)
    assert report.problems and not report.created and not Objective.objects.exists()
