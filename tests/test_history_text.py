"""History (留痕) in plain Chinese: every action the code can write has a Chinese label, and a
ticket's history reads as who, when, what, which fields from what to what — people by name,
states by their Chinese names, no internal keys."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

from audits.capa import services as capa
from qms import history
from qms import services as core
from qms.models import Role, UnitKind
from qms.rules.events import vocabulary
from tests import factories

pytestmark = pytest.mark.django_db

WRITE = re.compile(r'(?:ledger\.record|record_many|ledger\._append)\(\s*f?"([a-z_.{}]+)"')
DYNAMIC = {  # f-string actions: their possible values, read from the models' state machines
    "nc.{method}": ("audits.Nonconformity", "state"), "occurrence.{method}": ("workflows.Occurrence", "state"),
    "document_version.{method}": ("procedures.DocumentVersion", "status"), "review.{method}": ("audits.ManagementReview", "state"),
    "election.{method}": ("workflows.Election", "state"),
}


def _written_actions() -> set[str]:
    out: set[str] = set()
    for pkg in ("qms", "procedures", "workflows", "audits"):
        for path in (Path(settings.BASE_DIR) / pkg).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            for action in WRITE.findall(text):
                if action in DYNAMIC:
                    label, field = DYNAMIC[action]
                    model = apps.get_model(label)
                    out |= {f"{action.split('.')[0]}.{t.name}" for t in model._meta.get_field(field).get_all_transitions(model)}
                elif action == "member.{kind}":
                    # member_status_change writes it: the kinds the event vocabulary records there
                    out |= {f"member.{e.key}" for e in vocabulary().values() if e.recorded_with == "member_status_change"}
                else:
                    assert "{" not in action, f"an f-string action the test does not know: {action} ({path})"
                    out.add(action)
    out |= {"removal.approve", "removal.reject", "pack_link.access", "pack_link.refused", "schema.add_fields"}
    return out


def test_every_action_the_code_writes_has_a_chinese_label():
    actions = _written_actions()
    assert len(actions) > 60
    missing = sorted(a for a in actions if not history.is_labelled(a))
    assert missing == [], f"actions with no Chinese label in qms/history.py: {missing}"


def test_a_tickets_history_reads_as_sentences_with_names(client):
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b = factories.unit("B", UnitKind.BRANCH, parent=c, name="第一党支部")
    sec = factories.user("shuji_b1")
    m = factories.member(b, "王浩新")
    core.member_update(m, actor=None, reason="账号", user=sec)
    core.position_assign(actor=None, member=m, unit=b, title="secretary", start=dt.date(2024, 1, 1))
    office = factories.user("bangongshi", first_name="党委办公室")
    core.role_grant(actor=None, user=office, role=Role.ADMIN, unit=c, valid_from=dt.date(2020, 1, 1))
    nc = capa.nc_raise(actor=office, unit=b, source="spot_check", grade="minor", clause="DJ-CX-02",
                       requirement="每月至少召开1次支委会", evidence="3月无支委会记录")
    capa.nc_acknowledge(nc, actor=sec)
    client.force_login(sec)
    page = client.get(f"/audits/problems/{nc.pk}/").content.decode()
    table = page[page.index('<table class="history">'):]
    table = table[:table.index("</table>")]
    text = re.sub(r"<[^>]+>", " ", table)
    assert "提出不符合项" in text and "确认不符合项" in text
    assert "王浩新" in text and "党委办公室" in text
    assert "状态:已提出 → 已确认" in text and "确认人:空 → 王浩新" in text
    for internal in ("nc.acknowledge", "acknowledged_by", "_id", "state:", "shuji_b1", "bangongshi", "raised →"):
        assert internal not in text, internal


def test_citations_are_shown_by_document_title_not_file_name(client):
    """A rule keeps its short citation ("seed 004 篇1"); the occurrence page shows the seed's title."""
    from procedures.library_loader import load_library
    from workflows.models import Occurrence
    from workflows.scheduler import schedule

    load_library()
    c = factories.unit("C", UnitKind.COMMITTEE, name="测试党委")
    b = factories.unit("B", UnitKind.BRANCH, parent=c, name="第一党支部")
    admin = factories.user("office", first_name="党委办公室")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=c, valid_from=dt.date(2020, 1, 1))
    factories.member(b, "党员甲")
    schedule()
    occ = Occurrence.objects.filter(unit=b, obligation__source__contains="seed 001").first()
    client.force_login(admin)
    for url in (f"/work/{occ.pk}/", f"/procedures/{occ.obligation.version.document.pk}/", "/permissions/"):
        text = re.sub(r"<[^>]+>", " ", client.get(url).content.decode())
        assert "seed 0" not in text and "domain.md" not in text, url
    assert "《关于进一步加强和改进机关党的建设的实施意见》" in re.sub(r"<[^>]+>", " ", client.get(f"/work/{occ.pk}/").content.decode())
