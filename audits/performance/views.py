"""方针目标与考核 pages: objectives (党建目标) with their status, the scoring scheme and ranking
(考核排名), and the annual statistics form (Excel, PDF). Thin views over
``audits.performance``; refusals come back in Chinese."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from audits.performance import annual, indicators, scoring
from audits.performance.models import Comparator, Objective, ScoringItem, ScoringScheme
from qms.models import Unit, UnitKind
from qms.pages import asked_year, scope_root, show_refusal
from qms.params import choice_param, printable_post
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
            printable_post(request)
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


# ------------------------------------------------------------------ 目标管理(层层分解)


@login_required
def targets_home(request):
    """目标分解: the unit switcher's organisation, this year (or ``?year=``)."""
    from django.urls import reverse

    root = scope_root(request)
    return redirect(reverse("targets_tree", args=[root.code, asked_year(request)]))


def _owner_choices(unit: Unit) -> tuple[list[Unit], list]:
    """Who may take a target on the page of ``unit``: the units below it, and — on a 党支部's or a
    党小组's page — its members (a committee's page offers units only: its members are many)."""
    from qms.models import Membership

    units = list(Unit.objects.filter(path__startswith=unit.path, is_active=True).exclude(pk=unit.pk).order_by("path"))
    members = []
    if unit.kind in (UnitKind.BRANCH, UnitKind.JOINT_BRANCH, UnitKind.TEMP_BRANCH, UnitKind.GROUP):
        field = "group" if unit.kind == UnitKind.GROUP else "unit"
        members = [ms.member for ms in Membership.objects.filter(**{field: unit}, end__isnull=True,
                                                                  member__status="active").select_related("member")
                   .order_by("member__name", "member_id")]
    return units, members


@login_required
def targets_tree(request, code: str, year: int):
    """分解目标 of a 党组织 and everything below it for a year, with progress rolled up, the forms to
    cascade, report and tick off tasks (as the matrix allows), and the 任务时间控制表."""
    from django.http import Http404

    from audits.performance import targets as tsvc
    from audits.performance.models import Target, TargetTask
    from qms import permissions
    from qms.params import date_param, id_param, years
    from qms.scoping import get_visible_or_404

    unit = get_visible_or_404(request.user, Unit.objects.all(), code=code)
    lo, hi = years()
    if not lo <= year <= hi:
        raise Http404("没有该年度")
    user = request.user
    if request.method == "POST":
        p = request.POST
        visible = restrict(user, Target.objects.filter(unit__path__startswith=unit.path, year=year))
        try:
            action = p.get("action")
            if action == "add":
                parent_id = id_param(request, "parent", label="上级目标", data=p)
                parent = visible.filter(pk=parent_id).select_related("unit").first() if parent_id else None
                if parent_id and parent is None:
                    raise ValidationError("所选上级目标不存在")
                owner, member = (p.get("owner") or ""), None
                owner_unit = unit
                if owner.startswith("member:"):
                    from qms.models import Member

                    member = restrict(user, Member.objects.all()).filter(pk=int(owner[7:] or 0)).first() if owner[7:].isdigit() else None
                    if member is None:
                        raise ValidationError("所选党员不存在")
                elif owner.startswith("unit:"):
                    owner_unit = restrict(user, Unit.objects.all()).filter(code=owner[5:]).first()
                    if owner_unit is None:
                        raise ValidationError("所选组织不存在")
                due = date_param(request, "due_date", default=dt.date(year, 12, 31), label="完成期限", data=p)
                t = tsvc.target_add(actor=user, year=year, measure=parent.measure if parent else p.get("measure", ""),
                                    title=p.get("title", ""), value=p.get("value", ""), due_date=due,
                                    unit=None if member else owner_unit, parent=parent, member=member,
                                    source=p.get("source", ""))
                messages.success(request, f"已设定目标:{t.owner_name} · {t.title}")
            elif action == "amend":
                t = visible.filter(pk=id_param(request, "target", label="目标", data=p) or 0).select_related("unit", "parent__unit").first()
                if t is None:
                    raise ValidationError("所选目标不存在")
                tsvc.target_set(t, actor=user, value=p.get("value", ""), reason=p.get("reason", ""),
                                due_date=date_param(request, "due_date", default=t.due_date, label="完成期限", data=p))
                messages.success(request, f"目标已调整(留痕):{t.owner_name} · {t.title}")
            elif action == "report":
                t = visible.filter(pk=id_param(request, "target", label="目标", data=p) or 0).select_related("unit", "member").first()
                if t is None:
                    raise ValidationError("所选目标不存在")
                tsvc.target_report(t, actor=user, value=p.get("value", ""), note=p.get("note", ""))
                messages.success(request, f"已填报进度(留痕):{t.title}")
            elif action == "task_add":
                t = visible.filter(pk=id_param(request, "target", label="目标", data=p) or 0).select_related("unit").first()
                if t is None:
                    raise ValidationError("所选目标不存在")
                tsvc.task_add(t, actor=user, month=p.get("month", ""), text=p.get("text", ""))
                messages.success(request, "已安排重点工作")
            elif action == "task_done":
                task = (TargetTask.objects.filter(pk=id_param(request, "task", label="重点工作", data=p) or 0, target__in=visible)
                        .select_related("target", "target__unit", "target__member").first())
                if task is None:
                    raise ValidationError("所选重点工作不存在")
                tsvc.task_done(task, actor=user, done_on=date_param(request, "done_on", default=timezone.localdate(),
                                                                    label="完成日期", data=p))
                messages.success(request, f"已登记完成:{task.text}")
            else:
                raise ValidationError("请选择要办理的事项")
        except ValidationError as exc:
            show_refusal(request, exc)
        return redirect(request.path)
    today = timezone.localdate()
    roots = tsvc.tree(unit, year, today=today)
    rows = tsvc.flat(roots)
    member_user = {n.target.pk: (n.target.member.user_id if n.target.member_id else None) for n in rows}

    def may_report(n) -> bool:
        if n.children or n.how == "系统计算":
            return False
        duties = {"self"} if member_user[n.target.pk] == user.pk else set()
        return permissions.allowed(user, "targets.report", n.target.unit, duties=duties)

    may_manage = permissions.allowed(user, "targets.manage", unit)
    for n in rows:
        n.may_report = may_report(n)
        n.may_manage = permissions.allowed(user, "targets.manage", n.target.unit)
        n.may_amend = permissions.allowed(user, "targets.manage", n.target.parent.unit if n.target.parent_id else n.target.unit)
    # 任务时间控制表: one line per task, one column per month, grouped by owner
    grid = [{"owner": n.target.owner_name, "target": n.target.title, "task": c.task, "may": n.may_report,
             "cells": [c.mark if m == c.task.month else "" for m in range(1, 13)], "state": c.state}
            for n in rows for c in n.tasks]
    units, members = _owner_choices(unit) if may_manage else ([], [])
    return render(request, "audits/targets.html", {
        "unit": unit, "year": year, "rows": rows, "grid": grid, "months": range(1, 13), "may_manage": may_manage,
        "measures": tsvc.measures().items(), "owner_units": units, "owner_members": members,
        "parents": [n for n in rows if not n.target.member_id], "today": today,
        "may_task": any(n.may_manage for n in rows), "may_amend": any(n.may_amend for n in rows), "may_any_report": any(g["may"] and g["state"] != "done" for g in grid),
    })


