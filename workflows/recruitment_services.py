"""发展党员的办理 — the only code that changes an applicant. Each act runs in one transaction
and writes its ledger entries there; nothing is saved when a check refuses (a Chinese
``ValidationError``).

Checks, all read from data (``recruitment.toml`` and the organisation rules of
``recruitment_rules.toml`` / ``rules.toml``, overridable per organisation):
the steps in their order; a step's least time (年满十八岁, 积极分子满一年, 预备期满) refused
when not met; a deadline (谈话一个月内, 审批三个月内, 考察每半年) missed is kept on the
step's record as days overdue and shown; 培养联系人 and 入党介绍人 must be 正式党员; the
集中培训 must reach its days or hours; the 公示 its working days (``qms.workdays``); a
支部大会 vote needs its quorum and majority counted against the roster that day
(``workflows.quorum``, ``workflows.services.roster_on``); the higher organisation's steps may
be recorded only by someone of a unit above the branch (permissions ``recruitment.higher``).

Stage changes update the linked ``Member``'s category through ``qms.services`` (ledgered):
the Member is created when the branch decides the applicant an 入党积极分子.

Ends other than 转正 (``recruitment.toml`` [outcomes] and [ends]): the 支部大会 may resolve to
取消预备党员资格 (《中国共产党章程》第七条) — once the higher organisation agrees, the applicant
ends as 已取消预备党员资格 and the person leaves the roster (``member_status_change``, event
取消预备党员资格); a 接收 vote recorded as not passed (quorum present, majority not reached) or
a 不同意 上级批复 of the 接收 ends the applicant as 不予接收, the person kept as 入党积极分子 (the
细则 says nothing of their category afterwards; ``[ends.not_received]`` says so). An ended
applicant takes no more steps; the person, who keeps a record on the roster, is not registered as a
new applicant (a second record of the same person would be made at step 3).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from qms import ledger, workdays
from qms import services as qms_services
from qms.models import DecisionOutcome, Member, MemberCategory, MemberEventKind, MemberStatus, Unit
from qms.permissions import act
from qms.rules import rules_for
from qms.scoping import scopes_for
from workflows import quorum as quorum_rules
from workflows import recruitment_flow as flow
from workflows.models import RECRUIT_ENDS, Applicant, RecruitStage, RecruitStep
from workflows.recruitment import Outcome, Step, add_months, age_on, process
from workflows.services import roster_on

#: the stage a step's completion moves the applicant into (the first step of each later stage)
_STAGE_MOVES = {
    "activist_decide": ("to_activist", RecruitStage.APPLYING),
    "candidate_decide": ("to_candidate", RecruitStage.ACTIVIST),
    "committee_review": ("to_receiving", RecruitStage.CANDIDATE),
    "join_group": ("to_probation", RecruitStage.RECEIVING),
    "archive": ("to_done", RecruitStage.PROBATION),
}


def today() -> dt.date:
    return timezone.localdate()


def _rule(applicant: Applicant, key: str) -> int:
    return rules_for(applicant.unit)[key].value


def _fmt(day: dt.date | None) -> str:
    return f"{day:%Y年%m月%d日}" if day else ""


# ------------------------------------------------------------------ where the applicant stands


def _done(applicant: Applicant) -> list[RecruitStep]:
    return list(applicant.steps.all().order_by("done_on", "id"))


def _last(steps: list[RecruitStep], key: str) -> RecruitStep | None:
    found = [s for s in steps if s.step == key]
    return found[-1] if found else None


def sequential_next(applicant: Applicant, steps: list[RecruitStep] | None = None) -> Step | None:
    """The next step in the 细则's order (the repeated 考察 steps aside), or None when done."""
    if applicant.stage in RECRUIT_ENDS:
        return None
    steps = _done(applicant) if steps is None else steps
    p = process()
    order = [s for s in p.steps if not s.repeat]
    firm = [s for s in steps if not p.step(s.step).repeat]
    if not firm:
        return order[0]
    last = firm[-1]
    if last.step == "full_approve" and last.data.get("outcome") == "extend":
        return p.step("full_vote")  # 延长预备期 approved: the branch discusses again when it ends
    if sent_back := _sent_back(last):
        return p.step(sent_back)  # the approval did not agree: the 支部大会 discusses again
    idx = [s.key for s in order].index(last.step)
    return order[idx + 1] if idx + 1 < len(order) else None


