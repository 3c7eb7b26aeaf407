"""The rules ``audits`` makes act, for the rule catalogue (``qms.catalogue``): the indicators, the
organisation's objectives for the year, its scoring scheme and the annual statistics form."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from audits.performance import annual, indicators, scoring
from audits.performance.models import Objective, ScoringScheme
from procedures.library_loader import library_targets
from qms.catalogue import Entry, checked_sites, origin_of
from qms.models import PositionTitle, Unit, UnitKind


def _kinds_text(kinds) -> str:
    return "、".join(str(UnitKind(k).label) for k in kinds if k in UnitKind.values)


def indicator_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    sites = checked_sites(("audits.performance.indicators.measure", "_ROWS"))
    for key, spec in indicators.rules()["indicators"].items():
        known = spec["kind"] in indicators._ROWS
        docs = "、".join(spec.get("documents", ())) or "全部程序"
        value = {"compliance": f"已开展 ÷ 应开展({docs}" + (",按期完成" if spec.get("on_time") else "") + ")",
                 "rectification": "已整改 ÷ 问题数(观察项除外)", "rectification_on_time": "按期整改 ÷ 已到期问题数",
                 "dues": "按月足额交纳的人月 ÷ 应交人月", "audit_coverage": "本年已审核的党支部 ÷ 党支部数"}.get(spec["kind"], "—")
        yield Entry(key=f"indicator:{key}", kind="indicator", title=spec["name"], value=value,
                    source=spec["source"], origin=origin_of(spec["source"])[0],
                    enforced=("indicator",) if sites and known else (), where=sites,
                    inert="" if known else f"没有“{spec['kind']}”这种指标的计算方法")


def objective_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """方针目标: the organisation's objectives of this year where it has them, else the manual's."""
    year = dt.date.today().year
    sites = checked_sites(("audits.performance.scoring.objectives_status", "indicators"))
    known = set(indicators.rules()["indicators"])
    own = list(Objective.objects.filter(root=unit, year=year).order_by("pk"))
    countable = scoring.countable_items()
    if own:
        specs = [{"indicator": o.indicator, "title": o.title, "comparator": o.comparator, "target": o.target,
                  "count": o.count_target if o.count_key else None, "source": o.source, "own": True} for o in own]
    else:
        specs = [{**t, "own": False} for t in library_targets()]
    for t in specs:
        count = t.get("count")
        ok = t["indicator"].removeprefix(scoring.COUNT_PREFIX) in countable if count is not None else t["indicator"] in known
        origin, detail = origin_of(t["source"], overridden_by=unit.name if t["own"] else None)
        if t["own"]:
            detail = f"{unit.name} {year} 年目标"
        yield Entry(key=f"objective:{t['indicator']}", kind="objective", title=t["title"],
                    value=f"{'≥' if t['comparator'] == 'ge' else '≤'}" + (f"{count:g}" if count is not None else f"{t['target']}%"),
                    source=t["source"],
                    origin=origin if not t["own"] else ("default" if origin == "default" else "override"),
                    origin_detail=detail, enforced=("indicator",) if sites and ok else (), where=sites,
                    inert="" if ok else f"目标所用的指标“{t['indicator']}”不存在")


def score_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """考核: the organisation's scheme of this year where it has one, else the shipped scheme."""
    year = dt.date.today().year
    sites = checked_sites(("audits.performance.scoring.ranking", "points"))
    scheme = ScoringScheme.objects.filter(root=unit, year=year).first()
    if scheme is not None:
        items = [{"title": i.title, "points": i.points, "indicator": i.indicator, "source": i.source, "kinds": i.kinds}
                 for i in scheme.items.order_by("order", "pk")]
        source, detail, own = scheme.source, f"{unit.name} {year} 年考核方案", True
    else:
        spec = indicators.rules()["scheme"]
        items, source, detail, own = spec["items"], spec["source"], "", False
    known = set(indicators.rules()["indicators"])
    spec = indicators.rules()["scheme"]
    rounds = scheme.rounds if scheme is not None and scheme.rounds else spec["rounds"]
    rounds_source = (scheme.rounds_source if scheme is not None and scheme.rounds_source else spec["rounds_source"])
    kinds = scheme.scored_kinds if scheme is not None and scheme.scored_kinds else spec["scored_kinds"]
    kinds_source = (scheme.scored_kinds_source if scheme is not None and scheme.scored_kinds_source else spec["scored_kinds_source"])
    round_sites = checked_sites(("audits.performance.scoring.round_dates", "scheme.rounds"))
    yield Entry(key="score:rounds", kind="score", title="考核轮次",
                value="、".join(f"{r['name']}({r['from']}–{r['to']}月)" for r in rounds), source=rounds_source,
                origin="override" if own and scheme.rounds else origin_of(rounds_source)[0], origin_detail=detail,
                enforced=("score",) if round_sites else (), where=round_sites)
    kind_sites = checked_sites(("audits.performance.scoring.scored_units", "scored_kinds"))
    yield Entry(key="score:kinds", kind="score", title="被考核的组织类别", value=_kinds_text(kinds), source=kinds_source,
                origin="override" if own and scheme.scored_kinds else origin_of(kinds_source)[0], origin_detail=detail,
                enforced=("score",) if kind_sites else (), where=kind_sites)
    for n, item in enumerate(items, 1):
        how = f"按指标“{indicators.names()[item['indicator']]}”计算" if item.get("indicator") in known else "督查人员评分"
        origin = "override" if own else origin_of(source)[0]
        only = f",仅{_kinds_text(item['kinds'])}" if item.get("kinds") else ""
        yield Entry(key=f"score:{n}", kind="score", title=item["title"], value=f"{item['points']} 分,{how}{only}",
                    source=item.get("source") or source, origin=origin, origin_detail=detail,
                    enforced=("score",) if sites else (), where=sites)


