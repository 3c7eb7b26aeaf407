"""检查活动 services — the only code that changes a campaign (seed 000 二; seed 004 篇2; seed 001 四(四)).

announce (scope, checklist from ``rules/checklist.toml`` or edited, deadline) → every unit in
scope submits its 自查报告 by the deadline (after it: refused; the daily task marks the unit
逾期未提交 and reports it to the level above) → teams of inspectors → a stratified sample of
units drawn with a recorded seed (same seed, same sample), teams assigned, never to their own
unit → inspection records with an inspected score per item → findings as nonconformities
(source 督查) → close with the summary (``audits.campaign.summary``).

Who may is the permission matrix's (``campaign.*`` in qms/rules/permissions.toml). Each call is
one transaction with its ledger entries; a refusal leaves nothing half-saved.
"""
from __future__ import annotations

import datetime as dt
import math
import mimetypes
import random
import tomllib
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from audits.campaign.models import (
    Campaign,
    CampaignItem,
    CampaignState,
    CampaignUnit,
    Finding,
    ItemScore,
    Plan,
    SelfEvidence,
    Team,
    UnitState,
)
from audits.capa.models import Grade, NCSource
from audits.capa.services import nc_raise
from audits.internal.services import own_units
from qms import ledger
from qms.citations import cite
from qms.models import OFFICER_TITLES, Position, Role, RoleGrant, Unit, UnitKind
from qms.notify import holders, notify
from qms.permissions import act
from qms.rules import rule_value
from qms.services import read_upload
from qms.uploads import check as check_upload

LEADERS = ("secretary", "deputy_secretary")
CHECKLIST = Path(__file__).resolve().parent / "rules" / "checklist.toml"
PLAN = Path(__file__).resolve().parent / "rules" / "plan.toml"
CONFLICT = "该单位已被他人处理,请刷新页面后重试"


@cache
def default_checklist() -> dict:
    """The shipped checklist (``rules/checklist.toml``): name, source, default scope kinds, items."""
    return tomllib.loads(CHECKLIST.read_text(encoding="utf-8"))


@cache
def plan_spec() -> dict:
    """The shipped stages of a three-year plan (``rules/plan.toml``): 整治, 提升, 巩固."""
    return tomllib.loads(PLAN.read_text(encoding="utf-8"))


def stage_of(key: str) -> dict | None:
    return next((s for s in plan_spec()["stages"] if s["key"] == key), None)


def stage_year(plan: Plan, key: str) -> int:
    return plan.start_year + stage_of(key)["year"] - 1


@act("campaign.plan", unit=lambda root, **_: root)
@transaction.atomic
def plan_create(*, actor, root: Unit, title: str, start_year: int) -> Plan:
    """制定三年整治计划 — its stages are the shipped ones, one a year from ``start_year``; each
    stage is run as a campaign announced in its year."""
    if not (title or "").strip():
        raise ValidationError("请填写计划名称")
    this_year = timezone.localdate().year
    if not this_year - 2 <= start_year <= this_year + 1:
        raise ValidationError(f"起始年度须在 {this_year - 2} 至 {this_year + 1} 年之间")
    p = Plan.objects.create(title=title.strip()[:120], root=root, start_year=start_year, source=plan_spec()["source"],
                            created_by=actor)
    ledger.record("campaign_plan.create", p, actor=actor)
    return p


def scope_units(root: Unit, kinds) -> list[Unit]:
    """The active units below ``root`` of the chosen kinds, in tree order."""
    return list(Unit.objects.filter(path__startswith=root.path, kind__in=list(kinds), is_active=True)
                .exclude(pk=root.pk).order_by("path"))


def general_branch_of(unit: Unit, root: Unit) -> Unit | None:
    """The 党总支 a unit belongs to (itself for a 党总支), or None directly under the committee."""
    if unit.kind == UnitKind.GENERAL_BRANCH:
        return unit
    return (unit.ancestors().filter(kind=UnitKind.GENERAL_BRANCH, path__startswith=root.path).order_by("-depth").first())