def _sent_back(rec: RecruitStep | None) -> str:
    """The step an approval's result sends back to the branch (``again``), or ""."""
    if rec is None:
        return ""
    o = process().outcome(rec.step, (rec.data or {}).get("result")) if process().step(rec.step).kind == "approval" else None
    return o.again if o is not None else ""


def _anchor(applicant: Applicant, steps: list[RecruitStep], key: str) -> dt.date | None:
    if key == "probation_end":
        return applicant.probation_end
    s = _last(steps, key)
    return s.done_on if s else None


@dataclass(frozen=True)
class Todo:
    """One thing to do: the step, the earliest day it may be done, its deadline."""

    step: Step
    earliest: dt.date | None
    deadline: dt.date | None

    def overdue_days(self, on: dt.date) -> int:
        return max(0, (on - self.deadline).days) if self.deadline else 0


def _timing(applicant: Applicant, step: Step, steps: list[RecruitStep]) -> tuple[dt.date | None, dt.date | None]:
    """(earliest, deadline) of ``step`` now, from its time rule."""
    rule = step.rule
    earliest = deadline = None
    base = _anchor(applicant, steps, rule["after"]) if rule.get("after") else None
    if rule.get("every"):
        prior = [s for s in steps if s.step == step.key]
        start = prior[-1].done_on if prior else base
        if start:
            deadline = add_months(start, _rule(applicant, rule["every"]))
    elif base is not None and rule.get("unit") == "months":
        if rule.get("min"):
            earliest = add_months(base, _rule(applicant, rule["min"]))
        if rule.get("within"):
            deadline = add_months(base, _rule(applicant, rule["within"]))
    if step.key in ("full_apply", "full_vote"):
        earliest = applicant.probation_end if step.key == "full_vote" else None
    firm = [s for s in steps if not process().step(s.step).repeat]
    if firm and _sent_back(firm[-1]) == step.key and rule.get("within") and rule.get("unit") == "months":
        deadline = add_months(firm[-1].done_on, _rule(applicant, rule["within"]))  # counted from the sending back
    return earliest, deadline


def todos(applicant: Applicant, steps: list[RecruitStep] | None = None) -> list[Todo]:
    """What may be done now: the next step in order, and the repeated 考察 of the current stage
    (nothing once the process has ended)."""
    if applicant.stage in RECRUIT_ENDS:
        return []
    steps = _done(applicant) if steps is None else steps
    out = []
    nxt = sequential_next(applicant, steps)
    if nxt is not None:
        out.append(Todo(nxt, *_timing(applicant, nxt, steps)))
    for s in process().stage_steps(applicant.stage):
        if s.repeat:
            out.append(Todo(s, *_timing(applicant, s, steps)))
    return out


def next_action(applicant: Applicant, on: dt.date | None = None) -> Todo | None:
    """The action to show: an overdue or the soonest deadline first, else the next step."""
    on = on or today()
    items = todos(applicant)
    if not items:
        return None
    dated = sorted((t for t in items if t.deadline), key=lambda t: t.deadline)
    seq = items[0]
    if seq.step.repeat is False and seq.deadline is None and dated and (seq.earliest is None or seq.earliest > on):
        return dated[0]
    if dated and dated[0].deadline < on and dated[0] is not seq:
        return dated[0]
    return seq


def days_in_stage(applicant: Applicant, on: dt.date | None = None) -> int:
    return max(0, ((on or today()) - applicant.stage_since).days)


# ------------------------------------------------------------------ checks


def _full_members(applicant: Applicant, ids, what: str, day: dt.date) -> list[Member]:
    """The chosen people, each a 正式党员 in good standing on ``day`` (else a refusal naming them)."""
    people = list(Member.objects.filter(pk__in=[int(i) for i in ids]))
    if len(people) != len({int(i) for i in ids}):
        raise ValidationError({what: "所选人员不存在"})
    for m in people:
        if m.status != MemberStatus.ACTIVE:
            raise ValidationError({what: f"{m.name} 已不在册,不能担任"})
        if m.category != MemberCategory.FULL:
            raise ValidationError({what: f"{m.name} 是{m.get_category_display()},只能由正式党员担任"})
        if applicant.member_id and m.pk == applicant.member_id:
            raise ValidationError({what: "不能由本人担任"})
    return people


