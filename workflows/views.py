"""Execution pages: the occurrence list of a unit, the occurrence page (PDCA stepper, plan,
record, attendance, resolutions, submit, check, close, amendments, attachments), the
compliance heatmap and its Excel download. Thin over ``workflows.services``."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from procedures.models import FieldType
from qms import exports, ledger, signatures, uploads
from qms.models import Member, Unit
from qms.params import BadParameter, choice_param, date_param, text_param, year_param
from qms.scoping import can_manage, get_visible_or_404, restrict
from workflows import services
from workflows.compliance import ROLLUP_ABOVE, STATUS_LABELS, compliance
from workflows.models import PDCA, Attachment, FollowUp, Occurrence, Presence, State
from workflows.nextstep import occurrence_next_step
from workflows.review import rules as review_rules


def _date(value: str, label: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value or "")
    except ValueError:
        raise ValidationError(f"请填写有效的{label}(YYYY-MM-DD)") from None


@login_required
def occurrence_list(request):
    """事项 — what is due, overdue and waiting in the current scope."""
    scope = request.scope or None
    if not scope:
        raise PermissionDenied("您没有可查看的党组织")
    today = timezone.localdate()
    qs = restrict(request.user, Occurrence.objects.all()).filter(unit__path__startswith=scope.path).select_related("unit", "obligation")
    filters = {
        "due": {"state__in": [State.OPEN, State.PLANNED], "period_start__lte": today},
        "held": {"state": State.HELD},
        "checked": {"state": State.CHECKED},
        "missed": {"state": State.MISSED},
        "all": {},
    }
    show = choice_param(request, "show", filters, default="due", label="事项筛选")
    items = qs.filter(**filters[show]).order_by("due_date", "unit__path")[:500]
    return render(request, "workflows/occurrence_list.html", {"items": items, "show": show, "today": today, "scope": scope})


@login_required
def occurrence_detail(request, pk: int):
    occ = get_visible_or_404(request.user, Occurrence.objects.select_related("unit", "obligation", "obligation__form", "event"), pk=pk)
    rec = getattr(occ, "record", None)
    day = occ.held_on or occ.planned_date or occ.period_start
    marks = {a.member_id: a for a in rec.attendance.select_related("member")} if rec else {}
    owners = list(services.roster_on(occ.unit, day).order_by("name")) if rec else []
    roster = list(services.attendees_on(occ, day).order_by("name")) if rec else []
    expected = {m.pk for m in roster}
    roster += sorted((a.member for a in marks.values() if a.member_id and a.member_id not in expected), key=lambda m: m.name)
    fields = []
    if rec:
        for f in rec.form.fields.all():
            if f.type in (FieldType.ATTENDANCE, FieldType.RESOLUTIONS, FieldType.ATTACHMENTS, FieldType.DUES, FieldType.GRADES):
                continue
            value = rec.elements.get(f.key, "")
            field = {"key": f.key, "label": f.label, "type": f.type, "required": f.required, "value": value, "help": f.help_text}
            if f.type == FieldType.LECTURER:  # 主讲人: a person chosen from the roll (services.lecturer_candidates)
                field["choices"] = [(m.pk, m.name) for m in services.lecturer_candidates(occ).order_by("name")]
                field["value"] = value if isinstance(value, int) else ""
                field["shown"] = next((n for pk, n in field["choices"] if pk == value), "" if value in ("", None) else str(value))
            fields.append(field)
    steps = []
    order = [s for s, _ in PDCA]
    reached = order.index(occ.state) if occ.state in order else -1
    for i, (_state, label) in enumerate(PDCA):
        steps.append({"label": label, "done": i <= reached, "current": i == reached})
    q = services.quorum(rec) if rec else None
    missing = services.missing_elements(rec) if rec else []
    dues_ctx = {}
    month = services.dues_month(occ)
    if month is not None:
        from workflows import dues
        from workflows.models import PayWay

        rows = dues.month_table(occ.unit, month)
        dues_ctx = {"dues_month": month, "dues_rows": rows, "dues_ways": PayWay.choices,
                    "dues_total": sum((r.payment.amount for r in rows if r.payment), start=0),
                    "dues_unsettled": sum(1 for r in rows if not r.settled), "dues_short": sum(1 for r in rows if r.short),
                    "dues_paid_on": min(timezone.localdate(), dues.month_end(month))}
    review_ctx = _review_context(occ, rec)
    return render(request, "workflows/occurrence.html", {
        "next_step": occurrence_next_step(occ, missing), "dates": held_vs_planned(occ, rec),
        "review": review_ctx, "measures": review_rules().measures,
        **dues_ctx,
        "occ": occ, "rec": rec, "steps": steps, "fields": fields,
        "roster": [(m, marks.get(m.pk)) for m in roster],
        "owners": owners,
        "by_committee": occ.obligation.quorum == "committee",
        "unaccounted": services.unaccounted(rec) if rec else [],
        "guests": [a for a in (rec.attendance.all() if rec else []) if a.member_id is None or a.presence == Presence.ATTENDING],
        "followups": rec.followups.select_related("owner") if rec else [],
        "attachments": rec.attachments.all() if rec else [],
        "missing": missing,
        # a 列席 the unit's rule only warns about (observers.toml; refused ones are in ``missing``)
        "observer_warnings": [text for text, strict in services.observers_missing(rec) if not strict] if rec else [],
        "quorum": q,
        "can_edit": can_manage(request.user, occ.unit),
        "can_check": occ.state == State.HELD and services.may_check(request.user, occ),
        "can_cancel": occ.state in (State.OPEN, State.PLANNED) and services.may_cancel(request.user, occ),
        "history": ledger.entries_for([occ, rec] if rec else [occ]),
        "today": timezone.localdate(),
    })


def _review_context(occ: Occurrence, rec) -> dict | None:
    """民主评议 逐人结果 on the occurrence page: each 党员 of the day's roll with their row."""
    field = services.review_field(occ) if rec else None
    if field is None:
        return None
    from qms.rules import rule_value
    from workflows.models import Decider

    r = review_rules()
    saved = {x.member_id: x for x in rec.reviews.all()}
    subjects = list(services.review_subjects(occ).order_by("name"))
    by_source: dict[str, list[str]] = {}
    for g in r.grades:  # "优秀、合格、基本合格(本系统默认…);不合格(seed 001 三(二)4 …)"
        by_source.setdefault(g.source, []).append(g.label)
    return {"label": field.label, "grades": r.grades, "disposal_grades": r.disposal_grades,
            "grade_sources": [("、".join(labels), source) for source, labels in by_source.items()],
            "deciders": Decider.choices, "deciders_source": r.deciders_source,
            "decided_by": next((x.decided_by for x in saved.values() if x.decided_by), ""),
            "rows": [(m, saved.get(m.pk)) for m in subjects], "ungraded": services.ungraded(rec),
            "days": rule_value(occ.unit, "review_disposal_days")}