def inspectors_of(root: Unit, day: dt.date | None = None):
    """The committee's staff who may serve on a 检查小组 (seed 004 篇2: 基层党委书记和党务部门负责人
    组成考评组): 体系管理员 and 内审员 whose grant covers the committee, and the 书记/委员 of the
    committee and of the units below it, on the day."""
    day = day or timezone.localdate()
    above = [int(p) for p in root.path.strip("/").split("/") if p]
    grants = (RoleGrant.objects.filter(role__in=(Role.ADMIN, Role.INTERNAL_AUDITOR), unit_id__in=above, valid_from__lte=day)
              .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=day)).values("user_id"))
    officers = (Position.objects.filter(title__in=OFFICER_TITLES, unit__path__startswith=root.path, start__lte=day,
                                        member__user__isnull=False)
                .filter(Q(end__isnull=True) | Q(end__gte=day)).values("member__user_id"))
    return (get_user_model().objects.filter(is_active=True).filter(Q(pk__in=grants) | Q(pk__in=officers))
            .order_by("username"))


def _score(raw, item: CampaignItem) -> Decimal:
    """A score on ``item``: a number from 0 to its 分值, refused otherwise."""
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(f"第{item.order}项“{item.text[:20]}”:请填写得分") from None
    if not value.is_finite() or not Decimal(0) <= value <= item.max_score:
        raise ValidationError(f"第{item.order}项“{item.text[:20]}”的得分须在 0 至 {item.max_score:g} 分之间(填写的是 {raw})")
    return value.quantize(Decimal("0.1"))


def _clean_items(rows) -> list[dict]:
    out = []
    for n, row in enumerate(rows, 1):
        text, source = (row.get("text") or "").strip(), (row.get("source") or "").strip()
        if not text or not source:
            raise ValidationError(f"检查表第{n}项须写明检查内容和依据")
        try:
            points = Decimal(str(row.get("max_score")))
        except (InvalidOperation, ValueError):
            raise ValidationError(f"检查表第{n}项:请填写分值") from None
        if not points.is_finite() or not Decimal(0) < points <= Decimal(100):
            raise ValidationError(f"检查表第{n}项的分值须大于 0、不超过 100 分")
        out.append({"text": text[:300], "source": source[:300], "max_score": points.quantize(Decimal("0.1"))})
    if not out:
        raise ValidationError("检查表至少要有一个检查项")
    return out


# ------------------------------------------------------------------------------ announcing