def _vote(applicant: Applicant, step: Step, day: dt.date, data: dict, passed: bool = True) -> dict:
    """支部大会表决: the entitled counted from the roster on the day (quorum.toml body and the
    unit's rules), the present among them, the votes; refused without quorum. A result that
    ``passed`` needs the majority; one recorded as not passed (表决未通过) must not have it."""
    unit = applicant.unit
    rules = rules_for(unit)
    body = quorum_rules.bodies()["full_members"]
    categories = set(body.categories)
    if rules["quorum_probationary_counted"].value:
        categories.add(MemberCategory.PROBATIONARY)
    entitled = set(roster_on(unit, day).filter(category__in=categories).values_list("pk", flat=True))
    entitled.discard(applicant.member_id)
    present = {int(i) for i in data.get("present", ())} & entitled
    try:
        votes = {k: int(data.get(k) or 0) for k in ("for", "against", "abstain")}
    except (TypeError, ValueError):
        raise ValidationError({"votes": "票数应为整数"}) from None
    if any(v < 0 for v in votes.values()) or sum(votes.values()) > len(present):
        raise ValidationError({"votes": f"赞成、反对、弃权票数之和不能超过到会有表决权的党员数({len(present)}人)"})
    q_rule = rules[quorum_rules.RULE_KEYS["full_members"][0]]
    inclusive = bool(rules["quorum_exactly_at_percent"].value)
    if not quorum_rules.exceeds(len(present), len(entitled), q_rule.value, inclusive=inclusive):
        share = "半数" if q_rule.value == 50 else f"{q_rule.value}%"
        raise ValidationError({"present": f"到会有表决权的党员 {len(present)} 人,未{'达到' if inclusive else '超过'}"
                                          f"应到会 {len(entitled)} 人的{share},支部大会不能表决(依据:{q_rule.source})"})
    p_rule = rules[quorum_rules.RULE_KEYS["full_members"][1]]
    carried = quorum_rules.exceeds(votes["for"], len(entitled), p_rule.value)
    share = "半数" if p_rule.value == 50 else f"{p_rule.value}%"
    if passed and not carried:
        raise ValidationError({"votes": f"赞成 {votes['for']} 票,未超过应到会 {len(entitled)} 人的{share},"
                                        f"决议未获通过,不能登记为通过(依据:{p_rule.source})"})
    if not passed and carried:
        raise ValidationError({"votes": f"赞成 {votes['for']} 票,已超过应到会 {len(entitled)} 人的{share},"
                                        f"决议已获通过,不能登记为未通过(依据:{p_rule.source})"})
    return {"entitled": len(entitled), "present": sorted(present), **votes}


