"""执行情况热力图的色带 — the committee's lines for the rolled-up heatmap (``workflows.views``
asks through ``register_rate_bands``, so workflows never imports audits): 良好 from the year's
objective on the indicator ``[heatmap]`` of ``rules/objectives.toml`` names (三会一课执行率) set by
the unit or the nearest organisation above it, else the rule ``heatmap_good_percent``; 一般 from
the rule ``heatmap_fair_percent`` (never above 良好). Both rules are overridable per organisation."""
from __future__ import annotations

from audits.performance import indicators
from audits.performance.models import Comparator, Objective
from qms.models import Unit
from qms.rules import rules_for
from workflows.views import RateBands


def rate_bands(root: Unit, year: int) -> RateBands:
    spec = indicators.rules()["heatmap"]
    rules = rules_for(root)
    ids = [int(p) for p in root.path.strip("/").split("/") if p]
    objective = (Objective.objects.filter(root_id__in=ids, year=year, indicator=spec["indicator"], comparator=Comparator.AT_LEAST)
                 .select_related("root").order_by("-root__depth").first())
    if objective is not None:
        good = float(objective.target)
        good_source = f"{objective.root.name} {year} 年党建目标“{objective.title}” ≥ {good:g}%(依据:{objective.source})"
    else:
        rule = rules["heatmap_good_percent"]
        good, good_source = float(rule.value), rule.source
    fair = rules["heatmap_fair_percent"]
    return RateBands(good=good, fair=min(float(fair.value), good), good_source=good_source, fair_source=fair.source)