@act("campaign.announce", unit=lambda root, **_: root)
@transaction.atomic
def campaign_announce(*, actor, root: Unit, title: str, deadline: dt.date, kinds=None, items=None,
                      plan: Plan | None = None, stage: str = "", today: dt.date | None = None) -> Campaign:
    """发布检查活动 — title, the kinds of unit below the committee in scope, the checklist (the
    shipped one unless ``items`` is given) and the 自查报告 deadline; optionally one stage of a
    three-year plan of the same committee, announced in that stage's year. Each unit in scope
    gets its entry and its leaders are told."""
    today = today or timezone.localdate()
    spec = default_checklist()
    kinds = list(kinds) if kinds else list(spec["scope_kinds"])
    if not (title or "").strip():
        raise ValidationError("请填写活动名称")
    if deadline < today:
        raise ValidationError("自查报告截止日期不能早于今天")
    bad = [k for k in kinds if k not in UnitKind.values or k == UnitKind.COMMITTEE]
    if bad:
        raise ValidationError("受检组织类别只能是党总支、党支部、联合党支部、临时党支部或党小组")
    rows = _clean_items(items if items is not None else spec["items"])
    if plan is not None or stage:
        if plan is None or stage_of(stage) is None:
            raise ValidationError("请选择计划及其阶段(整治、提升或巩固)")
        if plan.root_id != root.pk:
            raise ValidationError("只能作为本组织计划的一个阶段")
        if stage_year(plan, stage) != today.year:
            raise ValidationError(f"“{stage_of(stage)['name']}”阶段在 {stage_year(plan, stage)} 年,不能在 {today.year} 年发布")
        if plan.campaigns.filter(stage=stage).exists():
            raise ValidationError(f"该计划的“{stage_of(stage)['name']}”阶段已有检查活动")
    units = scope_units(root, kinds)
    if not units:
        raise ValidationError(f"{root.name}下没有所选类别的组织")
    c = Campaign.objects.create(title=title.strip(), root=root, scope_kinds=kinds, deadline=deadline, announced_on=today,
                                announced_by=actor, checklist_name=spec["name"] if items is None else "本次活动检查表",
                                checklist_source=spec["source"], plan=plan, stage=stage or "")
    ledger.record("campaign.announce", c, actor=actor)
    for n, row in enumerate(rows, 1):
        item = CampaignItem.objects.create(campaign=c, order=n, **row)
        ledger.record("campaign_item.add", item, actor=actor)
    for unit in units:
        e = CampaignUnit.objects.create(campaign=c, unit=unit, general_branch=general_branch_of(unit, root))
        ledger.record("campaign_unit.create", e, actor=actor)
        for user in holders(unit, LEADERS):
            notify(user, key=f"campaign:{c.pk}:{unit.pk}:announced", url=reverse("campaign_entry", args=[c.pk, e.pk]),
                   title=f"{c.title}:请于 {deadline:%Y-%m-%d} 前提交本单位自查报告")
    return c


@act("campaign.checklist", unit=lambda campaign, **_: campaign.root)
@transaction.atomic
def checklist_set(campaign: Campaign, *, actor, items) -> list[CampaignItem]:
    """修改本次活动的检查表 — until the first 自查报告 is in (the scores refer to the items)."""
    c = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if c.units.exclude(state__in=(UnitState.PENDING, UnitState.OVERDUE)).exists():
        raise ValidationError("已有单位提交自查报告,检查表不能再修改")
    rows = _clean_items(items)
    for old in c.items.all():
        ledger.record("campaign_item.remove", old, actor=actor, before=ledger.snapshot(old), after=None)
        old.delete()
    out = []
    for n, row in enumerate(rows, 1):
        item = CampaignItem.objects.create(campaign=c, order=n, **row)
        ledger.record("campaign_item.add", item, actor=actor)
        out.append(item)
    before = ledger.snapshot(c)
    c.checklist_name = "本次活动检查表"
    c.save(update_fields=["checklist_name"])
    ledger.record("campaign.update", c, actor=actor, before=before)
    return out


# ------------------------------------------------------------------------------ 自查


def _store(entry: CampaignUnit, upload, actor) -> SelfEvidence:
    name, ext, data, digest = read_upload(upload)
    ev = SelfEvidence(entry=entry, name=name, content_type=mimetypes.types_map.get(ext, "application/octet-stream"),
                      size=len(data), sha256=digest, uploaded_by=actor)
    ev.file.save(f"{digest}{ext}", ContentFile(data), save=False)
    ev.save()
    ledger.record("campaign_evidence.add", ev, actor=actor)
    return ev