def held_vs_planned(occ: Occurrence, rec) -> str:
    """In words, when the day held is not the day planned ("计划 12-15,实际 12-17 开展"), and when
    the record's 时间 names yet another day."""
    out = []
    if occ.held_on and occ.planned_date and occ.held_on != occ.planned_date:
        out.append(f"计划 {occ.planned_date:%m-%d},实际 {occ.held_on:%m-%d} 开展")
    time = str(rec.elements.get("time") or "") if rec else ""
    if occ.held_on and time[:10] and time[:10] != occ.held_on.isoformat():
        out.append(f"记录中的时间为 {time[:10]},与开展日期 {occ.held_on:%Y-%m-%d} 不一致,请核对")
    return ";".join(out)


_ACTIONS = ("plan", "save", "grades", "attend", "attend_all", "signin", "dues", "guest", "resolution", "submit", "check", "close", "followup_done", "amend", "attach", "cancel")


def _chosen_member(user, occ: Occurrence, pk) -> Member | None:
    """A person chosen on a record by id: one the user may see (qms/scoping.py), or one on the
    unit's roster on the meeting day who has moved since. Any other id is not found — the answer
    never carries the name of someone outside one's scope."""
    try:
        pk = int(pk or 0)
    except (TypeError, ValueError):
        return None
    return (restrict(user, Member.objects.all()).filter(pk=pk).first()
            or services.roster_on(occ.unit, services.meeting_day(occ)).filter(pk=pk).first())


