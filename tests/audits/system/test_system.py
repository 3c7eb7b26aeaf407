"""体系策划与支持: context and interested parties (§4.1/§4.2), risks and opportunities (§6.1),
competence (§7.2), satisfaction (§9.1.2), and the management review's inputs from them."""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audits.capa import services as capa
from audits.models import InterestedParty, Nonconformity, Risk, Survey, SurveyEntry, TrainingRecord
from audits.review import services as review
from audits.system import services as system
from qms import ledger
from qms import services as core
from qms.models import LedgerEntry, Member, PolicyOverride, Role
from qms.permissions import NotPermitted
from tests import factories
from tests.test_permissions import build_org

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
D = dt.date


@pytest.fixture
def org(db):
    return build_org()


def _member(org, key="sec_b1") -> Member:
    return Member.objects.get(user=org[key])


# ------------------------------------------------------------------ context and parties


def test_default_parties_with_sources_and_an_amend_needs_its_reason(org):
    made = system.parties_seed(actor=org["admin"], root=org["c"])
    names = [p.name for p in made]
    assert names[:1] == ["上级党组织"] and "行政(同级经营管理层)" in names and "党员" in names and "职工群众" in names
    assert all(p.source and p.needs and p.monitoring for p in made)
    assert any("seed 004 篇8" in p.source for p in made)
    with pytest.raises(ValidationError, match="已有相关方清单"):
        system.parties_seed(actor=org["admin"], root=org["c"])
    own = system.party_add(actor=org["sec_c"], root=org["c"], name="离退休党员", needs="就近参加组织生活", monitoring="走访")
    assert own.source == "测试党委确定"

    p = made[2]
    head = ledger.head()
    with pytest.raises(ValidationError, match="修改须说明原因"):
        system.context_amend(p, actor=org["admin"], reason="  ", needs="新的期望")
    assert ledger.head() == head and InterestedParty.objects.get(pk=p.pk).needs == p.needs
    system.context_amend(p, actor=org["admin"], reason="党员座谈会意见", needs="更多线上学习")
    e = LedgerEntry.objects.filter(action="context.party_amend").latest("seq")
    assert e.reason == "党员座谈会意见" and e.before["needs"] == p.needs and e.after["needs"] == "更多线上学习"
    # a 党员 may read, never change
    with pytest.raises(NotPermitted):
        system.context_amend(p, actor=org["member"], reason="x", needs="y")


def test_issues_and_the_review_interval_is_a_rule(org):
    i = system.issue_add(actor=org["admin"], root=org["c"], kind="external", text="上级对基层党建考核加严",
                         effect="考核项目增加", monitoring="上级文件和通报")
    with pytest.raises(ValidationError, match="内部因素或外部因素"):
        system.issue_add(actor=org["admin"], root=org["c"], kind="x", text="t", effect="", monitoring="m")
    ctx = system.context_of(org["c"])
    assert [x.pk for x in ctx["external"]] == [i.pk] and ctx["due"] == 0
    later = TODAY + dt.timedelta(days=400)
    assert system.context_of(org["c"], today=later)["due"] == 1
    PolicyOverride.objects.create(unit=org["c"], key="context_review_months", value=24, source="党委决定两年一评")
    assert system.context_of(org["c"], today=later)["due"] == 0


# ------------------------------------------------------------------ risks and opportunities


