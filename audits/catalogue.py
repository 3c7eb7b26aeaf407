"""The rules ``audits`` makes act, for the rule catalogue (``qms.catalogue``): the indicators, the
organisation's objectives for the year, its scoring scheme and the annual statistics form."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from audits.performance import annual, indicators, scoring
from audits.performance.models import Objective, ScoringScheme
from procedures.library_loader import library_targets
from qms.catalogue import Entry, checked_sites, origin_of
from qms.models import Unit, UnitKind


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
        items = [{"title": i.title, "points": i.points, "indicator": i.indicator} for i in scheme.items.order_by("order", "pk")]
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
        yield Entry(key=f"score:{n}", kind="score", title=item["title"], value=f"{item['points']} 分,{how}",
                    source=source, origin=origin, origin_detail=detail, enforced=("score",) if sites else (), where=sites)


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