@login_required
@require_POST
def occurrence_action(request, pk: int, action: str):
    occ = get_visible_or_404(request.user, Occurrence, pk=pk)
    if action not in _ACTIONS:
        raise PermissionDenied
    if action not in ("check", "cancel") and not can_manage(request.user, occ.unit):
        raise PermissionDenied("您只有查看权限")
    p, u = request.POST, request.user
    done = "已保存"
    try:
        if action == "plan":
            occ = services.occurrence_plan(occ, actor=u, planned_date=_date(p.get("planned_date"), "计划日期"), place=p.get("place", ""),
                                           topic=p.get("topic", ""))
            done = f"已保存计划:{occ.planned_date:%m-%d} 在{occ.place}开展“{occ.topic}”"
        elif action == "save":
            rec = occ.record
            elements = {}
            for f in rec.form.fields.all():
                if f.type == FieldType.VOTES:
                    nums = [p.get(f"{f.key}_{k}", "") for k in ("for", "against", "abstain")]
                    if any(nums):
                        try:
                            elements[f.key] = {k: int(n or 0) for k, n in zip(("for", "against", "abstain"), nums, strict=True)}
                        except ValueError:
                            raise ValidationError("表决人数应为整数") from None
                elif f.key in p:
                    elements[f.key] = p.get(f.key, "")
            rec = services.record_save(occ, actor=u, elements=elements)
            missing = services.missing_elements(rec)
            done = f"记录已保存,尚缺:{'、'.join(missing)}" if missing else "记录已保存,要素齐全"
        elif action == "grades":
            grades = review_rules().grade_labels
            ids = [int(k[2:-4]) for k in p if k.startswith("g_") and k.endswith("_row") and k[2:-4].isdigit()]
            rows = {i: {"self": p.get(f"s_{i}", ""), "mutual": p.get(f"u_{i}", ""), "grade": p.get(f"g_{i}", ""),
                        "poll": {g: p.get(f"v_{i}_{n}", "") for n, g in enumerate(grades)}} for i in ids}
            n = services.review_save(occ, actor=u, decided_by=p.get("decided_by", ""), rows=rows)
            done = f"已保存评议结果(更新 {n} 人)" if n else "评议结果没有变化"
        elif action == "attend":
            member = _chosen_member(u, occ, p.get("member"))
            if member is None:
                raise ValidationError("该人员不在本组织名单中")
            a = services.attendance_mark(occ, actor=u, member=member, presence=p.get("presence", ""), reason=p.get("reason", ""),
                                         on_leave=p.get("on_leave") == "1")
            done = f"已登记 {member.name}:{'请假' if a.on_leave else a.get_presence_display()}"
        elif action == "attend_all":
            ids = [int(k[2:]) for k in p if k.startswith("p_") and k[2:].isdigit()]
            marks = {i: (p.get(f"p_{i}", ""), p.get(f"r_{i}", "")) for i in ids}
            n = services.attendance_save(occ, actor=u, marks=marks)
            done = f"已保存出席情况(更新 {n} 人)" if n else "出席情况没有变化"
        elif action == "dues":
            from workflows import dues

            month = services.dues_month(occ)
            if month is None:
                raise PermissionDenied
            ids = {int(k[2:]) for k in p if k[:2] in ("i_", "a_", "x_") and k[2:].isdigit()}
            rows = {i: {"income": p.get(f"i_{i}", ""), "amount": p.get(f"a_{i}", ""), "reason": p.get(f"x_{i}", "")} for i in ids}
            got = dues.dues_collect(occ.unit, actor=u, month=month, paid_on=_date(p.get("paid_on"), "交纳日期"),
                                    way=p.get("way", ""), rows=rows)
            done = (f"已登记交纳 {got['paid']} 人、未交理由 {got['excused']} 人" if any(got.values())
                    else "没有填写任何交纳或未交理由")
        elif action == "signin":
            from workflows import signin

            file = uploads.take(request, "file", kinds=("xlsx",), by_name=False)
            if file is None:
                raise ValidationError("请选择填好的签到表")
            marks = signin.read(occ, file.data)
            n = services.attendance_save(occ, actor=u, marks=marks)
            done = f"已按签到表保存出席情况(更新 {n} 人)" if n else "签到表与已登记的出席情况一致"
        elif action == "guest":
            a = services.attendance_mark(occ, actor=u, presence=Presence.ATTENDING, guest_name=p.get("guest_name", ""))
            done = f"已添加列席人员 {a.guest_name}"
        elif action == "resolution":
            if not p.get("owner"):
                raise ValidationError("请选择责任人")
            owner = _chosen_member(u, occ, p.get("owner"))
            if owner is None:
                raise ValidationError("责任人不在本组织名单中")
            fu = services.followup_add(occ, actor=u, text=p.get("text", ""), owner=owner, due_date=_date(p.get("due_date"), "完成时限"))
            done = f"已添加决议“{fu.text}”,责任人 {owner.name},时限 {fu.due_date:%m-%d}"
        elif action == "submit":
            planned = occ.planned_date
            occ = services.record_submit(occ, actor=u, held_on=_date(p.get("held_on"), "开展日期"))
            done = "已提交记录"
            if planned and occ.held_on != planned:
                done += f"(计划 {planned:%m-%d},实际 {occ.held_on:%m-%d} 开展,记录时间按实际日期)"
            done += ";" + occurrence_next_step(occ).text
        elif action == "check":
            services.record_check(occ, actor=u, password=p.get("password"))
            done = "已检查,记录已冻结"
        elif action == "close":
            services.occurrence_close(occ, actor=u)
            done = "已闭环(A),本次事项完成"
        elif action == "followup_done":
            fu = FollowUp.objects.get(pk=p.get("followup") or 0, record__occurrence=occ)
            fu = services.followup_done(fu, actor=u, done_on=_date(p.get("done_on"), "完成日期"), outcome=p.get("outcome", ""),
                                        measure=p.get("measure", ""))
            done = f"已登记“{fu.text}”落实完成"
        elif action == "amend":
            key = p.get("field", "")
            services.record_amend(occ, actor=u, reason=p.get("reason", ""), elements={key: p.get("value", "")})
            label = next((f.label for f in occ.record.form.fields.all() if f.key == key), key)
            done = f"已更正“{label}”,原值保留在留痕中"
        elif action == "attach":
            file = uploads.take(request, "file", kinds="evidence")
            if file is None:
                raise ValidationError("请选择文件")
            att = services.attachment_add(occ, actor=u, upload=file)
            done = f"已上传附件 {att.name}"
        elif action == "cancel":
            services.occurrence_cancel(occ, actor=u, reason=p.get("reason", ""))
            done = f"已同意取消本次:{p.get('reason', '').strip()}"
        messages.success(request, done)
    except ValidationError as exc:
        signatures.refused(request, exc)
        messages.error(request, ";".join(exc.messages))
    except (FollowUp.DoesNotExist, AttributeError):
        messages.error(request, "请先制定计划再填写记录")
    return redirect("occurrence_detail", pk=occ.pk)