def grade_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """考核等次与结果运用 (seed 001 四(三)): the grades, the 优秀 gate on a head's appraisal, 评先评优."""
    from audits.performance import grades

    data = grades.grade_data()
    fix_sites = checked_sites(("audits.performance.grades.results_fix", "grade_of"))
    yield Entry(key="grade:unit", kind="grade", title="年度党建考核等次", value="、".join(grades.unit_grades().values()),
                source=data["unit_grades"]["source"], origin=origin_of(data["unit_grades"]["source"])[0],
                enforced=("score",) if fix_sites else (), where=fix_sites)
    gate = checked_sites(("audits.performance.grades.appraisal_record", "heads_barred"))
    yield Entry(key="grade:heads", kind="grade", title="党建考核不是“优秀”的组织负责人,年度绩效考核不得评为“优秀”",
                value="、".join(str(PositionTitle(t).label) for t in data["use"]["heads"]), source=data["use"]["heads_source"],
                origin=origin_of(data["use"]["heads_source"])[0], enforced=("guard",) if gate else (), where=gate)
    yield Entry(key="grade:appraisal", kind="grade", title="个人年度考核等次", value="、".join(grades.appraisal_grades().values()),
                source=data["appraisal_grades"]["source"], origin=origin_of(data["appraisal_grades"]["source"])[0],
                enforced=("guard",) if gate else (), where=gate)
    hon = checked_sites(("audits.performance.grades.honours", "honours_grades"))
    yield Entry(key="grade:honours", kind="grade", title="评先评优推荐名单",
                value="、".join(grades.unit_grades()[g] for g in data["use"]["honours_grades"]) + "的组织",
                source=data["use"]["honours_source"], origin=origin_of(data["use"]["honours_source"])[0],
                enforced=("score",) if hon else (), where=hon)


