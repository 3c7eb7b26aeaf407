"""The campaign's ledger actions in Chinese, added to ``qms.history``'s vocabulary when the app
is ready (``audits/apps.py``): what each kind of object is called and the whole sentences."""
from __future__ import annotations

OBJECTS = {
    "campaign": "检查活动", "campaign_item": "检查项", "campaign_unit": "受检单位", "campaign_score": "检查项得分",
    "campaign_evidence": "自查佐证材料", "campaign_team": "检查小组", "campaign_finding": "检查发现",
    "campaign_plan": "三年整治计划",
}

ACTIONS = {
    "campaign.announce": "发布检查活动", "campaign.update": "修改检查活动的检查表", "campaign.sample": "抽取受检单位",
    "campaign.close": "检查活动总结", "campaign_item.add": "添加检查项", "campaign_item.remove": "删除检查项",
    "campaign_unit.create": "列入受检范围", "campaign_unit.submit": "提交自查报告", "campaign_unit.miss": "逾期未提交自查报告",
    "campaign_unit.sample": "抽中受检单位", "campaign_unit.unsample": "重新抽样前撤销抽中", "campaign_unit.assign": "调整检查小组",
    "campaign_unit.inspect": "登记检查记录", "campaign_score.self": "自评打分", "campaign_score.inspect": "检查评分",
    "campaign_evidence.add": "上传自查佐证材料", "campaign_team.create": "成立检查小组", "campaign_finding.raise": "提出检查发现",
    "campaign_plan.create": "制定三年整治计划",
}


def register() -> None:
    from qms import history

    history.OBJECTS.update(OBJECTS)
    history.ACTIONS.update(ACTIONS)