@login_required
def attachment_download(request, pk: int):
    att = get_visible_or_404(request.user, Attachment, pk=pk)
    return uploads.serve(att.file, name=att.name)


# ------------------------------------------------------------------------------ compliance

COLOURS = {"on_time": "#2e7d32", "late": "#f9a825", "missed": "#c62828", "not_due": "#e0e0e0", "cancelled": "#9e9e9e"}


def _year(request) -> int:
    return year_param(request, "year")


def _unit_code(request) -> str:
    """The organisation asked for (``?unit=``), else the current scope's."""
    return text_param(request, "unit", label="党组织", max_length=32) or (request.scope.unit_code if request.scope else "")


def _matrix(request):
    code = _unit_code(request)
    root = get_visible_or_404(request.user, Unit, code=code)
    year = _year(request)
    return root, year, compliance(root, year)




@dataclass(frozen=True)
class RateBands:
    """执行率色带 — the lines (percent) between 良好, 一般 and 较差 on the rolled-up heatmap,
    each with where it comes from."""

    good: float
    fair: float
    good_source: str
    fair_source: str

    def css(self, rate: float | None) -> str:
        if rate is None:
            return "h-none"
        pct = round(rate * 100, 1)  # as the objectives compare (audits Objective.met)
        return "h-good" if pct >= self.good else "h-fair" if pct >= self.fair else "h-poor"

    def legend(self) -> list[tuple[str, str]]:
        return [("h-good", f"执行率 ≥ {self.good:g}%"), ("h-fair", f"{self.fair:g}%–{self.good:g}%"),
                ("h-poor", f"< {self.fair:g}%"), ("h-none", "尚无到期事项")]


