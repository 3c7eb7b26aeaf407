"""检查活动总结 — the roll-up for the 总结会 (seed 000 二): per unit, per kind of unit and per
党总支: units in scope, 自查 submitted on time or overdue, sampled and inspected, the mean
self-score and inspected score of the inspected units with their difference, and findings.
As a page, JSON/CSV (``manage.py campaign_summary``), Excel and PDF."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from django.utils import timezone

from audits.campaign.models import Campaign, CampaignUnit, UnitState
from qms import exports
from qms.models import UnitKind


@dataclass
class UnitRow:
    code: str
    name: str
    kind: str
    general_branch: str
    state: str
    submitted_on: str
    sampled: bool
    stratum: str
    team: str
    self_total: Decimal | None
    inspected_total: Decimal | None
    findings: int
    forum_sessions: int
    forum_attendance: int

    @property
    def difference(self) -> Decimal | None:
        if self.self_total is None or self.inspected_total is None:
            return None
        return self.inspected_total - self.self_total


@dataclass
class Group:
    """One line of the roll-up (a kind of unit, a 党总支, or the whole campaign)."""

    name: str
    units: int = 0
    submitted: int = 0
    overdue: int = 0
    sampled: int = 0
    inspected: int = 0
    findings: int = 0
    forum_sessions: int = 0
    forum_attendance: int = 0
    _self: list = field(default_factory=list, repr=False)
    _inspected: list = field(default_factory=list, repr=False)

    def add(self, row: UnitRow) -> None:
        self.units += 1
        self.submitted += row.submitted_on != ""
        self.overdue += row.state == UnitState.OVERDUE.label
        self.sampled += row.sampled
        self.findings += row.findings
        self.forum_sessions += row.forum_sessions
        self.forum_attendance += row.forum_attendance
        if row.inspected_total is not None:
            self.inspected += 1
            self._inspected.append(row.inspected_total)
            if row.self_total is not None:
                self._self.append(row.self_total)

    @staticmethod
    def _mean(values) -> Decimal | None:
        return (sum(values, Decimal(0)) / len(values)).quantize(Decimal("0.1")) if values else None

    @property
    def self_mean(self) -> Decimal | None:
        """Mean self-score of the inspected units that submitted (the comparable ones)."""
        return self._mean(self._self)

    @property
    def inspected_mean(self) -> Decimal | None:
        return self._mean(self._inspected)

    @property
    def difference(self) -> Decimal | None:
        if self.self_mean is None or self.inspected_mean is None:
            return None
        return self.inspected_mean - self.self_mean

    def as_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        out.update(self_mean=_num(self.self_mean), inspected_mean=_num(self.inspected_mean), difference=_num(self.difference))
        return out


@dataclass
class Summary:
    campaign: Campaign
    max_total: Decimal
    rows: list[UnitRow]
    by_kind: list[Group]
    by_branch: list[Group]
    total: Group


def _num(v: Decimal | None) -> float | None:
    return None if v is None else float(v)


def summarise(campaign: Campaign) -> Summary:
    """The roll-up from the campaign's entries (one query for the entries, one for the scores)."""
    entries = list(CampaignUnit.objects.filter(campaign=campaign).select_related("unit", "general_branch", "team")
                   .order_by("unit__path"))
    totals: dict[int, dict[str, Decimal]] = {}
    for entry_id, self_score, inspected in campaign.units.values_list("id", "scores__self_score", "scores__inspected_score"):
        t = totals.setdefault(entry_id, {"self": Decimal(0), "inspected": Decimal(0), "n_self": 0, "n_insp": 0})
        if self_score is not None:
            t["self"] += self_score
            t["n_self"] += 1
        if inspected is not None:
            t["inspected"] += inspected
            t["n_insp"] += 1
    findings: dict[int, int] = {}
    for entry_id in campaign.units.filter(findings__isnull=False).values_list("id", flat=True):
        findings[entry_id] = findings.get(entry_id, 0) + 1
    rows = []
    for e in entries:
        t = totals.get(e.pk, {})
        rows.append(UnitRow(
            code=e.unit.code, name=e.unit.name, kind=str(UnitKind(e.unit.kind).label),
            general_branch=e.general_branch.name if e.general_branch_id else "党委直属", state=str(e.state_label),
            submitted_on=e.submitted_on.isoformat() if e.submitted_on else "", sampled=e.sampled, stratum=e.stratum,
            team=e.team.name if e.team_id else "",
            self_total=t["self"] if t.get("n_self") else None,
            inspected_total=t["inspected"] if t.get("n_insp") and e.state == UnitState.INSPECTED else None,
            findings=findings.get(e.pk, 0), forum_sessions=e.forum_sessions, forum_attendance=e.forum_attendance))
    by_kind: dict[str, Group] = {}
    by_branch: dict[str, Group] = {}
    total = Group("合计")
    for r in rows:
        by_kind.setdefault(r.kind, Group(r.kind)).add(r)
        by_branch.setdefault(r.general_branch, Group(r.general_branch)).add(r)
        total.add(r)
    return Summary(campaign, campaign.max_total, rows, list(by_kind.values()), list(by_branch.values()), total)