# ------------------------------------------------------------------ 协作组 统一考核验收


@login_required
def coalition_scoring(request, pk: int):
    """统一考核验收 of a 协作组 (seed 003 一2): its 组长 scores the member units on the manual items
    of the committee's scheme for the year (the same scores as 考核排名; 回避 his or her own unit)."""
    from django.http import Http404

    from qms import permissions
    from workflows.models import Coalition, CoalitionKind

    c = Coalition.objects.filter(pk=pk, kind=CoalitionKind.COOPERATION, is_active=True).select_related("root").first()
    if c is None or not (c.leader_id and c.leader.user_id == request.user.pk
                         or permissions.allowed(request.user, "coalition.manage", c.root)):
        raise Http404("没有这个协作组")
    year = asked_year(request)
    scheme = ScoringScheme.objects.filter(root=c.root, year=year).first()
    rounds = scoring.scheme_rounds(scheme)
    period = choice_param(request, "period", rounds, default=scoring.YEAR_ROUND, label="考核轮次", data=(request.POST, request.GET))
    units = list(c.units.filter(kind__in=scheme.scored_kinds).order_by("path")) if scheme else []
    items = list(scheme.items.filter(indicator="").order_by("order", "pk")) if scheme else []
    if request.method == "POST":
        p = request.POST
        try:
            item = next((i for i in items if i.pk == int(p.get("item") or 0)), None)
            unit = next((u for u in units if u.pk == int(p.get("unit") or 0)), None)
            if item is None or unit is None:
                raise ValidationError("请选择本协作组的成员单位和考核项目")
            scoring.score_enter(item, unit, period, actor=request.user, value=Decimal(p.get("value", "")), note=p.get("note", ""))
            messages.success(request, f"已评分:{unit.name} · {item.title}")
        except (InvalidOperation, ValueError):
            messages.error(request, "请填写有效的得分")
        except ValidationError as exc:
            show_refusal(request, exc)
        return redirect(f"{request.path}?year={year}&period={period}")
    from audits.performance.models import Score

    scores = {(s.item_id, s.unit_id): s for s in Score.objects.filter(item__in=items, unit__in=units, period=period)}
    rows = [{"unit": u, "cells": [scores.get((i.pk, u.pk)) for i in items]} for u in units]
    return render(request, "audits/coalition_scoring.html", {
        "c": c, "year": year, "scheme": scheme, "items": items, "rows": rows, "period": period,
        "rounds": rounds.items(), "period_name": rounds.get(period, ""),
    })