#: Who gives the bands (registered by a package above in its ``AppConfig.ready``: the
#: committee's lines are its objectives and rules, which this package does not know). Each
#: takes (unit, year) and returns ``RateBands`` or None.
RATE_BANDS: list = []


def register_rate_bands(fn) -> None:
    if fn not in RATE_BANDS:
        RATE_BANDS.append(fn)


def rate_bands(root: Unit, year: int) -> RateBands | None:
    """The bands for a unit's heatmap of a year; None when nobody gives them (the cells then
    show their rate without a colour)."""
    return next((b for b in (fn(root, year) for fn in RATE_BANDS) if b), None)


def _rolled_cells(rates: dict, path: str, obligations: list[tuple[str, str]], bands: RateBands | None) -> str:
    """One row's cells of the rolled-up heatmap as HTML. Built here rather than in the template
    (200 rows × 30 obligations is 6,000 cells; the template engine took 0.45 s for them). Only
    numbers and fixed class names go in, so nothing needs escaping."""
    out = []
    for key, _title in obligations:
        r = rates.get((path, key))
        rate = r.rate if r else None
        tip = "尚无到期事项" if rate is None else f"{round(rate * 100)}%({r.on_time + r.late}/{r.due})"
        css = bands.css(rate) if bands else "h-none" if rate is None else "h-plain"
        out.append(f'<td class="{css}" title="{tip}"></td>')
    return mark_safe("".join(out))  # noqa: S308 — numbers and constants only


def _compliance_rolled(request, root, year, units_count: int):
    """Large subtrees: one row per directly subordinate unit (its whole subtree rolled up by
    the database from the subtree tally), one cell per obligation coloured by its rate; each
    row drills down."""
    from workflows.compliance import rates_by_child, totals_by_child

    rates, titles = rates_by_child(root, year)
    children = list(Unit.objects.filter(parent=root, is_active=True).order_by("path").values_list("code", "name", "path"))
    obligations = sorted(titles.items())
    per_row, overall = totals_by_child(rates)
    bands = rate_bands(root, year)
    lines = [(root.code, root.name, root.path, False)] * (root.path in per_row) + [(c, n, p, True) for c, n, p in children]
    rows = [{"code": code, "name": name, "rate": per_row[path].rate if path in per_row else None, "drill": drill,
             "cells_html": _rolled_cells(rates, path, obligations, bands)} for code, name, path, drill in lines]
    return render(request, "workflows/compliance.html", {
        "root": root, "year": year, "rows": rows, "obligations": obligations, "rolled": True,
        "units_count": units_count, "overall": overall, "bands": bands,
        "rate_legend": bands.legend() if bands else [("h-plain", "有到期事项(未设定色带)"), ("h-none", "尚无到期事项")],
    })