def statistic_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """年度党建工作统计 (seed 004 篇5): each item, counted from the records or entered by hand."""
    sites = checked_sites(("audits.performance.annual.rows", "HOW"))
    form = annual.form()
    for row, supplement in annual._all_rows():
        cells = row["cells"]
        unknown = [c["label"] for c in cells if c["kind"] != "manual" and c["kind"] not in annual.HOW]
        value = ";".join(f"{c['label']}({c['unit']},{'手工填报' if c['kind'] == 'manual' else '系统统计'})" for c in cells)
        source = row.get("source") or form["source"] + (f" {row['id']}" if not supplement else "")
        yield Entry(key=f"statistic:{row['id']}", kind="statistic",
                    title=("(附表)" if supplement else "") + row["label"], value=value, source=source,
                    origin=origin_of(source)[0], enforced=("statistic",) if sites else (), where=sites,
                    inert=f"没有统计方法:{'、'.join(unknown)}" if unknown else "")


def capa_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """纠正措施: what a finding and its rectification plan must state, and who verifies."""
    raise_sites = checked_sites(("audits.capa.services.nc_raise", "客观证据"))
    yield Entry(key="capa:raise", kind="capa", title="不符合项须写明条款、要求和客观证据", value="三项必填",
                source="seed 001 四(四):列出整治对象、内容和问题清单,形成台账;ISO 9001 §10.2.1",
                enforced=("guard",) if raise_sites else (), where=raise_sites)
    plan_sites = checked_sites(("audits.capa.services.nc_plan", "due_date"))
    yield Entry(key="capa:plan", kind="capa", title="整改计划须有纠正、纠正措施、责任人和完成时限", value="四项必填,期限不早于今天",
                source="seed 001 四(四):明确工作责任、推进措施、完成时限;seed 003:逐一下发《问题整改反馈单》,跟踪整改",
                enforced=("guard",) if plan_sites else (), where=plan_sites)
    verify_sites = checked_sites(("audits.capa.services.nc_verify", "verified_by"))
    yield Entry(key="capa:verify", kind="capa", title="整改由登记落实者以外的人验证后方可关闭", value="验证人 ≠ 落实人",
                source="ISO 9001 §10.2.1 d)(评审纠正措施的有效性);seed 003:跟踪整改",
                enforced=("guard",) if verify_sites else (), where=verify_sites)


def target_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """目标管理(层层分解): each measure a cascaded target may be set on — computed or reported,
    whether children may not add up to more than their parent, and how a parent rolls up."""
    from audits.performance import targets

    add_sites = checked_sites(("audits.performance.targets.target_add", "additive"))
    roll_sites = checked_sites(("audits.performance.targets.evaluate", "rollup"))
    known = set(indicators.rules()["indicators"])
    for key, spec in targets.measures().items():
        how = "系统按记录计算" if not spec.get("reported") else "责任人填报(留痕)"
        ok = bool(spec.get("reported")) or spec.get("indicator") in known
        value = (f"{how};单位 {spec['unit']};" + ("下级目标合计不得超过上级目标" if spec.get("additive") else "不可累加")
                 + ";上级进度取下级" + ("之和" if spec["rollup"] == "sum" else "平均"))
        yield Entry(key=f"target:{key}", kind="objective", title=f"分解目标:{spec['name']}", value=value,
                    source=spec["source"], origin=origin_of(spec["source"])[0],
                    enforced=("guard",) if add_sites and roll_sites and ok else (), where=add_sites + roll_sites,
                    inert="" if ok else f"目标所用的指标“{spec.get('indicator')}”不存在")