@act("campaign.self_assess", unit=lambda entry, **_: entry.unit)
@transaction.atomic
def self_assess_submit(entry: CampaignUnit, *, actor, report: str, scores: dict, notes: dict | None = None,
                       uploads=(), today: dt.date | None = None) -> CampaignUnit:
    """提交自查报告 — a self-score for every item (0 to its 分值), the report text and evidence
    files (checked as every upload is). After the deadline it is refused: the unit is 逾期 and
    reported to the level above (README: refused, not accepted with a flag)."""
    today = today or timezone.localdate()
    e = CampaignUnit.objects.select_for_update().select_related("campaign").get(pk=entry.pk)
    c = e.campaign
    if e.state != UnitState.PENDING:
        raise ValidationError("本单位的自查报告已提交" if e.state in (UnitState.SUBMITTED, UnitState.INSPECTED)
                              else f"自查报告截止日期为 {c.deadline:%Y-%m-%d},已逾期,不能再提交")
    if today > c.deadline:
        raise ValidationError(f"自查报告截止日期为 {c.deadline:%Y-%m-%d},已逾期,不能再提交;逾期情况已报上级组织")
    if c.state != CampaignState.SELF_CHECK:
        raise ValidationError("检查活动已进入抽查阶段,不能再提交自查报告")
    if not (report or "").strip():
        raise ValidationError("请填写自查报告(自查情况、存在问题和整改措施)")
    uploads = [check_upload(u) for u in uploads]  # every file checked before anything is stored
    notes = notes or {}
    items = list(c.items.order_by("order", "id"))
    missing = [str(i.order) for i in items if str(scores.get(i.pk, "") if scores.get(i.pk) is not None else "").strip() == ""]
    if missing:
        raise ValidationError(f"请为每个检查项自评打分(第{'、'.join(missing)}项未填)")
    values = {i.pk: _score(scores[i.pk], i) for i in items}
    before = ledger.snapshot(e)
    for i in items:
        s = ItemScore.objects.create(entry=e, item=i, self_score=values[i.pk], self_note=(notes.get(i.pk) or "").strip())
        ledger.record("campaign_score.self", s, actor=actor)
    for upload in uploads:
        _store(e, upload, actor)
    e.report, e.submitted_on, e.submitted_by = report.strip(), today, actor
    e.submit()
    e.save()
    ledger.record("campaign_unit.submit", e, actor=actor, before=before)
    return e


def escalate_overdue(today: dt.date | None = None) -> int:
    """Daily (``audits.campaign_escalate``): units that have not submitted are reminded
    ``campaign_reminder_days`` before the deadline; after it they are marked 逾期未提交 and,
    ``campaign_escalation_days`` past it, reported to the leaders of the unit above and to the
    campaign's announcer — each once. Returns the notifications sent."""
    today = today or timezone.localdate()
    sent = 0
    pending = (CampaignUnit.objects.filter(state__in=(UnitState.PENDING, UnitState.OVERDUE),
                                           campaign__state=CampaignState.SELF_CHECK)
               .select_related("campaign", "unit", "unit__parent"))
    for e in pending:
        c = e.campaign
        url = reverse("campaign_entry", args=[c.pk, e.pk])
        if e.state == UnitState.PENDING and today <= c.deadline:
            if (c.deadline - today).days <= rule_value(e.unit, "campaign_reminder_days"):
                for user in holders(e.unit, LEADERS):
                    sent += notify(user, key=f"campaign:{c.pk}:{e.unit_id}:remind", url=url, level="warning",
                                   title=f"{c.title}:自查报告将于 {c.deadline:%Y-%m-%d} 截止,本单位尚未提交")
            continue
        if e.state == UnitState.PENDING:
            with transaction.atomic():
                row = CampaignUnit.objects.select_for_update().get(pk=e.pk)
                if row.state == UnitState.PENDING:
                    before = ledger.snapshot(row)
                    row.miss()
                    row.save()
                    ledger.record("campaign_unit.miss", row, actor=None, before=before)
        if (today - c.deadline).days < rule_value(e.unit, "campaign_escalation_days"):
            continue
        title = f"{c.title}:{e.unit.name}逾期未提交自查报告(截止 {c.deadline:%Y-%m-%d})"
        told = holders(e.unit.parent, LEADERS) if e.unit.parent_id else []
        if c.announced_by_id and c.announced_by not in told:
            told.append(c.announced_by)
        for user in told:
            sent += notify(user, key=f"campaign:{c.pk}:{e.unit_id}:overdue", url=url, level="danger", title=title)
    return sent


