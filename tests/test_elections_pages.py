"""The unit's 换届选举 page: each step's form, refusals shown in Chinese, the new committee at the end."""
from __future__ import annotations

import pytest
from django.utils import timezone

from qms.models import Position
from tests.test_elections import _decision, org  # noqa: F401  (the fixture)
from workflows.models import Election, ElectionState

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


def _post(client, data):
    """POST one step; the page after it (each step's form, refusals included) shows no English words."""
    from tests.test_crawl import foreign_words

    r = client.post("/work/elections/B/", data, follow=True)
    assert r.status_code == 200
    body = r.content.decode()
    assert foreign_words(body) == set(), data.get("step")
    return body


def test_the_page_takes_an_election_from_nominating_to_the_new_committee(client, org):  # noqa: F811
    client.force_login(org["sec_b"])
    page = client.get("/work/elections/B/").content.decode()
    assert "发起换届" in page and "酝酿" in page and "报批" in page
    assert "/work/elections/B/" in client.get("/units/B/").content.decode()
    _post(client, {"step": "open"})
    full = org["full"]
    body = _post(client, {"step": "nominate", "seats": "3", "candidates": [m.pk for m in full[:3]]})
    assert "候选人至少 4 人" in body
    _post(client, {"step": "nominate", "seats": "3", "candidates": [m.pk for m in full[:4]]})
    body = _post(client, {"step": "request", "decision": ""})
    assert "须有上级党组织同意的批复" in body
    req = _decision(org, "election_request", "党委〔2026〕1号")
    _post(client, {"step": "request", "decision": req.pk})
    votes = {f"votes_{m.pk}": v for m, v in zip(full[:4], (6, 5, 4, 2), strict=True)}
    body = _post(client, {"step": "hold", "held_on": TODAY.isoformat(), "present": [m.pk for m in full[:4]], **votes})
    assert "选举无效" in body
    body = _post(client, {"step": "hold", "held_on": TODAY.isoformat(), "present": [m.pk for m in full[:6]], **votes})
    assert "实到 6 人" in body and "当选" in body
    approval = _decision(org, "election_approval", "党委〔2026〕8号")
    filing = _decision(org, "committee_filing", "党委〔2026〕9号")
    body = _post(client, {"step": "report", "secretary": full[2].pk, "deputy": full[1].pk, f"title_{full[0].pk}": "organization",
                          "approval": approval.pk, "filing": filing.pk, "term_start": TODAY.isoformat(),
                          "committee_present": [m.pk for m in full[:3]], "secretary_votes": "3", "deputy_votes": "2"})
    assert Election.objects.get().state == ElectionState.COMPLETED
    assert "党委〔2026〕8号" in body and "新一届任期自" in body
    assert Position.objects.get(unit=org["b"], title="secretary", end__isnull=True).member == full[2]


def test_a_member_sees_the_page_but_cannot_act(client, org):  # noqa: F811
    from qms import services as core
    from tests import factories

    u = factories.user("plain")
    core.member_update(org["full"][5], actor=None, reason="账号", user=u)
    client.force_login(u)
    page = client.get("/work/elections/B/").content.decode()
    assert "发起换届" not in page
    r = client.post("/work/elections/B/", {"step": "open"})
    assert r.status_code == 403 and Election.objects.count() == 0