def as_dict(s: Summary) -> dict:
    c = s.campaign
    return {
        "campaign": {"id": c.pk, "title": c.title, "root": c.root.code, "state": str(c.state_label),
                     "announced_on": c.announced_on.isoformat(), "deadline": c.deadline.isoformat(),
                     "sample_seed": c.sample_seed, "sample_method": c.sample_method, "max_total": _num(s.max_total)},
        "total": s.total.as_dict(),
        "by_kind": [g.as_dict() for g in s.by_kind],
        "by_general_branch": [g.as_dict() for g in s.by_branch],
        "units": [{**{k: v for k, v in asdict(r).items() if k not in ("self_total", "inspected_total")},
                   "self_total": _num(r.self_total), "inspected_total": _num(r.inspected_total), "difference": _num(r.difference)}
                  for r in s.rows],
    }


def as_json(s: Summary) -> str:
    return json.dumps(as_dict(s), ensure_ascii=False, indent=2)


GROUP_HEAD = ["分组", "名称", "单位数", "已交自查", "逾期未交", "抽中", "已检查", "自评均分", "检查均分", "差值", "检查发现",
              "座谈会场次", "座谈会人次"]


def _group_line(kind: str, g: Group) -> list:
    return [kind, g.name, g.units, g.submitted, g.overdue, g.sampled, g.inspected, _num(g.self_mean), _num(g.inspected_mean),
            _num(g.difference), g.findings, g.forum_sessions, g.forum_attendance]


def group_lines(s: Summary) -> list[list]:
    return ([_group_line("单位类别", g) for g in s.by_kind] + [_group_line("党总支", g) for g in s.by_branch]
            + [_group_line("全部", s.total)])


def as_csv(s: Summary) -> str:
    """The roll-up lines (by kind, by 党总支, total), one header row."""
    return exports.csv_text([GROUP_HEAD, *(["" if v is None else v for v in line] for line in group_lines(s))])


UNIT_HEAD = ["组织编码", "单位", "类别", "所属党总支", "状态", "自查提交日期", "抽中", "抽样层", "检查小组", "自评总分", "检查总分",
             "差值", "检查发现", "座谈会场次", "座谈会人次"]


def xlsx(s: Summary) -> bytes:
    from openpyxl.styles import Font

    wb = exports.workbook()
    ws = wb.active
    ws.title = "汇总"
    ws.append([f"{s.campaign.title} 检查情况汇总(满分 {s.max_total:g} 分)"])
    ws["A1"].font = Font(bold=True)
    ws.append([s.campaign.sample_method or "未抽样"])
    ws.append(GROUP_HEAD)
    for line in group_lines(s):
        ws.append(line)
    units = wb.create_sheet("受检单位")
    units.append(UNIT_HEAD)
    for r in s.rows:
        units.append([r.code, r.name, r.kind, r.general_branch, r.state, r.submitted_on, "是" if r.sampled else "否", r.stratum,
                      r.team, _num(r.self_total), _num(r.inspected_total), _num(r.difference), r.findings, r.forum_sessions,
                      r.forum_attendance])
    for sheet, widths in ((ws, (10, 26, 8, 8, 8, 6, 8, 10, 10, 8, 8, 10, 10)), (units, (14, 22, 12, 18, 12, 12, 6, 28, 12, 10, 10, 8, 8, 10, 10))):
        for n, width in enumerate(widths):
            sheet.column_dimensions[chr(ord("A") + n)].width = width
    return exports.xlsx_bytes(wb)


def pdf(s: Summary) -> bytes:
    from django.conf import settings
    from django.template.loader import render_to_string
    from weasyprint import HTML

    findings = [f.nonconformity for e in s.campaign.units.prefetch_related("findings__nonconformity") for f in e.findings.all()]
    html = render_to_string("audits/campaign/summary_print.html", {"s": s, "c": s.campaign, "findings": findings,
                                                                    "printed_at": timezone.localtime()})
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()