# ------------------------------------------------------------------------------ 检查组 and sampling


def _team_members(campaign: Campaign, leader, members) -> list:
    people = [leader, *[m for m in members if m != leader]]
    staff = set(inspectors_of(campaign.root).values_list("pk", flat=True))
    outsiders = [p for p in people if p.pk not in staff]
    if outsiders:
        from qms.people import person

        raise ValidationError(f"检查组成员须为{campaign.root.name}的党务工作人员(书记、委员、体系管理员或内审员):"
                              + "、".join(person(p) for p in outsiders))
    return people


@act("campaign.team", unit=lambda campaign, **_: campaign.root)
@transaction.atomic
def team_create(campaign: Campaign, *, actor, name: str, leader, members=()) -> Team:
    """成立检查小组 — a leader and members from the committee's staff."""
    if campaign.state == CampaignState.CLOSED:
        raise ValidationError("检查活动已总结")
    if not (name or "").strip():
        raise ValidationError("请填写小组名称")
    if leader is None:
        raise ValidationError("请选择组长")
    if campaign.teams.filter(name=name.strip()).exists():
        raise ValidationError(f"已有名为“{name.strip()}”的检查小组")
    people = _team_members(campaign, leader, members)
    t = Team.objects.create(campaign=campaign, name=name.strip()[:60], leader=leader)
    t.members.set(people)
    ledger.record("campaign_team.create", t, actor=actor)
    return t


def stratum_of(entry: CampaignUnit) -> str:
    """抽样层 — the unit's kind and its 党总支 (党委直属 when none)."""
    where = entry.general_branch.name if entry.general_branch_id else "党委直属"
    return f"{UnitKind(entry.unit.kind).label} · {where}"


def allocate(sizes: dict[str, int], n: int, minimum: int) -> dict[str, int]:
    """How many to draw from each stratum: proportional to its size (largest remainder), at
    least ``minimum`` from every stratum that has units, never more than it has."""
    total = sum(sizes.values())
    if not total:
        return {}
    n = min(n, total)
    quota = {k: n * v / total for k, v in sizes.items()}
    out = {k: min(v, max(minimum, math.floor(quota[k]))) for k, v in sizes.items() if v}
    while sum(out.values()) < n:
        k = max((k for k in out if out[k] < sizes[k]), key=lambda k: (quota[k] - out[k], -len(k), k))
        out[k] += 1
    return out


def own_unit_conflicts(users, unit: Unit, root: Unit, day: dt.date, *, viewer=None) -> list[str]:
    """Nobody inspects their own unit: a unit they belong to or hold office in, one containing
    it (their 党总支) or one below it (a 党总支 secretary and its branches). Offices of the
    committee running the campaign, and above it, do not count — its staff inspect its units.
    The inspector's own unit is named only where ``viewer`` (who is told) may see it."""
    from qms.people import person
    from qms.scoping import can_see

    out = []
    for user in users:
        for own in own_units(user, day):
            if root.path.startswith(own.path):
                continue
            if unit.path.startswith(own.path) or own.path.startswith(unit.path):
                where = f"“{own.name}”" if viewer is None or can_see(viewer, own) else "该单位"
                out.append(f"{person(user)} 属于或任职于{where},不能检查“{unit.name}”")
    return sorted(set(out))


def _assign(team_order: list[Team], entry: CampaignUnit, start: int, day: dt.date) -> Team:
    for step in range(len(team_order)):
        team = team_order[(start + step) % len(team_order)]
        if not own_unit_conflicts(list(team.members.all()), entry.unit, entry.campaign.root, day):
            return team
    raise ValidationError(f"每个检查小组都有成员属于或任职于“{entry.unit.name}”,无法回避,请调整检查小组")