def _check(applicant: Applicant, step: Step, day: dt.date, data: dict, steps: list[RecruitStep], note: str) -> dict:
    """Every guard of the step; returns the record's content to keep."""
    earliest, _deadline = _timing(applicant, step, steps)
    if earliest and day < earliest:
        if step.key == "candidate_decide":
            raise ValidationError({"done_on": f"入党积极分子培养教育和考察未满{_rule(applicant, 'recruit_activist_min_months')}个月"
                                              f"(确定为入党积极分子:{_fmt(_anchor(applicant, steps, 'activist_decide'))},"
                                              f"最早可于{_fmt(earliest)}列为发展对象)"})
        raise ValidationError({"done_on": f"“{step.label}”最早可于{_fmt(earliest)}办理(依据:{step.source})"})
    kind, out = step.kind, {}
    if kind == "contacts":
        ids = list(data.get("people") or ())
        most = _rule(applicant, step.rule["max"])
        if not 1 <= len(ids) <= most:
            raise ValidationError({"people": f"应指定1至{most}名培养联系人"})
        out["people"] = [m.pk for m in _full_members(applicant, ids, "people", day)]
    elif kind == "sponsors":
        ids = list(data.get("people") or ())
        n = _rule(applicant, step.rule["count"])
        if len(set(ids)) != n:
            raise ValidationError({"people": f"应有{n}名正式党员作入党介绍人"})
        out["people"] = [m.pk for m in _full_members(applicant, ids, "people", day)]
    elif kind == "training":
        try:
            days, hours = int(data.get("days") or 0), int(data.get("hours") or 0)
        except (TypeError, ValueError):
            raise ValidationError({"days": "天数和学时应为整数"}) from None
        need_d, need_h = _rule(applicant, step.rule["min"]), _rule(applicant, step.rule["min_hours"])
        if days < need_d and hours < need_h:
            raise ValidationError({"days": f"集中培训{days}天、{hours}学时,应不少于{need_d}天或{need_h}学时"})
        out.update(days=days, hours=hours)
    elif kind == "notice":
        start, end = data.get("notice_start"), data.get("notice_end")
        if not isinstance(start, dt.date) or not isinstance(end, dt.date) or end < start:
            raise ValidationError({"notice_start": "请填写公示的起止日期"})
        need = _rule(applicant, step.rule["min"])
        got = workdays.count(start, end)
        if got < need:
            raise ValidationError({"notice_end": f"公示{_fmt(start)}至{_fmt(end)}仅{got}个工作日,应不少于{need}个工作日"})
        if day < end:
            raise ValidationError({"done_on": f"公示期至{_fmt(end)}结束,预审结论应在公示期满后作出"})
        out.update(notice_start=start.isoformat(), notice_end=end.isoformat(), workdays=got)
    elif kind in ("vote", "decision"):
        outcome = _result(step, data.get("outcome") or (None if kind == "decision" else _first(step).key), "outcome")
        out.update(_vote(applicant, step, day, data, passed=outcome.passed))
        out["outcome"] = outcome.key
        if kind == "decision" and outcome.key == "extend":
            lo, hi = _rule(applicant, step.rule["extension_min"]), _rule(applicant, step.rule["extension_max"])
            try:
                months = int(data.get("months") or 0)
            except (TypeError, ValueError):
                months = 0
            already = sum(int(s.data.get("months", 0)) for s in _approved_resolutions(steps)
                          if s.data.get("outcome") == "extend")
            if not lo <= months <= hi or already + months > hi:
                raise ValidationError({"months": f"延长预备期应为{lo}至{hi}个月,累计不超过{hi}个月"
                                                 + (f"(已延长{already}个月)" if already else "")})
            out["months"] = months
    elif kind == "approval":
        vote = _last(steps, step.rule["after"])
        limit = add_months(vote.done_on, _rule(applicant, step.rule["limit"]))
        _e, deadline = _timing(applicant, step, steps)
        if deadline and day > deadline and not note.strip():
            raise ValidationError({"note": f"审批期限为{_fmt(deadline)},逾期审批须说明特殊情况(最长不超过{_fmt(limit)})"})
        out["outcome"] = vote.data.get("outcome", "receive")
        out["result"] = _result(step, data.get("result") or _first(step).key, "result").key
        if day > limit:
            out["beyond_limit"] = True
    elif kind == "application":
        pass
    out.update(_form_content(step, data.get("fields") or {}))
    return out


def _form_content(step: Step, values: dict) -> dict:
    """The record's form (code and version of the library's form) and the fields typed in on
    it: each required one filled, dates valid, text within its length; refused naming each."""
    errors, kept = {}, {}
    for f in step.typed_fields:
        v = values.get(f.key)
        v = v.isoformat() if isinstance(v, dt.date) else str(v or "").strip()
        if not v:
            if f.required:
                errors[f.key] = f"请填写“{f.label}”({step.form.code}《{step.form.title}》)"
            continue
        if f.type == "date":
            try:
                dt.date.fromisoformat(v)
            except ValueError:
                errors[f.key] = f"“{f.label}”应为有效的日期(年-月-日)"
                continue
        most = 2000 if f.type == "rich_text" else 200
        if len(v) > most:
            errors[f.key] = f"“{f.label}”不能超过{most}字"
            continue
        kept[f.key] = v
    if errors:
        raise ValidationError(errors)
    return {"form": {"code": step.form.code, "version": step.form.version}, "fields": kept}


def _approved_resolutions(steps: list[RecruitStep]) -> list[RecruitStep]:
    """The 转正 resolutions (支部大会讨论转正) the higher organisation agreed to — not one sent back."""
    out, pending = [], None
    for s in steps:
        if s.step == "full_vote":
            pending = s
        elif s.step == "full_approve" and pending is not None:
            if (s.data or {}).get("result") == DecisionOutcome.APPROVED:
                out.append(pending)
            pending = None
    return out


