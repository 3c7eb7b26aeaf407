"""发展党员 pages: a branch's applicants by stage (days in stage, next step, its deadline,
overdue marked) with the form to register an application; one applicant's steps done and the
next actions, each with its form. Thin: the checks are in ``recruitment_services``."""
from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone

from qms import workdays
from qms.models import BRANCH_KINDS, Member, MemberCategory, Unit
from qms.params import text_param
from qms.permissions import allowed
from qms.scoping import get_visible_or_404
from workflows import recruitment_services as rs
from workflows.models import RECRUIT_ENDS, Applicant, RecruitStage
from workflows.recruitment import process
from workflows.services import roster_on


def _date(value: str | None, label: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value or "")
    except ValueError:
        raise ValidationError(f"请填写有效的{label}(年-月-日)") from None


def _unit(request) -> Unit:
    code = text_param(request, "unit", label="党组织", max_length=32) or (request.scope.unit_code if request.scope else "")
    return get_visible_or_404(request.user, Unit, code=code)


def _errors(exc: ValidationError) -> str:
    return ";".join(exc.messages)


def rows_for(unit: Unit, on: dt.date) -> list[dict]:
    """Every open applicant of the unit and the branches below it, with where they stand."""
    out = []
    qs = (Applicant.objects.filter(unit__path__startswith=unit.path).exclude(stage__in=RECRUIT_ENDS)
          .select_related("unit").order_by("applied_on", "pk"))
    stages = list(process().stages)
    for a in qs:
        t = rs.next_action(a, on)
        out.append({"applicant": a, "stage": a.stage, "stage_label": a.get_stage_display(), "stage_n": stages.index(a.stage) + 1,
                    "days_in_stage": rs.days_in_stage(a, on), "next": t.step if t else None,
                    "earliest": t.earliest if t else None, "deadline": t.deadline if t else None,
                    "overdue_days": t.overdue_days(on) if t else 0})
    return sorted(out, key=lambda r: (r["stage_n"], r["applicant"].applied_on))


def ended_for(unit: Unit) -> list[dict]:
    """The ends of the process in the unit and the branches below it — 已转为正式党员, and those of
    ``recruitment.toml`` [ends] (已取消预备党员资格, 不予接收) — each with its people, newest first."""
    ends = process().ends
    qs = (Applicant.objects.filter(unit__path__startswith=unit.path, stage__in=RECRUIT_ENDS)
          .select_related("unit").order_by("-stage_since", "-pk"))
    by_stage: dict[str, list[Applicant]] = {}
    for a in qs:
        by_stage.setdefault(a.stage, []).append(a)
    return [{"stage": key, "label": ends[key].label if key in ends else str(RecruitStage(key).label),
             "source": ends[key].source if key in ends else "", "applicants": by_stage.get(key, [])}
            for key in RECRUIT_ENDS]


@login_required
def recruitment_list(request):
    """发展党员 — the unit's applicants by stage."""
    unit = _unit(request)
    may_apply = unit.kind in BRANCH_KINDS and allowed(request.user, "recruitment.apply", unit)
    if request.method == "POST":
        p = request.POST
        try:
            a = rs.applicant_register(actor=request.user, unit=unit, name=p.get("name", ""), gender=p.get("gender", ""),
                                      id_number=p.get("id_number", ""), birth_date=_date(p.get("birth_date"), "出生日期"),
                                      applied_on=_date(p.get("applied_on"), "递交日期"), note=p.get("note", ""))
            messages.success(request, f"已登记 {a.name} 的入党申请")
            return redirect(f"/work/recruitment/{a.pk}/")
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        return redirect(f"{request.path}?unit={unit.code}")
    today = timezone.localdate()
    rows = rows_for(unit, today)
    stages = [(s.label, s.n, [r for r in rows if r["stage"] == s.key]) for s in process().stages.values()]
    return render(request, "workflows/recruitment/list.html", {
        "unit": unit, "stages": stages, "ends": ended_for(unit), "may_apply": may_apply, "today": today,
        "overdue": sum(1 for r in rows if r["overdue_days"]),
    })


def _people(data) -> list[int]:
    return [int(x) for x in data.getlist("people") if x.isdigit()]


def _form_data(step, p) -> dict:
    """What the step's form sends, typed for the service."""
    kind, out = step.kind, {}
    if kind in ("contacts", "sponsors"):
        out["people"] = _people(p)
    elif kind == "training":
        out.update(days=p.get("days") or 0, hours=p.get("hours") or 0)
    elif kind == "notice":
        out.update(notice_start=_date(p.get("notice_start"), "公示开始日期"), notice_end=_date(p.get("notice_end"), "公示结束日期"))
    elif kind in ("vote", "decision"):
        out.update(present=[int(x) for x in p.getlist("present") if x.isdigit()],
                   **{k: p.get(k) or 0 for k in ("for", "against", "abstain")}, outcome=p.get("outcome", ""))
        if kind == "decision":
            out.update(months=p.get("months") or 0)
    elif kind == "approval":
        out["result"] = p.get("result", "")
    if step.by == "higher":
        out["document_no"] = p.get("document_no", "")
    out["fields"] = {f.key: p.get(f"field_{f.key}", "") for f in step.typed_fields}
    return out


