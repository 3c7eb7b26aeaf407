"""体系策划 pages: context and interested parties, the risk register, competence (training records
and the matrix), satisfaction surveys. Thin views over ``audits.system.services``; the acts refuse
who may not (the permission matrix), the pages only hide the forms."""
from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone

from audits.system import charts
from audits.system import services as system
from audits.system.models import (
    ContextIssue,
    InterestedParty,
    IssueKind,
    Population,
    QuestionKind,
    Risk,
    RiskKind,
    Survey,
    TrainingRecord,
)
from procedures.models import Document
from qms import uploads
from qms.models import Member, Unit
from qms.pages import scope_root, show_refusal
from qms.rules import rule_value, rules_for
from qms.scoping import can_manage, is_admin, restrict


def _may(request, root: Unit) -> bool:
    return is_admin(request.user) or can_manage(request.user, root)


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value or "")
    except ValueError:
        return None


def _member(request, root: Unit) -> Member | None:
    pk = request.POST.get("member") or request.POST.get("owner") or ""
    if not pk.isdigit():
        return None
    return Member.objects.filter(pk=pk, memberships__end__isnull=True, memberships__unit__path__startswith=root.path).first()


def _members(root: Unit):
    return Member.objects.filter(memberships__end__isnull=True, memberships__unit__path__startswith=root.path).order_by("name", "pk")


@login_required
def system_home(request):
    root = scope_root(request)
    ctx = system.context_of(root)
    risks = system.risks_of(root)
    matrix = system.competence_matrix(root)
    missing = sum(1 for r in matrix["rows"] for c in r["cells"] if c and c["state"] != "met")
    surveys = Survey.objects.filter(root=root).count()
    latest = Survey.objects.filter(root=root).order_by("-end", "-pk").first()
    return render(request, "audits/system/home.html", {
        "root": root, "ctx": ctx, "open_risks": sum(1 for r in risks if r.is_open),
        "high": sum(1 for r in risks if r.is_open and r.level == "高"), "people": len(matrix["rows"]), "missing": missing,
        "surveys": surveys, "latest": latest, "latest_result": system.survey_results(latest) if latest else None})


@login_required
def context_page(request):
    root = scope_root(request)
    if request.method == "POST":
        p, u = request.POST, request.user
        try:
            action = p.get("action")
            if action == "seed":
                made = system.parties_seed(actor=u, root=root)
                messages.success(request, f"已建立默认相关方 {len(made)} 个")
            elif action == "party":
                x = system.party_add(actor=u, root=root, name=p.get("name", ""), needs=p.get("needs", ""),
                                     monitoring=p.get("monitoring", ""))
                messages.success(request, f"已添加相关方“{x.name}”")
            elif action == "issue":
                system.issue_add(actor=u, root=root, kind=p.get("kind", ""), text=p.get("text", ""), effect=p.get("effect", ""),
                                 monitoring=p.get("monitoring", ""))
                messages.success(request, "已登记环境因素")
            elif action in ("amend_party", "amend_issue"):
                model = InterestedParty if action == "amend_party" else ContextIssue
                item = model.objects.filter(pk=p.get("item") or 0, root=root).first() if (p.get("item") or "").isdigit() else None
                if item is None:
                    raise ValidationError("该项不存在")
                fields = system.PARTY_FIELDS if model is InterestedParty else system.ISSUE_FIELDS
                changes = {k: p[k] for k in fields if k in p and k != "active"}
                if p.get("retire"):
                    changes["active"] = False
                system.context_amend(item, actor=u, reason=p.get("reason", ""), **changes)
                messages.success(request, "已修改并留痕" if not p.get("retire") else "已停用并留痕")
            else:
                raise PermissionDenied("无此操作")
        except ValidationError as exc:
            show_refusal(request, exc)
        return redirect("system_context")
    return render(request, "audits/system/context.html", {"root": root, "ctx": system.context_of(root), "may": _may(request, root),
                                                          "kinds": IssueKind.choices})


@login_required
def risk_page(request):
    root = scope_root(request)
    if request.method == "POST":
        p, u = request.POST, request.user
        try:
            action = p.get("action")
            risk = None
            if action != "add":
                risk = Risk.objects.filter(pk=p.get("risk") or 0, root=root).first() if (p.get("risk") or "").isdigit() else None
                if risk is None:
                    raise ValidationError("该项不存在")
            if action == "add":
                r = system.risk_add(actor=u, root=root, kind=p.get("kind", ""), title=p.get("title", ""), process=p.get("process", ""),
                                    likelihood=p.get("likelihood"), impact=p.get("impact"), action=p.get("measure", ""),
                                    owner=_member(request, root), due_date=_date(p.get("due_date")))
                messages.success(request, f"已登记(可能性 {r.likelihood} × 影响 {r.impact} = {r.score},{system.risk_level(root, r.score)})")
            elif action == "amend":
                system.risk_amend(risk, actor=u, reason=p.get("reason", ""), likelihood=p.get("likelihood") or None,
                                  impact=p.get("impact") or None)
                messages.success(request, "已重新评估并留痕")
            elif action == "ticket":
                unit = restrict(u, Unit.objects.all()).filter(pk=p.get("unit") or 0).first() if (p.get("unit") or "").isdigit() else None
                if unit is None:
                    raise ValidationError("请选择责任组织")
                r = system.risk_raise_ticket(risk, actor=u, unit=unit)
                messages.success(request, f"已立项改进措施单 {r.ticket.code}")
            elif action == "evaluate":
                if p.get("effective") not in ("1", "0"):
                    raise ValidationError("请选择措施是否有效")
                system.risk_evaluate(risk, actor=u, effective=p["effective"] == "1", note=p.get("note", ""))
                messages.success(request, "已记录有效性评价")
            else:
                raise PermissionDenied("无此操作")
        except ValidationError as exc:
            show_refusal(request, exc)
        return redirect("system_risks")
    may = _may(request, root)
    scales = system.risk_scales(root)
    return render(request, "audits/system/risks.html", {
        "root": root, "rows": system.risks_of(root), "may": may, "scales": scales, "kinds": RiskKind.choices,
        "likelihoods": range(1, scales["likelihood_max"] + 1), "impacts": range(1, scales["impact_max"] + 1),
        "members": _members(root) if may else [],
        "procedures": Document.objects.filter(versions__status="effective").distinct().order_by("code") if may else [],
        "units": Unit.objects.filter(path__startswith=root.path, is_active=True).order_by("path"),
        "rules": [rules_for(root)[f"risk_{k}"] for k in ("likelihood_max", "impact_max", "level_high", "level_medium")]})


