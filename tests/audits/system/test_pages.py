"""体系策划 pages: each capability through its page, refusals shown in Chinese with nothing saved,
read-only for a 党员, the survey chart, no English words."""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audits.models import InterestedParty, Risk, Survey, SurveyEntry, TrainingRecord
from audits.system import services as system
from qms import ledger
from qms.models import Member
from tests.test_crawl import foreign_words
from tests.test_permissions import build_org

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


@pytest.fixture
def org(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return build_org()


def _scope(client, unit):
    s = client.session
    s["qms_scope_unit"] = unit.pk
    s.save()


def _page(client, url) -> str:
    r = client.get(url)
    assert r.status_code == 200, url
    body = r.content.decode()
    assert foreign_words(body) == set(), (url, foreign_words(body))
    return body


def test_context_and_risk_pages(org, client):
    client.force_login(org["admin"])
    _scope(client, org["c"])
    assert "体系策划" in _page(client, "/audits/system/")
    client.post("/audits/system/context/", {"action": "seed"})
    body = _page(client, "/audits/system/context/")
    assert "上级党组织" in body and "职工群众" in body and "以党建工作对象为关注焦点" in body
    p = InterestedParty.objects.get(root=org["c"], name="党员")
    head = ledger.head()
    r = client.post("/audits/system/context/", {"action": "amend_party", "item": p.pk, "name": "党员", "needs": "新", "monitoring": "m",
                                                "reason": ""}, follow=True)
    assert "修改须说明原因" in r.content.decode() and ledger.head() == head
    client.post("/audits/system/context/", {"action": "issue", "kind": "external", "text": "上级考核加严", "effect": "",
                                            "monitoring": "文件通报"})
    assert "上级考核加严" in _page(client, "/audits/system/context/")

    owner = Member.objects.get(user=org["sec_b1"])
    r = client.post("/audits/system/risks/", {"action": "add", "kind": "risk", "title": "党员流动", "process": "党员管理",
                                              "likelihood": "9", "impact": "3", "measure": "建台账", "owner": owner.pk,
                                              "due_date": (TODAY + dt.timedelta(days=9)).isoformat()}, follow=True)
    assert "可能性应在 1 到 5 之间,不能是 9" in r.content.decode() and not Risk.objects.exists()
    client.post("/audits/system/risks/", {"action": "add", "kind": "risk", "title": "党员流动", "process": "党员管理",
                                          "likelihood": "4", "impact": "4", "measure": "建台账", "owner": owner.pk,
                                          "due_date": (TODAY + dt.timedelta(days=9)).isoformat()})
    risk = Risk.objects.get()
    client.post("/audits/system/risks/", {"action": "ticket", "risk": risk.pk, "unit": org["b1"].pk})
    risk.refresh_from_db()
    body = _page(client, "/audits/system/risks/")
    assert risk.ticket.code in body and "高" in body

    client.force_login(org["member"])  # reads, cannot change
    body = _page(client, "/audits/system/risks/")
    assert "登记风险或机遇" not in body and "党员流动" not in body  # their own branch's register, not the committee's
    r = client.post("/audits/system/risks/", {"action": "add", "kind": "risk", "title": "x", "process": "p", "likelihood": "1",
                                              "impact": "1", "measure": "m", "owner": owner.pk, "due_date": TODAY.isoformat()})
    assert r.status_code in (302, 403) and Risk.objects.count() == 1


def test_competence_page_with_a_certificate(org, client):
    client.force_login(org["admin"])
    _scope(client, org["c"])
    sec = Member.objects.get(user=org["sec_b2"])
    client.post("/audits/system/competence/", {"member": sec.pk, "requirement": "preservice", "course": "任前培训班", "hours": "8",
                                               "taken_on": TODAY.isoformat(),
                                               "certificate": SimpleUploadedFile("结业证书.pdf", b"%PDF-1.4 x")})
    t = TrainingRecord.objects.get()
    assert t.certificate_name == "结业证书.pdf"
    body = _page(client, "/audits/system/competence/")
    assert "任前培训班" in body and "已具备" in body and "缺少" in body and "内审员资格培训" in body
    r = client.get(f"/audits/system/competence/{t.pk}/certificate/")
    assert r.status_code == 200 and b"".join(r.streaming_content) == b"%PDF-1.4 x"
    client.force_login(org["sec_b1"])  # another branch's record: not found
    assert client.get(f"/audits/system/competence/{t.pk}/certificate/").status_code == 404


def test_survey_pages_with_the_chart(org, client):
    client.force_login(org["admin"])
    _scope(client, org["c"])
    r = client.post("/audits/system/surveys/", {"title": "群众满意度调查", "population": "masses", "start": TODAY.isoformat(),
                                                "end": (TODAY + dt.timedelta(days=3)).isoformat(), "q1": "作风", "k1": "scale",
                                                "q2": "总体", "k2": "choice", "c2": "满意，不满意"})
    s = Survey.objects.get()
    assert r["Location"] == f"/audits/system/surveys/{s.pk}/"
    q1, q2 = s.questions.all()
    assert q2.choices == ["满意", "不满意"]
    r = client.post(f"/audits/system/surveys/{s.pk}/", {"action": "answer", f"a{q1.pk}": "7", f"a{q2.pk}": "满意"}, follow=True)
    assert "1 到 5 之间,不能是 7" in r.content.decode() and not SurveyEntry.objects.exists()
    client.post(f"/audits/system/surveys/{s.pk}/", {"action": "answer", f"a{q1.pk}": "5", f"a{q2.pk}": "满意"})
    client.post(f"/audits/system/surveys/{s.pk}/", {"action": "tally", "respondents": "3", f"n{q1.pk}_4": "2", f"n{q1.pk}_2": "1",
                                                    f"n{q2.pk}_满意": "2"})
    assert system.survey_results(s)["respondents"] == 4
    body = _page(client, f"/audits/system/surveys/{s.pk}/")
    assert "<svg" in body and "各题满意率" in body and "75%" in body
    assert "群众满意度调查" in _page(client, "/audits/system/surveys/")
    assert "满意率 75%" in _page(client, "/audits/system/")