def _first(step: Step) -> Outcome:
    return next(iter(process().outcomes[step.key].values()))


def _result(step: Step, key, field: str) -> Outcome:
    """The chosen result of a vote or approval, one of ``recruitment.toml`` [outcomes] for the step."""
    o = process().outcome(step.key, key) if isinstance(key, str) else None
    if o is None:
        labels = "、".join(x.label for x in process().outcomes[step.key].values())
        raise ValidationError({field: f"请选择{'审批结论' if step.kind == 'approval' else '决议'}:{labels}"})
    return o


def _higher_unit(actor, unit: Unit) -> Unit | None:
    """The unit above ``unit`` for which ``actor`` acts (their own officer seat, else the parent)."""
    for s in scopes_for(actor) if actor is not None else ():
        u = Unit.objects.filter(pk=s.unit_id).first()
        if u is not None and s.level == "officer" and unit.path.startswith(u.path) and u.pk != unit.pk:
            return u
    return unit.parent


# ------------------------------------------------------------------ the acts


def _refuse_if_invalid_day(day) -> None:
    if not isinstance(day, dt.date):
        raise ValidationError({"done_on": "请填写办理日期"})
    if day > today():
        raise ValidationError({"done_on": "办理日期不能晚于今天"})


@act("recruitment.apply", unit=lambda unit, **_: unit)
@transaction.atomic
def applicant_register(*, actor, unit: Unit, name: str, gender: str, id_number: str, birth_date: dt.date,
                       applied_on: dt.date, note: str = "") -> Applicant:
    """递交入党申请书 — step 1: the branch registers the application (年满十八岁 checked)."""
    from qms.models import BRANCH_KINDS

    if unit.kind not in BRANCH_KINDS:
        raise ValidationError({"unit": f"入党申请应向党支部提出,“{unit.name}”是{unit.get_kind_display()}"})
    id_number = (id_number or "").strip().upper()
    errors = {}
    if not (name or "").strip():
        errors["name"] = "姓名不能为空"
    if gender not in ("M", "F"):
        errors["gender"] = "性别应为“男”或“女”"
    if problem := qms_services.id_number_problem(id_number):
        errors["id_number"] = problem
    if not isinstance(birth_date, dt.date):
        errors["birth_date"] = "请填写出生日期"
    if errors:
        raise ValidationError(errors)
    _refuse_if_invalid_day(applied_on)
    min_age = rules_for(unit)["recruit_min_age_years"].value
    if age_on(birth_date, applied_on) < min_age:
        raise ValidationError({"birth_date": f"递交申请时未满{min_age}周岁,不能申请入党(依据:{rules_for(unit)['recruit_min_age_years'].source})"})
    if Applicant.objects.filter(id_number=id_number).exclude(stage__in=RECRUIT_ENDS).exists():
        raise ValidationError({"id_number": "此人已有正在办理的入党申请"})
    person = Member.objects.filter(id_number=id_number).first()
    if person is not None:  # the 入党积极分子 created at step 3 would be a second record of the same person
        if person.status == MemberStatus.ACTIVE and person.category in (MemberCategory.FULL, MemberCategory.PROBATIONARY):
            raise ValidationError({"id_number": "此人已是党员"})
        raise ValidationError({"id_number": f"此人已有人员档案({person.get_category_display()},{person.get_status_display()}),"
                                            "不能再登记为新的入党申请人;以往的发展情况见其发展党员记录"})
    a = Applicant.objects.create(unit=unit, name=name.strip(), gender=gender, id_number=id_number, birth_date=birth_date,
                                 applied_on=applied_on, stage_since=applied_on)
    form = process().step("apply").form
    s = RecruitStep.objects.create(applicant=a, step="apply", done_on=applied_on, note=(note or "").strip(), recorded_by=actor,
                                   data={"form": {"code": form.code, "version": form.version}, "fields": {}})
    ledger.record("applicant.create", a, actor=actor)
    ledger.record("recruit_step.create", s, actor=actor)
    flow.begin(a)
    return a


