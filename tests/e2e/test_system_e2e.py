"""体系策划 in Chromium on the demo data: the 体系管理员 reads the overview, the context, the risk
register, the competence matrix and the survey with its chart — each page fitting a phone (390 px)
— and enters one anonymous answer sheet."""
from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from audits.models import Survey
from audits.system import demo, services
from qms.models import Unit
from tests.e2e.conftest import html, login, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_system_pages_on_a_phone(page, browser, live_server):
    call_command("demo", "--no-history", stdout=io.StringIO())
    root = Unit.objects.get(code="HX")
    demo.build(root, get_user_model().objects.get(username="admin"))
    survey = Survey.objects.get(root=root)
    login(page, "admin", "demo-admin-2026")
    page.set_viewport_size({"width": 390, "height": 900})
    for url, text in (("/audits/system/", "体系策划与支持"), ("/audits/system/context/", "上级党组织"),
                      ("/audits/system/risks/", "倒班支部"), ("/audits/system/competence/", "人员能力矩阵"),
                      ("/audits/system/surveys/", survey.title), (f"/audits/system/surveys/{survey.pk}/", "各题满意率")):
        page.goto(url)
        assert text in html(page), url
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, url
    shot(page, "e2e-system-survey")
    q = list(survey.questions.all())
    for question, value in zip(q, ("5", "4", "5", "满意"), strict=True):
        page.check(f"input[name=a{question.pk}][value='{value}']")
    page.click("text=录入答卷")
    assert "已录入一份答卷" in html(page)
    assert services.survey_results(survey)["respondents"] == 50