@login_required
def compliance_page(request):
    """执行情况热力图 — unit × obligation, each cell a strip of its periods, coloured by status;
    drawn with plain HTML/CSS (no external asset)."""
    code = _unit_code(request)
    root = get_visible_or_404(request.user, Unit, code=code)
    units_count = Unit.objects.filter(path__startswith=root.path).count()
    if units_count > ROLLUP_ABOVE:
        return _compliance_rolled(request, root, _year(request), units_count)
    root, year, m = _matrix(request)
    grid: dict[tuple[str, str], list[dict]] = {}
    for c in m.cells:
        grid.setdefault((c["unit"], c["obligation"]), []).append({**c, "colour": COLOURS[c["status"]], "label": STATUS_LABELS[c["status"]]})
    units = sorted(m.units.items(), key=lambda kv: kv[0])
    obligations = sorted(m.obligations.items())
    rows = [{"code": code, "name": name, "rate": m.by_unit[code].rate,
             "cells": [grid.get((code, key), []) for key, _ in obligations]} for code, name in units]
    return render(request, "workflows/compliance.html", {
        "root": root, "year": year, "matrix": m, "rows": rows, "obligations": obligations,
        "by_obligation": [m.by_obligation[k].rate for k, _ in obligations],
        "legend": [(COLOURS[k], v) for k, v in STATUS_LABELS.items()],
        "overall": m.overall,
        "coalition_lines": _coalition_lines(root, year),
    })


def _coalition_lines(root, year) -> list[dict]:
    """联系组、协作组 set up by ``root`` or below: each period in the matrix's colours (a period under
    way has the colour of what is not yet due)."""
    from workflows import coalitions

    return [{"line": line, "cells": [(p.months, p.label, COLOURS["not_due" if p.status == "open" else p.status])
                                     for p in line.periods]}
            for line in coalitions.compliance(root, year)]


@login_required
def compliance_xlsx(request):
    from openpyxl.styles import PatternFill


    root, year, m = _matrix(request)
    wb = exports.workbook()
    ws = wb.active
    ws.title = "执行情况明细"
    ws.append(["组织编码", "组织名称", "规定", "期间", "截止日期", "状态"])
    for c in m.cells:
        ws.append([c["unit"], m.units[c["unit"]], m.obligations[c["obligation"]], c["period"], c["due"], STATUS_LABELS[c["status"]]])
        ws.cell(row=ws.max_row, column=6).fill = PatternFill("solid", fgColor=COLOURS[c["status"]].lstrip("#"))
    s = wb.create_sheet("执行率")
    s.append(["组织编码", "组织名称", "按时完成", "逾期完成", "未开展", "执行率"])
    for code, r in sorted(m.by_unit.items()):
        s.append([code, m.units[code], r.on_time, r.late, r.missed, r.rate])
    resp = HttpResponse(exports.xlsx_bytes(wb), content_type=exports.XLSX_MIME)
    resp["Content-Disposition"] = f'attachment; filename="compliance-{root.code}-{year}.xlsx"'
    return resp


# ------------------------------------------------------------------------------------ 党费