def test_risk_level_from_the_scales_and_refusals(org):
    owner = _member(org)
    r = system.risk_add(actor=org["sec_c"], root=org["c"], kind="risk", title="倒班支部难以集中开会", process="三会一课",
                        likelihood=4, impact=4, action="按轮班表排定会期", owner=owner, due_date=TODAY + dt.timedelta(days=30))
    assert r.score == 16 and system.risk_level(org["c"], r.score) == "高" and not r.overdue
    assert Risk(due_date=TODAY - dt.timedelta(days=1)).overdue
    assert system.risk_level(org["c"], 8) == "中" and system.risk_level(org["c"], 7) == "低"
    head, n = ledger.head(), Risk.objects.count()
    for lk, im in ((6, 1), (0, 3), (3, 9)):
        with pytest.raises(ValidationError, match="之间"):
            system.risk_add(actor=org["sec_c"], root=org["c"], kind="risk", title="t", process="p", likelihood=lk, impact=im,
                            action="a", owner=owner, due_date=TODAY)
    with pytest.raises(ValidationError, match="原因"):
        system.risk_amend(r, actor=org["sec_c"], reason="", likelihood=2)
    assert (ledger.head(), Risk.objects.count()) == (head, n)
    # the scale is a rule: a committee with a 1–3 scale refuses 4
    PolicyOverride.objects.create(unit=org["c"], key="risk_likelihood_max", value=3, source="党委三级评估")
    with pytest.raises(ValidationError, match="1 到 3"):
        system.risk_amend(r, actor=org["sec_c"], reason="重新评估", likelihood=4)
    r = system.risk_amend(r, actor=org["sec_c"], reason="排班已调整", likelihood=2)
    assert (r.likelihood, r.impact) == (2, 4)
    assert LedgerEntry.objects.filter(action="risk.amend").latest("seq").reason == "排班已调整"


def test_a_risk_action_raised_as_a_ticket_and_its_effectiveness(org):
    owner = _member(org)
    r = system.risk_add(actor=org["admin"], root=org["c"], kind="opportunity", title="线上学习平台", process="党员教育",
                        likelihood=3, impact=3, action="建立线上学习积分", owner=owner, due_date=TODAY + dt.timedelta(days=30))
    r = system.risk_raise_ticket(r, actor=org["admin"], unit=org["b1"])
    nc = r.ticket
    assert (nc.source, nc.grade, nc.clause, nc.unit) == ("risk", "improvement", "6.1", org["b1"])
    assert nc.source_label == "风险应对" and "线上学习平台" in nc.evidence
    with pytest.raises(ValidationError, match="已立项"):
        system.risk_raise_ticket(r, actor=org["admin"], unit=org["b1"])
    with pytest.raises(ValidationError, match="尚未关闭"):
        system.risk_evaluate(r, actor=org["admin"], effective=True, note="好")
    capa.nc_acknowledge(nc, actor=org["sec_b1"])
    capa.nc_analyse(nc, actor=org["sec_b1"], why=["为何"], root_cause="缺平台")
    capa.nc_plan(nc, actor=org["sec_b1"], correction="试点", corrective_action="上线", owner=owner, due_date=TODAY + dt.timedelta(days=9))
    capa.nc_implement(nc, actor=org["sec_b1"], evidence="已上线", done_on=TODAY)
    capa.nc_verify(nc, actor=org["admin"], note="属实", password="pass-12345")
    capa.nc_close(nc, actor=org["admin"], password="pass-12345")
    r = system.risk_evaluate(r, actor=org["admin"], effective=True, note="参学率提高")
    assert r.effective is True and r.evaluated_on == TODAY
    with pytest.raises(ValidationError, match="不能再修改"):
        system.risk_amend(r, actor=org["admin"], reason="x", likelihood=1)


# ------------------------------------------------------------------ competence


def _auditor(org):
    m, u = factories.member(org["b2"], "钱内审"), factories.user("qian")
    core.member_update(m, actor=None, reason="账号", user=u)
    core.role_grant(actor=None, user=u, role=Role.INTERNAL_AUDITOR, unit=org["c"], valid_from=D(2020, 1, 1))
    return m