def _do(applicant: Applicant, *, actor, step_key: str, done_on: dt.date, note: str, data: dict,
        by: str, document_no: str = "") -> RecruitStep:
    applicant = Applicant.objects.select_for_update().select_related("unit").get(pk=applicant.pk)
    p = process()
    if step_key not in p.by_key:
        raise ValidationError({"step": "未知的步骤"})
    step = p.step(step_key)
    if applicant.stage in RECRUIT_ENDS:
        raise ValidationError(f"发展程序已结束({applicant.get_stage_display()}),不能再登记步骤")
    if step.by != by:
        raise ValidationError({"step": f"“{step.label}”由{step.by_label}办理"})
    _refuse_if_invalid_day(done_on)
    steps = _done(applicant)
    allowed = [t.step.key for t in todos(applicant, steps)]
    if step_key not in allowed:
        nxt = sequential_next(applicant, steps)
        raise ValidationError({"step": f"“{step.label}”现在不能办理:应先办理“{nxt.label}”" if nxt
                               else f"“{step.label}”现在不能办理"})
    if steps and done_on < steps[-1].done_on and not step.repeat:
        raise ValidationError({"done_on": f"办理日期不能早于上一步骤的日期({_fmt(steps[-1].done_on)})"})
    note, document_no = (note or "").strip(), (document_no or "").strip()
    content = _check(applicant, step, done_on, data, steps, note)
    _e, deadline = _timing(applicant, step, steps)
    higher = _higher_unit(actor, applicant.unit) if by == "higher" else None
    decision = None
    if step.decision:  # an approval is a 上级批复: the one record of a higher organisation's decision
        if not document_no:
            raise ValidationError({"document_no": "审批须填写批复文号"})
        if higher is None:
            raise ValidationError("党支部没有上级党组织,无法登记审批")
        agreed = content["result"] == DecisionOutcome.APPROVED
        decision = qms_services.decision_record(
            actor=actor, unit=applicant.unit, decided_by_unit=higher, kind=step.decision, doc_number=document_no,
            date=done_on, outcome=content["result"],
            text=f"{'同意' if agreed else '不同意'}{applicant.name}:{_decision_text(step, content)}")
        if agreed:
            qms_services.approving_decision(applicant.unit, step.decision, decision)
    rec = RecruitStep.objects.create(
        applicant=applicant, step=step_key, done_on=done_on, note=note, data=content, deadline=deadline,
        days_overdue=max(0, (done_on - deadline).days) if deadline else 0, recorded_by=actor,
        decided_by_unit=higher, document_no=document_no, decision=decision)
    ledger.record("recruit_step.create", rec, actor=actor, reason=note)
    _effects(applicant, step, rec, steps, actor)
    return rec


def _decision_text(step: Step, content: dict) -> str:
    """What the approval is about: the 支部大会's resolution it answers, in its words."""
    if step.key == "approve":
        return "接收为预备党员"
    vote = process().outcome(step.rule["after"], content.get("outcome"))
    return vote.label if vote else ""


def _end_of(step: Step, rec: RecruitStep) -> str:
    """The end stage (``recruitment.toml`` [ends]) a step's result brings, or "".

    A 支部大会 result that did not pass ends the process at once (表决未通过 → 不予接收); a
    resolution that passed and names an end (取消预备党员资格) ends it when the approval after it
    agrees; an approval's own result may end it (不同意接收 → 不予接收)."""
    p, d = process(), rec.data or {}
    if step.kind in ("vote", "decision"):
        o = p.outcome(step.key, d.get("outcome"))
        return o.end if o is not None and o.passed is False else ""
    if step.kind == "approval":
        o = p.outcome(step.key, d.get("result"))
        if o is not None and o.end:
            return o.end
        if o is not None and o.key == DecisionOutcome.APPROVED:
            resolution = p.outcome(step.rule["after"], d.get("outcome"))
            return resolution.end if resolution is not None else ""
    return ""