@login_required
def dues_page(request):
    """党费 — a branch's last 12 months, members × months, with arrears and removal requests."""
    from decimal import Decimal, InvalidOperation

    from workflows import dues
    from workflows.models import DuesNonPayment, DuesPayment, PayWay, RemovalRequest

    code = _unit_code(request)
    unit = get_visible_or_404(request.user, Unit, code=code)
    manage = can_manage(request.user, unit)
    if request.method == "POST":
        p = request.POST
        try:
            action = p.get("action")
            if action == "pay":
                if not manage:
                    raise PermissionDenied("您只有查看权限,不能登记党费")
                member = restrict(request.user, Member.objects.all()).get(pk=p.get("member") or 0)
                amount = Decimal(p["amount"]) if p.get("amount") else None
                income = Decimal(p["income"]) if p.get("income") else None
                month = _date(p.get("month", "") + "-01", "月份")
                dues.dues_record(member, actor=request.user, month=month,
                                 paid_on=_date(p.get("paid_on"), "交纳日期"), way=p.get("way", ""), amount=amount, income=income)
                done = f"已登记 {member.name} {month:%Y年%m月} 党费"
            elif action == "remove":
                member = restrict(request.user, Member.objects.all()).get(pk=p.get("member") or 0)
                dues.removal_request(member, actor=request.user, reason=p.get("reason", ""))
                done = f"已提出 {member.name} 的除名申请,待上级党组织审批"
            elif action in ("approve", "reject"):
                req = restrict(request.user, RemovalRequest.objects.all()).get(pk=p.get("request") or 0)
                dues.removal_decide(req, actor=request.user, approve=action == "approve", note=p.get("note", ""))
                done = f"已{'批准' if action == 'approve' else '不批准'} {req.member.name} 的除名申请"
            else:
                done = "没有可执行的操作"
            messages.success(request, done)
        except (ValidationError, InvalidOperation, Member.DoesNotExist, RemovalRequest.DoesNotExist) as exc:
            messages.error(request, ";".join(getattr(exc, "messages", ["输入有误"])))
        return redirect(f"{request.path}?unit={unit.code}")
    last = dues.month_start(timezone.localdate())
    months = [dues.months_back(last, i) for i in range(11, -1, -1)]
    members = Member.objects.filter(memberships__unit=unit, memberships__end__isnull=True,
                                    category__in=["full", "probationary"]).order_by("name")
    paid = {(p.member_id, p.month): p for p in DuesPayment.objects.filter(member__in=members, month__gte=months[0])}
    excused = {(x.member_id, x.month): x for x in DuesNonPayment.objects.filter(member__in=members, month__gte=months[0])}
    due = dues.dues_due(dues.income_history([m.pk for m in members], months[0], months[-1]))

    def cell(m, mo):
        p, d = paid.get((m.pk, mo)), due.get((m.pk, mo))
        short = d - p.amount if p is not None and d is not None and p.amount < d else 0
        return {"p": p, "x": excused.get((m.pk, mo)), "short": short, "due": d}

    grid = [(m, [cell(m, mo) for mo in months]) for m in members]
    return render(request, "workflows/dues.html", {
        "unit": unit, "months": months, "grid": grid, "manage": manage, "ways": PayWay.choices,
        "arrears": dues.arrears(unit), "threshold": dues.table()["arrears_months"],
        "requests": [(r, bool(r.unit.parent_id) and can_manage(request.user, r.unit.parent))
                     for r in RemovalRequest.objects.filter(unit__path__startswith=unit.path, state="requested").select_related("member", "unit", "unit__parent")],
        "this_month": last,
    })


#: members listed on the 个人履责 page (leaders first); the rest are counted, not listed
PEOPLE_ROWS = 300


