"""方针目标与考核 pages: objectives (党建目标) with their status, the scoring scheme and ranking
(考核排名), and the annual statistics form (Excel, PDF). Thin views over
``audits.performance``; refusals come back in Chinese."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render

from audits.performance import annual, indicators, scoring
from audits.performance.models import Comparator, Objective, ScoringItem, ScoringScheme
from qms.models import Unit, UnitKind
from qms.pages import asked_year, scope_root, show_refusal
from qms.params import choice_param
from qms.rules import rules_for
from qms.scoping import can_manage, is_admin, restrict

# ------------------------------------------------------------------------------ objectives


@login_required
def objectives(request):
    root, year = scope_root(request), asked_year(request)
    may = is_admin(request.user) or can_manage(request.user, root)
    if request.method == "POST":
        if not may:
            raise PermissionDenied("只有体系管理员或党组织负责人可以设定目标")
        p = request.POST
        try:
            if p.get("action") == "seed":
                scoring.objectives_seed(root, year, actor=request.user)
                messages.success(request, f"已按默认目标建立 {year} 年党建目标")
            elif p.get("action") == "amend":
                o = Objective.objects.get(pk=p.get("objective") or 0, root=root)
                scoring.objective_set(o, actor=request.user, target=Decimal(p.get("target", "")), comparator=p.get("comparator", ""),
                                      reason=p.get("reason", ""))
                messages.success(request, "目标已修改(留痕)")
            elif p.get("action") == "add_count":
                o = scoring.objective_add_count(root, year, actor=request.user, item=p.get("item", ""), comparator=p.get("comparator", ""),
                                                count=Decimal(p.get("count", "")), source=p.get("source", ""))
                messages.success(request, f"已设定目标:{o.title}")
        except (InvalidOperation, Objective.DoesNotExist):
            messages.error(request, "请填写有效的目标值")
        except ValidationError as exc:
            show_refusal(request, exc)
        return redirect(f"{request.path}?year={year}")
    rows = scoring.objectives_status(root, year)
    return render(request, "audits/objectives.html", {"rows": rows, "root": root, "year": year, "may": may,
                                                       "comparators": Comparator.choices,
                                                       "countable": scoring.countable_items().items()})


# --------------------------------------------------------------------------------- scoring


@login_required
def scoring_page(request):
    root, year = scope_root(request), asked_year(request)
    may = is_admin(request.user) or can_manage(request.user, root)
    scheme = ScoringScheme.objects.filter(root=root, year=year).first()
    rounds = scoring.scheme_rounds(scheme)
    period = choice_param(request, "period", rounds, default=scoring.YEAR_ROUND, label="考核轮次", data=(request.POST, request.GET))
    if request.method == "POST":
        if not may:
            raise PermissionDenied("只有体系管理员或党组织负责人可以评分")
        p, u = request.POST, request.user
        try:
            action = p.get("action")
            if action == "seed":
                scoring.scheme_seed(root, year, actor=u)
                messages.success(request, f"已按默认方案建立 {year} 年考核方案")
            elif scheme is None:
                raise ValidationError("请先建立考核方案")
            elif action == "score":
                item = ScoringItem.objects.get(pk=p.get("item") or 0, scheme=scheme)
                unit = restrict(u, Unit.objects.all()).filter(pk=int(p.get("unit") or 0)).first()  # an id outside one's scope is never named
                if unit is None:
                    raise ValidationError("该组织不是本方案的被考核组织")
                scoring.score_enter(item, unit, period, actor=u, value=Decimal(p.get("value", "")), note=p.get("note", ""))
                messages.success(request, f"已评分:{unit.name} · {item.title}")
            elif action == "item_add":
                scoring.item_add(scheme, actor=u, title=p.get("title", ""), points=Decimal(p.get("points", "")),
                                 indicator=p.get("indicator", ""))
            elif action == "item_update":
                item = ScoringItem.objects.get(pk=p.get("item") or 0, scheme=scheme)
                scoring.item_update(item, actor=u, title=p.get("title", ""), points=Decimal(p.get("points", "")),
                                    indicator=p.get("indicator", ""), reason=p.get("reason", ""))
            elif action == "item_remove":
                item = ScoringItem.objects.get(pk=p.get("item") or 0, scheme=scheme)
                scoring.item_remove(item, actor=u, reason=p.get("reason", ""))
            elif action == "rounds":
                scoring.scheme_rounds_set(scheme, actor=u, rounds=_rounds_posted(p), source=p.get("source", ""),
                                          reason=p.get("reason", ""))
                messages.success(request, "考核轮次已修改(留痕)")
            elif action == "kinds":
                scoring.scheme_kinds_set(scheme, actor=u, kinds=p.getlist("kinds"), source=p.get("source", ""),
                                         reason=p.get("reason", ""))
                messages.success(request, "被考核组织已修改(留痕)")
        except (InvalidOperation, ValueError, ScoringItem.DoesNotExist):
            messages.error(request, "输入有误:请填写有效的分值")
        except ValidationError as exc:
            show_refusal(request, exc)
        scheme = ScoringScheme.objects.filter(root=root, year=year).first()
        if period not in scoring.scheme_rounds(scheme):  # the round itself was just changed
            period = scoring.YEAR_ROUND
        return redirect(f"{request.path}?year={year}&period={period}")
    items, rows = scoring.ranking(scheme, period) if scheme else ([], [])
    nothing_due = rules_for(root)["scoring_nothing_due_percent"]
    defaults = indicators.rules()["scheme"]
    return render(request, "audits/scoring.html", {
        "scheme": scheme, "items": items, "rows": rows, "root": root, "year": year, "period": period, "may": may,
        "rounds": rounds.items(), "period_name": rounds[period], "indicator_names": indicators.names(),
        "manual_items": [i for i in items if not i.indicator], "nothing_due": nothing_due,
        "default_title": defaults["title"],
        "round_rows": [*(scheme.rounds if scheme else []), *({} for _ in range(EXTRA_ROUND_ROWS))],
        "kinds": [(k, label, k in (scheme.scored_kinds if scheme else defaults["scored_kinds"])) for k, label in UnitKind.choices],
        "scored_kind_names": "、".join(str(label) for k, label in UnitKind.choices if scheme and k in scheme.scored_kinds),
    })


#: empty lines under a scheme's rounds on the page, for adding rounds
EXTRA_ROUND_ROWS = 3


def _rounds_posted(p) -> list[tuple[str, int, int]]:
    """The rounds form: lines ``round_name``/``round_from``/``round_to``; a line without a name
    and months is left out (that is how a round is removed)."""
    names, firsts, lasts = p.getlist("round_name"), p.getlist("round_from"), p.getlist("round_to")
    out = []
    for name, first, last in zip(names, firsts, lasts, strict=False):
        if not (name.strip() or first.strip() or last.strip()):
            continue
        try:
            out.append((name, int(first), int(last)))
        except ValueError:
            raise ValidationError(f"{name.strip() or '轮次'}:请填写起止月份(1–12)") from None
    return out


# ------------------------------------------------------------------------ annual statistics


@login_required
def annual_page(request):
    root, year = scope_root(request), asked_year(request)
    may = is_admin(request.user) or can_manage(request.user, root)
    if request.method == "POST":
        if not may:
            raise PermissionDenied("只有体系管理员或党组织负责人可以填报")
        try:
            if "key" in request.POST:  # one item
                annual.enter(root, year, request.POST.get("key", ""), actor=request.user, value=request.POST.get("value", ""),
                             note=request.POST.get("note", ""))
                messages.success(request, "已填报(留痕)")
            else:  # the whole form: every box whose number is new or changed
                values = {k[2:]: v for k, v in request.POST.items() if k.startswith("v_")}
                done = annual.enter_many(root, year, values, actor=request.user, note=request.POST.get("note", ""))
                messages.success(request, f"已填报 {len(done)} 项(留痕):{'、'.join(done)}" if done else "没有新填或改动的数字")
        except ValidationError as exc:
            show_refusal(request, exc)
        return redirect(f"{request.path}?year={year}")
    return render(request, "audits/annual.html", {"rows": annual.rows(root, year), "root": root, "year": year, "may": may,
                                                   "source": annual.form()["source"]})


@login_required
def annual_xlsx(request):
    root, year = scope_root(request), asked_year(request)
    resp = HttpResponse(annual.xlsx(root, year), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    resp["Content-Disposition"] = f'attachment; filename="annual-{root.code}-{year}.xlsx"'
    return resp


@login_required
def annual_pdf(request):
    root, year = scope_root(request), asked_year(request)
    resp = HttpResponse(annual.pdf(root, year), content_type="application/pdf")
    resp["Content-Disposition"] = f'inline; filename="annual-{root.code}-{year}.pdf"'
    return resp


# ------------------------------------------------------------------- 考核等次与结果运用


@login_required
def grades_page(request, year: int):
    """年度考核等次: the fixed results by kind (score, rank, grade, 负责人), 问责 flags, the 评先评优
    list, appeals, the individual appraisals and, where 党建 is weighed in, the overall score."""
    from audits.performance import grades
    from audits.performance.models import Appeal, Appraisal, AssessmentResult
    from qms import permissions
    from qms.models import Member

    # the scheme of the requester's organisation, or of the nearest one above that assesses it
    scope = scope_root(request)
    scheme = (ScoringScheme.objects.filter(root__in=scope.ancestors(), year=year).select_related("root")
              .order_by("-root__depth").first())
    root = scheme.root if scheme else scope
    may = scheme is not None and permissions.allowed(request.user, "assessment.fix", root)
    if request.method == "POST":
        p, u = request.POST, request.user
        try:
            if scheme is None:
                raise ValidationError("本年度还没有考核方案")
            action = p.get("action")
            if action == "fix":
                done = grades.results_fix(scheme, actor=u)
                messages.success(request, f"已评定 {len(done)} 个组织的考核等次")
            elif action == "appeal":
                res = restrict(u, AssessmentResult.objects.filter(scheme=scheme)).filter(pk=int(p.get("result") or 0)).first()
                if res is None:
                    raise ValidationError("请选择本组织的考核结果")
                grades.appeal_submit(res, actor=u, reason=p.get("reason", ""))
                messages.success(request, "申诉已提出,待考核组织处理")
            elif action == "decide":
                appeal = Appeal.objects.get(pk=int(p.get("appeal") or 0), result__scheme=scheme)
                upheld = p.get("upheld") == "1"
                score = Decimal(p["score"]) if upheld and p.get("score") else None
                grades.appeal_decide(appeal, actor=u, upheld=upheld, decision=p.get("decision", ""), score=score)
                messages.success(request, "申诉已处理")
            elif action == "appraisal":
                member = restrict(u, Member.objects.all()).filter(pk=int(p.get("member") or 0)).first()
                if member is None:
                    raise ValidationError("请选择人员")
                grades.appraisal_record(root, year, member, actor=u, grade=p.get("grade", ""), note=p.get("note", ""))
                messages.success(request, f"已登记 {member.name} 的年度考核等次")
            elif action == "business":
                res = AssessmentResult.objects.get(pk=int(p.get("result") or 0), scheme=scheme)
                grades.business_score_set(res, actor=u, value=Decimal(p.get("value", "")))
                messages.success(request, f"已登记 {res.unit.name} 的业务工作得分")
        except (InvalidOperation, ValueError, Appeal.DoesNotExist, AssessmentResult.DoesNotExist):
            messages.error(request, "输入有误:请填写有效的数字并从列表中选择")
        except ValidationError as exc:
            show_refusal(request, exc)
        return redirect(request.path)
    results = list(restrict(request.user, AssessmentResult.objects.filter(scheme=scheme)).select_related("unit")) if scheme else []
    barred = grades.heads_barred(scheme) if scheme else {}
    heads = {unit.pk: Member.objects.get(pk=mid).name for mid, (unit, _r) in barred.items()}
    labels = grades.unit_grades()
    kinds = dict(UnitKind.choices)
    rows = [{"r": r, "grade": labels.get(r.grade, r.grade), "kind": kinds.get(r.unit.kind, ""),
             "head": heads.get(r.unit_id, ""), "overall": grades.overall(r),
             "mine": permissions.allowed(request.user, "assessment.appeal", r.unit,
                                         duties=grades.own_unit_duty(request.user, r.unit))} for r in results]
    rules = rules_for(root)
    return render(request, "audits/grades.html", {
        "root": root, "year": year, "scheme": scheme, "may": may, "rows": rows,
        "flags": grades.accountability(scheme) if scheme else [], "honours": grades.honours(scheme) if scheme else [],
        "appeals": restrict(request.user, Appeal.objects.filter(result__scheme=scheme)).select_related("result__unit") if scheme else [],
        "appraisals": [{"a": a, "grade": grades.appraisal_grades().get(a.grade, a.grade)}
                       for a in Appraisal.objects.filter(root=root, year=year).select_related("member")] if may else [],
        "appraisal_grades": grades.appraisal_grades().items(),
        "people": restrict(request.user, Member.objects.filter(positions__unit__path__startswith=root.path)).distinct()
                  .order_by("name")[:300] if may else [],
        "bands": [(labels["excellent"], rules["grade_excellent_min"].value), (labels["good"], rules["grade_good_min"].value),
                  (labels["fair"], rules["grade_fair_min"].value)],
        "weight": rules["party_building_weight_percent"].value, "rest": 100 - rules["party_building_weight_percent"].value,
        "heads_source": grades.grade_data()["use"]["heads_source"],
    })