@act("campaign.sample", unit=lambda campaign, **_: campaign.root)
@transaction.atomic
def sample_draw(campaign: Campaign, *, actor, seed: int, size: int | None = None, percent: int | None = None,
                today: dt.date | None = None) -> list[CampaignUnit]:
    """抽取受检单位 — stratified by unit kind and 党总支; ``size`` units, or ``percent`` of those
    in scope (the organisation's ``campaign_sample_percent`` when neither is given), each stratum
    with units giving at least ``campaign_stratum_minimum``. A random generator seeded by (seed,
    stratum) draws within each stratum, so the same seed always gives the same sample. Teams are
    assigned in turn, each skipping a unit one of its members belongs to. The inspection builds
    on the 自查 (seed 000 二: 在各单位自查基础上): drawing waits for the deadline, and units still
    without a report are then marked 逾期未提交. Redrawing is allowed until the first inspection
    is recorded; the campaign enters 抽查阶段."""
    today = today or timezone.localdate()
    c = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if c.state == CampaignState.CLOSED:
        raise ValidationError("检查活动已总结")
    if today <= c.deadline:
        raise ValidationError(f"自查报告截止日期为 {c.deadline:%Y-%m-%d},截止后才能抽样")
    if c.units.filter(state=UnitState.INSPECTED).exists():
        raise ValidationError("已有检查记录,不能重新抽样")
    teams = list(c.teams.order_by("pk"))
    if not teams:
        raise ValidationError("请先成立检查小组")
    entries = list(c.units.select_related("unit", "general_branch").order_by("unit__path"))
    if percent is None and size is None:
        percent = rule_value(c.root, "campaign_sample_percent")
    if size is not None and size < 1:
        raise ValidationError("抽查单位数至少为 1")
    if percent is not None and not 0 < percent <= 100:
        raise ValidationError("抽查比例须在 1% 至 100% 之间")
    n = size if size is not None else math.ceil(len(entries) * percent / 100)
    if n > len(entries):
        raise ValidationError(f"抽查单位数 {n} 超过受检单位总数 {len(entries)}")
    strata: dict[str, list[CampaignUnit]] = {}
    for e in entries:
        strata.setdefault(stratum_of(e), []).append(e)
    minimum = rule_value(c.root, "campaign_stratum_minimum")
    counts = allocate({k: len(v) for k, v in strata.items()}, n, minimum)
    before = ledger.snapshot(c)
    for e in entries:
        if e.state == UnitState.PENDING:
            b = ledger.snapshot(e)
            e.miss()
            e.save()
            ledger.record("campaign_unit.miss", e, actor=actor, before=b)
        if e.sampled or e.team_id:
            b = ledger.snapshot(e)
            e.sampled, e.stratum, e.team = False, "", None
            e.save(update_fields=["sampled", "stratum", "team"])
            ledger.record("campaign_unit.unsample", e, actor=actor, before=b)
    drawn = []
    for key in sorted(strata):
        rng = random.Random(f"{seed}:{key}")
        drawn += rng.sample(strata[key], counts[key])
    drawn.sort(key=lambda e: e.unit.path)
    for i, e in enumerate(drawn):
        b = ledger.snapshot(e)
        e.sampled, e.stratum, e.team = True, stratum_of(e), _assign(teams, e, i, today)
        e.save(update_fields=["sampled", "stratum", "team"])
        ledger.record("campaign_unit.sample", e, actor=actor, before=b)
    how = f"按比例 {percent}%" if size is None else f"指定 {size} 个"
    c.sample_seed, c.sample_size = seed, len(drawn)
    c.sample_method = (f"按单位类别和所属党总支分层随机抽样({how},共 {len(entries)} 个单位分 {len(strata)} 层,"
                       f"每层至少 {minimum} 个),抽中 {len(drawn)} 个,随机种子 {seed}")[:300]
    if c.state == CampaignState.SELF_CHECK:
        c.start_inspection()
    c.save()
    ledger.record("campaign.sample", c, actor=actor, before=before)
    return drawn