@login_required
def competence_page(request):
    root = scope_root(request)
    if request.method == "POST":
        p = request.POST
        try:
            t = system.training_record(actor=request.user, unit=root, member=_member(request, root), course=p.get("course", ""),
                                       hours=p.get("hours"), taken_on=_date(p.get("taken_on")), requirement=p.get("requirement", ""),
                                       upload=uploads.take(request, "certificate", kinds="evidence"))
            messages.success(request, f"已登记{t.member.name}的培训记录")
        except ValidationError as exc:
            show_refusal(request, exc)
        return redirect("system_competence")
    may = _may(request, root)
    matrix = system.competence_matrix(root)
    records = restrict(request.user, TrainingRecord.objects.filter(unit__path__startswith=root.path)).select_related("member")[:50]
    titles = {r["key"]: f"{r['role']}{r['title']}" for r in matrix["requirements"]}
    for t in records:
        t.requirement_title = titles.get(t.requirement, "其他培训")
    return render(request, "audits/system/competence.html", {
        "root": root, "matrix": matrix, "records": records, "may": may, "members": _members(root) if may else [],
        "expiring": rule_value(root, "competence_expiring_days")})


@login_required
def survey_list(request):
    root = scope_root(request)
    if request.method == "POST":
        p = request.POST
        questions = []
        for n in range(1, 9):
            text = p.get(f"q{n}", "").strip()
            if text:
                kind = p.get(f"k{n}", QuestionKind.SCALE)
                questions.append({"text": text, "kind": kind,
                                  "choices": [c for c in p.get(f"c{n}", "").replace(",", "、").replace("\uff0c", "、").split("、")]})
        try:
            s = system.survey_create(actor=request.user, root=root, title=p.get("title", ""), population=p.get("population", ""),
                                     start=_date(p.get("start")), end=_date(p.get("end")), questions=questions)
            messages.success(request, f"已策划“{s.title}”,下一步录入答卷")
            return redirect("system_survey", pk=s.pk)
        except ValidationError as exc:
            show_refusal(request, exc)
        return redirect("system_surveys")
    surveys = list(restrict(request.user, Survey.objects.filter(root__path__startswith=root.path)).select_related("root"))
    for s in surveys:
        s.result = system.survey_results(s)
    return render(request, "audits/system/surveys.html", {
        "root": root, "surveys": surveys, "may": _may(request, root), "populations": Population.choices,
        "kinds": QuestionKind.choices, "slots": range(1, 7), "scale_max": rule_value(root, "satisfaction_scale_max")})


@login_required
def survey_detail(request, pk: int):
    s = restrict(request.user, Survey.objects.all()).select_related("root").filter(pk=pk).first()
    if s is None:
        raise PermissionDenied("无权查看该满意度调查")
    questions = list(s.questions.all())
    if request.method == "POST":
        p = request.POST
        try:
            if p.get("action") == "answer":
                system.survey_answer(s, actor=request.user, answers={q.pk: p.get(f"a{q.pk}", "") for q in questions})
                messages.success(request, "已录入一份答卷")
            elif p.get("action") == "tally":
                counts = {q.pk: {o: p.get(f"n{q.pk}_{o}", "").strip() for o in q.options()} for q in questions}
                system.survey_tally(s, actor=request.user, respondents=p.get("respondents"), counts=counts)
                messages.success(request, f"已录入 {p.get('respondents')} 份纸质问卷的汇总")
            else:
                raise PermissionDenied("无此操作")
        except ValidationError as exc:
            show_refusal(request, exc)
        return redirect("system_survey", pk=s.pk)
    result = system.survey_results(s)
    rows = [(f"{q['order']}. {q['text']}", q["satisfied"]) for q in result["questions"] if q["kind"] == QuestionKind.SCALE]
    chart = charts.bars(rows, title="各题满意率") if rows else ""
    choice_charts = [charts.bars([(o, share) for o, share in q["shares"].items()], title=f"{q['order']}. {q['text']}")
                     for q in result["questions"] if q["kind"] == QuestionKind.CHOICE]
    return render(request, "audits/system/survey.html", {
        "s": s, "questions": questions, "result": result, "chart": chart, "choice_charts": choice_charts,
        "may": _may(request, s.root), "open": s.start <= timezone.localdate() <= s.end})


@login_required
def training_certificate(request, pk: int):
    """The certificate file of a training record the person may see."""
    from django.http import Http404

    t = restrict(request.user, TrainingRecord.objects.all()).filter(pk=pk).exclude(certificate="").first()
    if t is None:
        raise Http404("没有该证书")
    return uploads.serve(t.certificate, name=t.certificate_name)