def describe(rec, names: dict[int, str]) -> str:
    """The content of a step's record in words."""
    d = rec.data or {}
    parts = []
    if d.get("people"):
        parts.append("、".join(names.get(i, "") for i in d["people"]))
    if "days" in d:
        parts.append(f"培训{d['days']}天、{d['hours']}学时")
    if "notice_start" in d:
        parts.append(f"公示{d['notice_start']}至{d['notice_end']}({d['workdays']}个工作日)")
    if "entitled" in d:
        parts.append(f"应到会{d['entitled']}人,实到会{len(d['present'])}人;赞成{d['for']}、反对{d['against']}、弃权{d['abstain']}")
    step = process().by_key.get(rec.step)
    if step is not None and step.kind == "approval":
        result = process().outcome(rec.step, d.get("result", "approved"))
        if result is not None:
            parts.append(result.label)
        resolution = process().outcome(step.rule["after"], d.get("outcome"))
        if resolution is not None and rec.step != "approve":
            parts.append(f"支部大会决议:{resolution.label}")
    elif step is not None and d.get("outcome"):
        o = process().outcome(rec.step, d["outcome"])
        label = o.label if o else ""
        parts.append(f"{label}{d['months']}个月" if d["outcome"] == "extend" and "months" in d else label)
    if d.get("beyond_limit"):
        parts.append("审批超过六个月")
    if step is not None:
        parts += [f"{f.label}:{d['fields'][f.key]}" for f in step.typed_fields if (d.get("fields") or {}).get(f.key)]
    if rec.document_no:
        parts.append(f"文号:{rec.document_no}")
    if rec.note:
        parts.append(rec.note)
    return ";".join(parts)


@login_required
def applicant_detail(request, pk: int):
    """One applicant: the steps done, the next actions with their forms."""
    a = get_visible_or_404(request.user, Applicant.objects.select_related("unit", "member"), pk=pk)
    if request.method == "POST":
        p = request.POST
        step = process().by_key.get(p.get("step", ""))
        try:
            if step is None:
                raise ValidationError("请选择要办理的步骤")
            rs.record_step(a, actor=request.user, step=step.key, done_on=_date(p.get("done_on"), "办理日期"),
                           note=p.get("note", ""), **_form_data(step, p))
            messages.success(request, f"已登记“{step.label}”")
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        return redirect(request.path)
    today = timezone.localdate()
    steps = list(a.steps.select_related("recorded_by", "decided_by_unit").order_by("done_on", "id"))
    ids = {i for s in steps for i in (s.data or {}).get("people", [])}
    names = dict(Member.objects.filter(pk__in=ids).values_list("pk", "name"))
    p = process()
    done = [{"rec": s, "step": p.step(s.step), "text": describe(s, names)} for s in steps]
    todos = rs.todos(a)
    full = Member.objects.filter(memberships__unit=a.unit, memberships__end__isnull=True, category=MemberCategory.FULL,
                                 status="active").exclude(pk=a.member_id).order_by("name")
    roster = roster_on(a.unit, today).filter(category=MemberCategory.FULL).exclude(pk=a.member_id).order_by("name")
    forms = [{"todo": t, "may": allowed(request.user, "recruitment.higher" if t.step.by == "higher" else "recruitment.step", a.unit),
              "overdue_days": t.overdue_days(today), "outcomes": list(p.outcomes.get(t.step.key, {}).values())} for t in todos]
    end = p.ends.get(a.stage)
    notice = any(t.step.kind == "notice" for t in todos)
    missing = [y for y in (today.year, today.year + 1) if not workdays.known(y)] if notice else []
    return render(request, "workflows/recruitment/applicant.html", {
        "calendar_missing": missing,
        "a": a, "done": done, "forms": forms, "full": full, "roster": roster, "today": today,
        "days_in_stage": rs.days_in_stage(a, today), "stages": list(p.stages.values()), "end": end,
        "stage_n": list(p.stages).index(_stage_reached(a, steps)) + 1 if a.stage != RecruitStage.DONE else 6,
    })


def _stage_reached(a: Applicant, steps) -> str:
    """The stage the applicant is in, or for an end the stage of the last step done (where it ended)."""
    if a.stage in process().stages:
        return a.stage
    firm = [s for s in steps if not process().step(s.step).repeat]
    return process().step(firm[-1].step).stage if firm else next(iter(process().stages))


def recruitment_panel(request) -> dict | None:
    """Home panel: the open applicants of the scope, overdue first, each with the next step
    and its deadline; the first row opens the list by stage. None where there are none."""
    from django.urls import reverse

    from qms.scoping import current_scope, restrict

    scope = current_scope(request)
    if scope is None:
        return None
    qs = restrict(request.user, Applicant.objects.all()).filter(unit__path__startswith=scope.path).exclude(stage__in=RECRUIT_ENDS)
    if not qs.exists():
        return None
    today = timezone.localdate()
    unit = Unit.objects.get(pk=scope.unit_id)
    rows = sorted(rows_for(unit, today), key=lambda r: (-r["overdue_days"], r["deadline"] or dt.date.max))
    out = [(f"{unit.name} · 按阶段查看全部({len(rows)}人)", f"{reverse('recruitment_list')}?unit={unit.code}", "")]
    for r in rows[:10]:
        a = r["applicant"]
        note = (f"已逾期{r['overdue_days']}天" if r["overdue_days"] else
                f"期限 {r['deadline']:%Y-%m-%d}" if r["deadline"] else f"第{r['stage_n']}阶段")
        out.append((f"{a.name}({a.unit.name}):{r['next'].label if r['next'] else r['stage_label']}",
                    reverse("recruitment_applicant", args=[a.pk]), note))
    overdue = sum(1 for r in rows if r["overdue_days"])
    return {"title": f"发展党员({len(rows)}人{f',{overdue}人逾期' if overdue else ''})", "rows": out, "empty": ""}