@login_required
def people_page(request):
    """个人履责 — rules owed by a person, counted from the records: who has given their 党课
    this year and who still owes (seed 001 三(二)2, 三(一)3); each member's 组织生活 from the
    attendance records and the year-end 通报 of leaders below the 双重组织生活 rule (seed 004 篇1
    十三、十八)."""
    from workflows import people

    unit = get_visible_or_404(request.user, Unit, code=_unit_code(request))
    year = _year(request)
    lectures = people.lecture_duties(unit, year)
    rows = people.participation(unit, year)
    below, threshold, source = people.dual_life_report(unit, year)
    return render(request, "workflows/people.html", {
        "unit": unit, "year": year, "lectures": lectures,
        "participation": rows[:PEOPLE_ROWS], "participation_total": len(rows), "people_rows": PEOPLE_ROWS,
        "report": below, "threshold": threshold, "threshold_source": source,
        "year_over": dt.date(year, 12, 31) < timezone.localdate(), "today": timezone.localdate(),
        "lectures_short": [d for d in lectures if not d.fulfilled],
        "lecture_sources": sorted({d.source for d in lectures}),
    })


@login_required
def records_xlsx(request):
    """记录台账 (.xlsx) — every occurrence of a unit's subtree in a period with its record:
    what, when, where, who came, who submitted and checked it."""
    from django.db.models import Count, Q
    from openpyxl.styles import Font

    code = _unit_code(request)
    root = get_visible_or_404(request.user, Unit, code=code)
    today = timezone.localdate()
    period_format = "期间格式应为 年-月-日(如 2026-01-01)"
    start = date_param(request, "from", default=dt.date(today.year, 1, 1), label="期间开始", message=period_format)
    end = date_param(request, "to", default=today, label="期间结束", message=period_format)
    if start > end:
        raise BadParameter("期间开始不能晚于期间结束")
    rows = (restrict(request.user, Occurrence.objects.all())
            .filter(unit__path__startswith=root.path, due_date__gte=start, due_date__lte=end)
            .select_related("unit", "obligation__version__document", "record__submitted_by", "record__checked_by")
            .annotate(present=Count("record__attendance", filter=Q(record__attendance__presence="present")),
                      absent=Count("record__attendance", filter=Q(record__attendance__presence="absent")))
            .order_by("unit__path", "due_date", "obligation_key"))
    wb = exports.workbook()
    ws = wb.active
    ws.title = "记录台账"
    ws.append([f"{root.name} 记录台账 {start:%Y-%m-%d} 至 {end:%Y-%m-%d}"])
    ws["A1"].font = Font(bold=True)
    ws.append(["组织编码", "组织名称", "程序文件", "规定", "期间", "截止日期", "状态", "开展日期", "主题/议程", "地点",
               "出席", "缺席", "提交人", "检查人", "检查时间"])
    for o in rows:
        rec = getattr(o, "record", None)
        ws.append([o.unit.code, o.unit.name, o.obligation.version.document.code, o.obligation.title, o.period_label(),
                   o.due_date, o.get_state_display(), o.held_on, o.topic, o.place, o.present, o.absent,
                   rec.submitted_by.get_username() if rec and rec.submitted_by else "",
                   rec.checked_by.get_username() if rec and rec.checked_by else "",
                   timezone.localtime(rec.checked_at).strftime("%Y-%m-%d %H:%M") if rec and rec.checked_at else ""])
    resp = HttpResponse(exports.xlsx_bytes(wb), content_type=exports.XLSX_MIME)
    resp["Content-Disposition"] = f'attachment; filename="records-{root.code}-{start:%Y%m%d}-{end:%Y%m%d}.xlsx"'
    return resp


@login_required
def signin_sheet(request, pk: int):
    """签到表下载 — for those who record the meeting."""
    from workflows import signin

    occ = get_visible_or_404(request.user, Occurrence.objects.select_related("unit", "obligation"), pk=pk)
    if not can_manage(request.user, occ.unit):
        raise PermissionDenied("只有本组织负责人可以下载签到表")
    resp = HttpResponse(signin.sheet(occ), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    resp["Content-Disposition"] = f'attachment; filename="signin-{occ.pk}.xlsx"'
    resp["X-Content-Type-Options"] = "nosniff"
    return resp