def _end(applicant: Applicant, end_key: str, step: Step, rec: RecruitStep, actor) -> None:
    """The process ends in ``end_key`` (不予接收, 取消预备党员资格): the stage, the work item, and
    the person on the roster as ``[ends]`` says — kept with a category, or taken off it
    (``qms.services.member_status_change``, 取消预备党员资格; both ledgered)."""
    end = process().ends[end_key]
    getattr(applicant, f"to_{end_key}")()
    applicant.stage_since = rec.done_on
    flow.stop(applicant)
    member = applicant.member
    if member is None:
        return
    why = f"{step.label}:{end.label}"
    if end.off_roster:
        qms_services.member_status_change(member, actor=actor, kind=MemberEventKind.PROBATION_CANCEL, date=rec.done_on,
                                          note=why)
        applicant.member.refresh_from_db()
    elif end.category and member.category != end.category:
        _category(applicant, end.category, rec.done_on, actor, why)


def _effects(applicant: Applicant, step: Step, rec: RecruitStep, steps: list[RecruitStep], actor) -> None:
    """The stage change and the Member's category change a step brings (ledgered)."""
    before = ledger.snapshot(applicant)
    end = _end_of(step, rec)
    if end:
        _end(applicant, end, step, rec, actor)
        applicant.save()
        ledger.record("applicant.stage", applicant, actor=actor, before=before, reason=f"{step.label}:{process().ends[end].label}")
        return
    changed = False
    if step.key in _STAGE_MOVES:
        method, stage_from = _STAGE_MOVES[step.key]
        getattr(applicant, method)()
        applicant.stage_since = rec.done_on
        flow.finish_stage(applicant, stage_from, actor)
        changed = True
    if step.key == "activist_decide":
        applicant.member = qms_services.member_enroll(
            actor=actor, unit=applicant.unit, start=rec.done_on, name=applicant.name, gender=applicant.gender,
            id_number=applicant.id_number, birth_date=applicant.birth_date, category=MemberCategory.ACTIVIST)
    elif step.key == "candidate_decide":
        _category(applicant, MemberCategory.CANDIDATE, rec.done_on, actor, "列为发展对象")
    elif step.key == "approve":
        vote = _last(steps, "vote")
        _category(applicant, MemberCategory.PROBATIONARY, vote.done_on, actor, "接收为预备党员")
        applicant.probation_end = add_months(vote.done_on, _rule(applicant, "recruit_probation_months"))
        changed = True
    elif step.key == "full_approve" and not _sent_back(rec):  # one sent back changes nothing: still 预备党员
        if rec.data.get("outcome") == "extend":
            months = int(_last(steps, "full_vote").data["months"])
            applicant.probation_end = add_months(applicant.probation_end, months)
        else:
            _category(applicant, MemberCategory.FULL, applicant.probation_end, actor, "按期转为正式党员")
        changed = True
    if changed:
        applicant.save()
        ledger.record("applicant.stage", applicant, actor=actor, before=before, reason=step.label)


def _category(applicant: Applicant, category: str, day: dt.date, actor, note: str) -> None:
    qms_services.member_status_change(applicant.member, actor=actor, kind=MemberEventKind.CATEGORY, date=day,
                                      note=note, category=category)
    applicant.member.refresh_from_db()


@act("recruitment.step", unit=lambda applicant, **_: applicant.unit)
@transaction.atomic
def branch_step(applicant: Applicant, *, actor, step: str, done_on: dt.date, note: str = "", **data) -> RecruitStep:
    """党支部办理一个步骤 — in the 细则's order, with the step's checks (see the module)."""
    return _do(applicant, actor=actor, step_key=step, done_on=done_on, note=note, data=data, by="branch")


@act("recruitment.higher", unit=lambda applicant, **_: applicant.unit)
@transaction.atomic
def higher_step(applicant: Applicant, *, actor, step: str, done_on: dt.date, document_no: str = "", note: str = "",
                **data) -> RecruitStep:
    """上级党委办理一个步骤 (预审、谈话、审批、备案) — only someone of a unit above the branch."""
    return _do(applicant, actor=actor, step_key=step, done_on=done_on, note=note, data=data, by="higher",
               document_no=document_no)


def record_step(applicant: Applicant, *, step: str, **kwargs) -> RecruitStep:
    """Either act, as the step's ``by`` says (for pages and the demo); ``kwargs`` carry the
    ``actor`` and the step's record, and each act asks the permission matrix itself."""
    s = process().by_key.get(step)
    if s is None:
        raise ValidationError({"step": "未知的步骤"})
    fn = higher_step if s.by == "higher" else branch_step
    return fn(applicant, step=step, **kwargs)