@act("campaign.sample", unit=lambda entry, **_: entry.campaign.root)
@transaction.atomic
def team_assign(entry: CampaignUnit, team: Team, *, actor) -> CampaignUnit:
    """调整检查小组 — refused when a member of the team belongs to or holds office in the unit
    (or a unit above or below it): nobody inspects their own unit."""
    e = CampaignUnit.objects.select_for_update().select_related("unit", "campaign__root").get(pk=entry.pk)
    if team.campaign_id != e.campaign_id:
        raise ValidationError("该检查小组不属于本次活动")
    if not e.sampled:
        raise ValidationError("该单位未被抽中")
    if e.state == UnitState.INSPECTED:
        raise ValidationError("该单位已检查,不能调整检查小组")
    conflicts = own_unit_conflicts(list(team.members.all()), e.unit, e.campaign.root, timezone.localdate(), viewer=actor)
    if conflicts:
        raise ValidationError("检查人员须回避本单位:" + ";".join(conflicts))
    before = ledger.snapshot(e)
    e.team = team
    e.save(update_fields=["team"])
    ledger.record("campaign_unit.assign", e, actor=actor, before=before)
    return e


# ------------------------------------------------------------------------------ inspection


def team_duty(actor, entry: CampaignUnit) -> set[str]:
    """``audit_team`` for a member of the team the unit is assigned to."""
    if actor is None or getattr(actor, "pk", None) is None:
        return set()
    return {"audit_team"} if Team.objects.filter(units__pk=entry.pk, members__pk=actor.pk).exists() else set()


def _count(value, label: str) -> int:
    try:
        n = int(value or 0)
    except (TypeError, ValueError):
        raise ValidationError(f"{label}须为整数") from None
    if n < 0:
        raise ValidationError(f"{label}不能为负数")
    return n


@act("campaign.inspect", unit=lambda entry, **_: entry.unit, duties=lambda entry, actor, **_: team_duty(actor, entry))
@transaction.atomic
def inspection_record(entry: CampaignUnit, *, actor, visited_on: dt.date, visit_notes: str, archive_notes: str,
                      forum_sessions=0, forum_attendance=0, forum_notes: str = "", questionnaires_issued=0,
                      questionnaires_returned=0, questionnaires_satisfied=0, scores: dict, notes: dict | None = None) -> CampaignUnit:
    """登记检查记录 — 实地走访 (date, what was seen), 查阅档案, 座谈会 (sessions and attendance),
    questionnaires (issued, returned, satisfied) and an inspected score per item (0 to its 分值).
    May be corrected until the campaign is closed."""
    e = CampaignUnit.objects.select_for_update().select_related("campaign", "unit").get(pk=entry.pk)
    c = e.campaign
    if c.state != CampaignState.INSPECTION:
        raise ValidationError("检查活动不在抽查阶段")
    if not e.sampled:
        raise ValidationError("该单位未被抽中,不能登记检查记录")
    if visited_on is None or visited_on > timezone.localdate() or visited_on < c.announced_on:
        raise ValidationError(f"实地走访日期须在活动发布({c.announced_on:%Y-%m-%d})之后、不晚于今天")
    if not (visit_notes or "").strip() or not (archive_notes or "").strip():
        raise ValidationError("请填写实地走访情况和查阅档案情况")
    sessions, people = _count(forum_sessions, "座谈会场次"), _count(forum_attendance, "座谈会参加人次")
    if sessions and not people:
        raise ValidationError("召开了座谈会,请填写参加人次")
    if people and not sessions:
        raise ValidationError("有座谈会参加人次,请填写座谈会场次")
    issued, returned = _count(questionnaires_issued, "发放问卷份数"), _count(questionnaires_returned, "收回问卷份数")
    satisfied = _count(questionnaires_satisfied, "满意问卷份数")
    if returned > issued or satisfied > returned:
        raise ValidationError("问卷份数有误:收回不能多于发放,满意不能多于收回")
    notes = notes or {}
    items = list(c.items.order_by("order", "id"))
    missing = [str(i.order) for i in items if scores.get(i.pk) is None or str(scores.get(i.pk)).strip() == ""]
    if missing:
        raise ValidationError(f"请为每个检查项评定检查得分(第{'、'.join(missing)}项未填)")
    values = {i.pk: _score(scores[i.pk], i) for i in items}
    for i in items:
        s, created = ItemScore.objects.get_or_create(entry=e, item=i)
        b = None if created else ledger.snapshot(s)
        s.inspected_score, s.inspected_note = values[i.pk], (notes.get(i.pk) or "").strip()
        s.save()
        ledger.record("campaign_score.inspect", s, actor=actor, before=b)
    before = ledger.snapshot(e)
    e.visited_on, e.visit_notes, e.archive_notes = visited_on, visit_notes.strip(), archive_notes.strip()
    e.forum_sessions, e.forum_attendance, e.forum_notes = sessions, people, (forum_notes or "").strip()
    e.questionnaires_issued, e.questionnaires_returned, e.questionnaires_satisfied = issued, returned, satisfied
    e.inspected_by = actor
    if e.state != UnitState.INSPECTED:
        e.inspect()
    e.save()
    ledger.record("campaign_unit.inspect", e, actor=actor, before=before)
    return e


