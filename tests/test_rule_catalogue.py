"""The rule catalogue (``manage.py rules``): every rule in force with its source, the fidelity rows
it implements, where it acts — and the inert ones found, with exit 1."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from procedures.library_loader import load_library
from procedures.models import Obligation
from qms import catalogue, rules
from qms.models import Unit
from qms.services import policy_override_set

pytestmark = pytest.mark.django_db

DOCS = Path(settings.BASE_DIR) / "docs"


def _run(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("rules", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def library(tree):
    load_library()
    return tree


def test_demo_committee_catalogue_is_whole_cited_and_live_and_the_docs_are_current():
    """On the demo committee: every entry has a source, nothing is inert (exit 0), every fidelity row
    the product implements names an entry, every name a row gives exists; docs/rules.md and
    docs/fidelity.md are what the command writes."""
    call_command("demo", "--no-history", stdout=io.StringIO())
    load_library()
    code, out, err = _run("--unit", "HX", "--format", "json")
    assert code == 0, err
    entries = json.loads(out)
    assert len(entries) > 250
    assert all(e["source"].strip() for e in entries)
    assert not [e["key"] for e in entries if e["inert"]]
    kinds = {e["kind"] for e in entries}
    assert {"frequency", "event", "element", "quorum", "threshold", "statistic", "indicator", "objective"} <= kinds
    root = Unit.objects.get(code="HX")
    built = catalogue.catalogue(root)
    assert catalogue.uncovered_rows(built) == []
    assert catalogue.unknown_names(built) == []
    covered = {r for e in entries for r in e["rows"]}
    # every event of the 六必谈, the 专题组织生活会 and 任前培训 is in the catalogue with its row
    assert {"001-54", "001-64", "001-65", "001-66", "001-67", "001-68", "001-69", "001-100"} <= covered
    # all 61 items of the annual statistics form
    assert sum(1 for r in covered if r.startswith("5-")) == 61
    assert (DOCS / "rules.md").read_text(encoding="utf-8") == catalogue.as_markdown(root, built) + "\n", \
        "docs/rules.md is out of date: python manage.py demo --no-history && python manage.py rules --unit HX --write-doc"
    assert (DOCS / "fidelity.md").read_text(encoding="utf-8") == catalogue.fidelity_markdown(root, built) + "\n", \
        "docs/fidelity.md is out of date: python manage.py rules --unit HX --write-doc"


def test_a_number_no_code_reads_is_inert_and_the_command_exits_1(library, tmp_path):
    extra = tmp_path / "extra.toml"
    extra.write_text('[never_read_anywhere_rule]\nvalue = 3\nlabel = "没人读取的规则"\nsource = "本系统默认:测试"\n',
                     encoding="utf-8")
    rules.register(extra)
    try:
        code, _out, err = _run("--unit", "C", "--format", "csv")
        assert code == 1
        assert "rule:never_read_anywhere_rule" in err and "没有任何功能读取这条规则" in err
    finally:
        rules._MORE.remove(extra)
        rules.defaults.cache_clear()
    code, _out, err = _run("--unit", "C", "--format", "csv")
    assert code == 0, err


def test_an_obligation_waiting_for_an_event_nobody_emits_is_inert(library):
    ob = Obligation.objects.filter(key="talk_hardship").first()
    Obligation.objects.filter(pk=ob.pk).update(event="never_emitted")
    entries = {e.key: e for e in catalogue.catalogue(Unit.objects.get(code="C"))}
    assert "没有任何事件触发" in entries["obligation:talk_hardship"].inert
    code, _out, err = _run("--unit", "C", "--format", "json")
    assert code == 1 and "obligation:talk_hardship" in err


def test_an_organisation_override_is_shown_with_who_set_it(library, tree):
    c = tree["committee"]
    before = {e.key: e for e in catalogue.catalogue(c)}["rule:branch_max_full_members"]
    assert (before.origin, before.value) == ("library", "50(按正式党员计)")
    policy_override_set(actor=None, unit=c, key="branch_max_full_members", value=40, source="本党委党建工作制度第三条")
    after = {e.key: e for e in catalogue.catalogue(c)}["rule:branch_max_full_members"]
    assert after.origin == "override" and after.origin_detail == c.name
    assert after.value.startswith("40") and after.source == "本党委党建工作制度第三条"
    assert "001-15" in after.rows


def test_product_defaults_are_marked_and_each_entry_says_where_it_acts(library, tree):
    entries = {e.key: e for e in catalogue.catalogue(tree["committee"])}
    assert entries["rule:makeup_days"].origin == "default"  # 本系统默认 in its source
    assert entries["obligation:branch_general_meeting"].enforced == ("scheduler",)
    assert entries["quorum:branch_general_meeting"].where
    assert entries["rule:term_years_branch"].where  # read by the code that computes terms
    assert entries["element:DJ-JL-01:attendance"].enforced == ("record",)
    assert entries["event:job_change"].enforced == ("event",)


def test_csv_and_markdown_formats(library):
    code, out, _ = _run("--unit", "C", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {"key", "rows", "kind", "value", "source", "origin", "enforced", "inert"} <= set(rows[0])
    code, out, _ = _run("--unit", "C", "--format", "md")
    assert code == 0 and out.startswith("# 规则目录 — 测试党委") and "## 频次 (frequency)" in out


def test_unknown_unit_is_refused_in_chinese(library):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="没有编码为“NOPE”的组织"):
        call_command("rules", "--unit", "NOPE", stdout=io.StringIO())


def test_the_page_shows_the_rules_in_chinese_for_the_chosen_organisation(library, tree, client):
    from qms import services as core
    from qms.models import Role
    from tests import factories

    admin = factories.user("admin")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=tree["committee"], valid_from=dt.date(2020, 1, 1))
    client.force_login(admin)
    r = client.get("/rules/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "规则目录:测试党委" in html and "召开支部党员大会" in html and "本系统默认" in html
    assert "频次" in html and "记录要素" in html and "年度统计" in html
    assert "rule:" not in html and "obligation:" not in html and "branch_general_meeting" not in html
    member = factories.user("nobody")
    client.force_login(member)
    r = client.get("/rules/")
    assert r.status_code == 200 and "没有可查看的党组织" in r.content.decode()


def test_the_catalogue_takes_the_same_queries_whatever_the_number_of_units(library, tree, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from qms.models import UnitKind
    from tests import factories

    c = tree["committee"]
    catalogue.catalogue(c)  # warm the code scan
    with CaptureQueriesContext(connection) as small:
        catalogue.catalogue(c)
    for i in range(6):
        b = factories.unit(f"X{i}", UnitKind.BRANCH, parent=tree["general"], name=f"新增支部{i}")
        factories.member(b, f"新增党员{i}")
    with CaptureQueriesContext(connection) as large:
        catalogue.catalogue(c)
    assert len(large.captured_queries) == len(small.captured_queries)
    with django_assert_max_num_queries(25):
        catalogue.catalogue(c)
