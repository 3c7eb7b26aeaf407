"""组织设置请示 pages: a request made on the form, its 上级批复 recorded on the organisation's page
(by the organisation itself, the new unit's 上级党组织), answered and carried out; the split form's
member allocation; refusals beside the form in Chinese; no English on any page."""
from __future__ import annotations

import pytest
from django.utils import timezone

from qms.models import HigherDecision, Membership, Unit
from tests.test_org_change import org  # noqa: F401  (the fixture)
from workflows.models import OrgChange, OrgChangeState

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


def _clean(body: str, what: str) -> str:
    from tests.test_crawl import foreign_words

    assert foreign_words(body) == set(), what
    return body


def test_a_branch_is_requested_approved_and_set_up_from_the_pages(client, org):  # noqa: F811
    client.force_login(org["sec_c"])
    assert "/work/orgchanges/unit/C/" in client.get("/units/C/").content.decode()
    listing = _clean(client.get("/work/orgchanges/unit/C/").content.decode(), "list")
    assert "请示成立党组织" in listing and "暂无组织设置请示" in listing
    form = _clean(client.get("/work/orgchanges/unit/C/new/?kind=setup").content.decode(), "form")
    assert "拟成立的组织" in form
    r = client.post("/work/orgchanges/unit/C/new/?kind=setup", {"reason": "新设处室", "code_0": "B1", "name_0": "重名",
                                                                "kind_0": "branch"})
    assert "组织编码 B1 已存在" in _clean(r.content.decode(), "refused") and OrgChange.objects.count() == 0
    r = client.post("/work/orgchanges/unit/C/new/?kind=setup", {"reason": "新设处室", "code_0": "B3", "name_0": "第三党支部",
                                                                "kind_0": "branch"}, follow=True)
    change = OrgChange.objects.get()
    page = _clean(r.content.decode(), "requested")
    assert "已请示,待上级批复" in page and "第三党支部" in page
    # the 总支 records its own decision on a unit to be set up beneath it
    r = client.post("/units/C/decisions/new/", {"kind": "org_setup", "doc_number": "机关总支〔2026〕3号", "date": TODAY.isoformat(),
                                                "decided_by_unit": org["c"].pk, "outcome": "approved"})
    assert r.status_code == 302, r.content.decode()[:2000]
    d = HigherDecision.objects.get(kind="org_setup")
    body = _clean(client.post(f"/work/orgchanges/{change.pk}/", {"step": "answer", "decision": d.pk}, follow=True)
                  .content.decode(), "answered")
    assert "已批准,待实施" in body and "按批复实施" in body
    body = _clean(client.post(f"/work/orgchanges/{change.pk}/", {"step": "carry_out", "effective_on": TODAY.isoformat()},
                              follow=True).content.decode(), "done")
    assert "已实施" in body
    b3 = Unit.objects.get(code="B3")
    assert "机关总支〔2026〕3号" in _clean(client.get("/units/B3/").content.decode(), "unit")
    assert b3.founded_on == TODAY


def test_the_split_form_sends_each_member_to_a_new_branch(client, org):  # noqa: F811
    client.force_login(org["sec_c"])
    form = _clean(client.get("/work/orgchanges/unit/C/new/?kind=split&source=B1").content.decode(), "split form")
    assert "党员去向" in form and "一支部党员3" in form
    data = {"reason": "拆分", "source_code": "B1", "code_0": "B1A", "name_0": "甲支部", "kind_0": "branch",
            "code_1": "B1B", "name_1": "乙支部", "kind_1": "branch"}
    data |= {f"to_{m.pk}": ("0" if i < 2 else "1") for i, m in enumerate(org["m1"])}  # the 1st / 2nd new branch
    client.post("/work/orgchanges/unit/C/new/?kind=split", data)
    change = OrgChange.objects.get()
    assert change.state == OrgChangeState.REQUESTED and len(change.allocation) == 4
    from tests.test_org_change import _decision

    change_page = client.post(f"/work/orgchanges/{change.pk}/", {"step": "answer", "decision": _decision(org, "org_split").pk},
                              follow=True).content.decode()
    assert "已批准" in change_page
    client.post(f"/work/orgchanges/{change.pk}/", {"step": "carry_out", "effective_on": TODAY.isoformat()})
    assert Membership.objects.filter(unit__code="B1B", end__isnull=True).count() == 2


def test_a_member_of_the_branch_cannot_request(client, org):  # noqa: F811
    client.force_login(org["sec_b1"])
    assert client.get("/work/orgchanges/unit/C/new/").status_code == 404  # the 总支 is outside the branch's scope
    body = client.get("/work/orgchanges/unit/B1/").content.decode()
    assert "请示成立党组织" in body  # its own branch: a 党小组 may be requested beneath it


def test_a_nul_byte_in_the_form_or_the_address_gets_the_400_page(client, org):  # noqa: F811
    client.force_login(org["sec_c"])
    assert client.get("/work/orgchanges/unit/C/new/?kind=split&source=%00").status_code == 400
    r = client.post("/work/orgchanges/unit/C/new/?kind=setup", {"reason": "新设\x00", "code_0": "B3", "name_0": "第三党支部",
                                                                "kind_0": "branch"})
    assert r.status_code == 400 and OrgChange.objects.count() == 0
    r = client.post("/work/orgchanges/unit/C/new/?kind=setup", {"reason": "第一行\n第二行", "code_0": "B3", "name_0": "第三党支部",
                                                                "kind_0": "branch"})
    assert r.status_code == 302 and OrgChange.objects.count() == 1  # line breaks are text