def campaign_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """检查活动: the default 自查 checklist (audits/campaign/rules/checklist.toml), item by item, and
    the kinds of unit a campaign covers unless the committee chooses others."""
    from audits.campaign.services import default_checklist

    spec = default_checklist()
    sites = checked_sites(("audits.campaign.services.campaign_announce", "default_checklist"))
    yield Entry(key="campaign:scope", kind="score", title="检查活动默认受检的组织类别", value=_kinds_text(spec["scope_kinds"]),
                source=spec["scope_source"], origin=origin_of(spec["scope_source"])[0],
                enforced=("guard",) if sites else (), where=sites)
    for n, item in enumerate(spec["items"], 1):
        yield Entry(key=f"campaign:item:{n}", kind="score", title=f"自查检查表第{n}项:{item['text']}",
                    value=f"{item['max_score']} 分", source=item["source"], origin=origin_of(item["source"])[0],
                    enforced=("guard",) if sites else (), where=sites)
    from audits.campaign.services import plan_spec

    plan = plan_spec()
    stage_sites = checked_sites(("audits.campaign.services.campaign_announce", "stage_of"))
    for stage in plan["stages"]:
        yield Entry(key=f"campaign:stage:{stage['key']}", kind="score", title=f"三年整治计划第{stage['year']}年:{stage['name']}",
                    value=stage["focus"], source=stage["source"], origin=origin_of(stage["source"])[0],
                    enforced=("guard",) if stage_sites else (), where=stage_sites)


def certification_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """认证周期: what a certificate and an external finding must state (the numbers — validity,
    audit intervals, notice — are organisation rules, listed with the others)."""
    cert_sites = checked_sites(("audits.certification.services.certificate_register", "有效期至不能早于发证日期"),
                               ("audits.certification.services.certificate_register", "已被使用"))
    yield Entry(key="certification:certificate", kind="capa", title="认证证书须写明机构、标准、范围、编号和有效期",
                value="五项必填;有效期不早于发证日期、不超过证书有效期;编号不得重复",
                source="ISO/IEC 17021-1:2015 §8.2(认证文件应写明获证组织、认证范围、所依据的标准、生效和到期日期)",
                enforced=("guard",) if cert_sites else (), where=cert_sites)
    schedule_sites = checked_sites(("audits.certification.services.schedule_of", "surveillance_interval_months"),
                                   ("audits.certification.services.notify_due_audits", "certification_notice_days"))
    yield Entry(key="certification:schedule", kind="deadline", title="证书登记后排定每年的监督审核和到期前的再认证审核,临近时提醒",
                value="按组织规则:监督审核间隔、再认证提前天数、审核窗口、提醒天数",
                source="ISO/IEC 17021-1:2015 §9.1.3.1、§9.6.2.2、§9.6.3.1",
                enforced=("guard", "reminder") if schedule_sites else (), where=schedule_sites)
    finding_sites = checked_sites(("audits.certification.services.finding_checks", "不在证书覆盖的范围内"))
    yield Entry(key="certification:finding", kind="capa", title="外部审核发现按严重不符合、一般不符合或观察项登记,责任组织须在证书覆盖范围内",
                value="等级三选一;条款、要求、客观证据必填;进入不符合项和纠正措施流程",
                source="ISO 9001 §10.2.1;ISO/IEC 17021-1:2015 §9.4(审核发现的分级和记录)",
                enforced=("guard",) if finding_sites else (), where=finding_sites)


def system_rules(unit: Unit, units: list[Unit]) -> Iterator[Entry]:
    """体系策划与支持: the competence requirements per role (their numbers are organisation rules)
    and the default interested parties (关注焦点)."""
    from audits.system import services as system

    matrix_sites = checked_sites(("audits.system.services.competence_matrix", "requirements"))
    for r in system.requirements(unit):
        value = f"不少于 {r['hours']} 学时" + (f",有效期 {r['valid_months']} 个月" if r["valid_months"] else "")
        yield Entry(key=f"competence:{r['key']}", kind="person", title=f"{r['role']}须具备:{r['title']}", value=value,
                    source=r["source"], origin=origin_of(r["source"])[0], enforced=("record",) if matrix_sites else (),
                    where=matrix_sites)
    seed_sites = checked_sites(("audits.system.services.parties_seed", "parties"))
    for p in system.defaults()["parties"]:
        yield Entry(key=f"party:{p['name']}", kind="structure", title=f"默认相关方:{p['name']}", value=p["needs"],
                    source=p["source"], origin=origin_of(p["source"])[0], enforced=("record",) if seed_sites else (),
                    where=seed_sites)