def test_training_records_and_the_matrix(org, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    aud = _auditor(org)
    sec = _member(org, "sec_b2")
    pdf = SimpleUploadedFile("证书.pdf", b"%PDF-1.4 certificate")
    t = system.training_record(actor=org["admin"], unit=org["b2"], member=aud, course="内审员培训班", hours=16,
                               taken_on=TODAY - dt.timedelta(days=30), requirement="auditor", upload=pdf)
    assert t.certificate_name == "证书.pdf" and len(t.certificate_sha256) == 64
    # 8 of 16 rotation hours, taken 11 months ago: missing; preservice met
    system.training_record(actor=org["sec_b2"], unit=org["b2"], member=sec, course="新任书记任前培训", hours=8,
                           taken_on=TODAY - dt.timedelta(days=700), requirement="preservice")
    system.training_record(actor=org["sec_b2"], unit=org["b2"], member=sec, course="书记轮训", hours=16,
                           taken_on=TODAY - dt.timedelta(days=340), requirement="rotation")
    m = system.competence_matrix(org["c"])
    keys = [r["key"] for r in m["requirements"]]
    row = {r["member"].pk: {k: (c or {}).get("state") for k, c in zip(keys, r["cells"], strict=True)} for r in m["rows"]}
    assert row[aud.pk] == {"preservice": None, "rotation": None, "auditor": "met"}
    assert row[sec.pk] == {"preservice": "met", "rotation": "expiring", "auditor": None}
    assert row[_member(org, "sec_b1").pk]["preservice"] == "missing"
    assert system.qualified_auditors(org["c"]) == {aud.pk: "met"}
    # refusals: nothing saved
    n = TrainingRecord.objects.count()
    with pytest.raises(ValidationError, match="不允许的文件类型"):
        system.training_record(actor=org["admin"], unit=org["b2"], member=aud, course="x", hours=2, taken_on=TODAY,
                               upload=SimpleUploadedFile("a.exe", b"MZ"))
    with pytest.raises(ValidationError, match="学时"):
        system.training_record(actor=org["admin"], unit=org["b2"], member=aud, course="x", hours=0, taken_on=TODAY)
    with pytest.raises(ValidationError, match="第二党支部的党员"):
        system.training_record(actor=org["admin"], unit=org["b2"], member=_member(org, "member"), course="x", hours=2, taken_on=TODAY)
    with pytest.raises(NotPermitted):
        system.training_record(actor=org["sec_b1"], unit=org["b2"], member=aud, course="x", hours=2, taken_on=TODAY)
    assert TrainingRecord.objects.count() == n


# ------------------------------------------------------------------ satisfaction


def _survey(org, start=None, end=None) -> Survey:
    return system.survey_create(actor=org["admin"], root=org["c"], title="党员满意度调查", population="members",
                                start=start or TODAY - dt.timedelta(days=5), end=end or TODAY + dt.timedelta(days=5),
                                questions=[{"text": "组织生活质量", "kind": "scale"}, {"text": "学习教育", "kind": "scale"},
                                           {"text": "总体评价", "kind": "choice", "choices": ["满意", "基本满意", "不满意"]}])


def test_a_survey_answers_and_results(org):
    s = _survey(org)
    q1, q2, q3 = s.questions.all()
    system.survey_answer(s, actor=org["admin"], answers={q1.pk: "5", q2.pk: "3", q3.pk: "满意"})
    system.survey_tally(s, actor=org["sec_c"], respondents=10,
                        counts={q1.pk: {"5": 4, "4": 4, "2": 2}, q2.pk: {"4": 5, "3": 5}, str(q3.pk): {"满意": 8, "不满意": 1}})
    r = system.survey_results(s)
    assert r["respondents"] == 11
    a, b, c = r["questions"]
    assert a["counts"] == {"1": 0, "2": 2, "3": 0, "4": 4, "5": 5} and a["mean"] == round(45 / 11, 2)
    assert a["satisfied"] == 9 / 11 and b["satisfied"] == 5 / 11 and b["mean"] == round((3 + 20 + 15) / 11, 2)
    assert c["counts"] == {"满意": 9, "基本满意": 0, "不满意": 1} and c["answers"] == 10 and "mean" not in c
    assert r["satisfied"] == 14 / 22


def test_survey_refusals_outside_the_scale_and_after_the_period(org):
    s = _survey(org)
    q1, q2, q3 = s.questions.all()
    head, n = ledger.head(), SurveyEntry.objects.count()
    with pytest.raises(ValidationError, match="1 到 5 之间,不能是 6"):
        system.survey_answer(s, actor=org["admin"], answers={q1.pk: "6", q2.pk: "3", q3.pk: "满意"})
    with pytest.raises(ValidationError, match="没有“很好”这个选项"):
        system.survey_tally(s, actor=org["admin"], respondents=3, counts={q3.pk: {"很好": 1}})
    with pytest.raises(ValidationError, match="超过答卷份数"):
        system.survey_tally(s, actor=org["admin"], respondents=3, counts={q1.pk: {"5": 4}})
    with pytest.raises(ValidationError, match="请回答第 2 题"):
        system.survey_answer(s, actor=org["admin"], answers={q1.pk: "4", q3.pk: "满意"})
    assert ledger.head() == head
    past = _survey(org, start=TODAY - dt.timedelta(days=30), end=TODAY - dt.timedelta(days=1))
    p1, p2, p3 = past.questions.all()
    with pytest.raises(ValidationError, match="已于 .* 结束,不能再录入答卷"):
        system.survey_answer(past, actor=org["admin"], answers={p1.pk: "4", p2.pk: "4", p3.pk: "满意"})
    with pytest.raises(ValidationError, match="结束日期不能早于开始日期"):
        _survey(org, start=TODAY, end=TODAY - dt.timedelta(days=1))
    with pytest.raises(NotPermitted):
        system.survey_answer(s, actor=org["member"], answers={q1.pk: "4", q2.pk: "4", q3.pk: "满意"})
    assert SurveyEntry.objects.count() == n


# ------------------------------------------------------------------ management review inputs


def test_the_review_inputs_carry_satisfaction_and_open_risks(org):
    s = _survey(org, start=D(TODAY.year, 1, 1) if TODAY.month > 1 else TODAY, end=TODAY + dt.timedelta(days=1))
    q1, q2, q3 = s.questions.all()
    system.survey_tally(s, actor=org["admin"], respondents=4, counts={q1.pk: {"5": 3, "2": 1}, q2.pk: {"4": 4}})
    owner = _member(org)
    hi = system.risk_add(actor=org["admin"], root=org["c"], kind="risk", title="党员流动性大", process="党员管理",
                         likelihood=5, impact=4, action="建立流动党员台账", owner=owner, due_date=TODAY + dt.timedelta(days=9))
    system.risk_raise_ticket(hi, actor=org["admin"], unit=org["b1"])
    system.risk_add(actor=org["admin"], root=org["c"], kind="opportunity", title="联建共建", process="组织生活",
                    likelihood=2, impact=2, action="与社区支部联建", owner=owner, due_date=TODAY + dt.timedelta(days=9))
    inp = review.review_inputs(org["c"], TODAY.year)
    [sat] = inp["satisfaction"]
    assert sat["title"] == "党员满意度调查" and sat["respondents"] == 4 and sat["satisfied"] == 7 / 8
    assert [q["mean"] for q in sat["questions"]] == [4.25, 4.0]
    assert [(k["title"], k["level"], k["score"]) for k in inp["risks"]] == [("党员流动性大", "高", 20), ("联建共建", "低", 4)]
    assert inp["risks"][0]["ticket"] == Nonconformity.objects.get(source="risk").code
    # the page shows them once gathered
    r = review.review_plan(actor=org["admin"], root=org["c"], year=TODAY.year, planned_on=TODAY, chair=org["sec_c"])
    review.review_gather(r, actor=org["admin"])
    from django.test import Client

    c = Client()
    c.force_login(org["admin"])
    body = c.get(f"/audits/reviews/{r.pk}/").content.decode()
    assert "党员和群众满意度" in body and "满意率 88%" in body and "党员流动性大" in body


# ------------------------------------------------------------------ demo


def test_the_demo_step(org):
    from audits.demo import system_step
    from audits.models import ContextIssue

    summary = system_step(org["c"], org["admin"])
    assert "相关方 4 个" in summary
    assert InterestedParty.objects.filter(root=org["c"]).count() == 4 and ContextIssue.objects.filter(root=org["c"]).count() == 2
    assert Risk.objects.filter(root=org["c"], ticket__isnull=False).count() == 1
    [s] = Survey.objects.filter(root=org["c"])
    assert system.survey_results(s)["respondents"] == 49
    inp = review.review_inputs(org["c"], TODAY.year) if s.end.year == TODAY.year else None
    if inp is not None:
        assert inp["satisfaction"][0]["respondents"] == 49 and len(inp["risks"]) == 3