@act("campaign.finding", unit=lambda entry, **_: entry.unit, duties=lambda entry, actor, **_: team_duty(actor, entry))
@transaction.atomic
def finding_raise(entry: CampaignUnit, *, actor, item: CampaignItem | None, grade: str, evidence: str) -> Finding:
    """检查发现 → 不符合项 (source 督查), citing the item and its rule, in the same register and
    corrective-action machine as every other finding."""
    e = CampaignUnit.objects.select_related("campaign", "unit").get(pk=entry.pk)
    c = e.campaign
    if c.state != CampaignState.INSPECTION:
        raise ValidationError("检查活动不在抽查阶段")
    if not e.sampled:
        raise ValidationError("该单位未被抽中")
    if item is not None and item.campaign_id != c.pk:
        raise ValidationError("该检查项不属于本次活动")
    if grade not in (Grade.MAJOR, Grade.MINOR, Grade.OBSERVATION):
        raise ValidationError("请选择等级(严重不符合、一般不符合或观察项)")
    clause = f"检查表第{item.order}项" if item is not None else "检查活动"
    requirement = f"{item.text}(依据:{cite(item.source)})" if item is not None else c.title
    nc = nc_raise(actor=actor, unit=e.unit, source=NCSource.SPOT_CHECK, grade=grade, clause=clause,
                  requirement=requirement, evidence=f"{c.title}:{(evidence or '').strip()}" if (evidence or "").strip() else "")
    f = Finding.objects.create(entry=e, item=item, nonconformity=nc)
    ledger.record("campaign_finding.raise", f, actor=actor)
    return f


@act("campaign.close", unit=lambda campaign, **_: campaign.root)
@transaction.atomic
def campaign_close(campaign: Campaign, *, actor, conclusion: str) -> Campaign:
    """总结 — every sampled unit has its inspection record; the conclusion for the 总结会."""
    c = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if c.state != CampaignState.INSPECTION:
        raise ValidationError("只有抽查阶段的活动可以总结")
    left = c.units.filter(sampled=True).exclude(state=UnitState.INSPECTED).count()
    if left:
        raise ValidationError(f"还有 {left} 个抽中单位未登记检查记录")
    if not (conclusion or "").strip():
        raise ValidationError("请填写检查总结")
    before = ledger.snapshot(c)
    c.conclusion = conclusion.strip()
    c.close()
    c.save()
    ledger.record("campaign.close", c, actor=actor, before=before)
    return c
