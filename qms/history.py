"""留痕的中文表述 — a ledger entry as a sentence users read.

The ledger stays exact and technical (``qms.ledger``); pages show each entry as "who, when,
what, which fields from what to what" in Chinese: people by name, the action as a verb, fields
by their labels, states by their Chinese names, linked objects by their names. The raw entry
(action keys, ids, hashes) is only on the 体系管理员's 留痕台账 page.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.apps import apps
from django.db import models
from django.utils import timezone

#: what each kind of object is called (the part before the dot of an action)
OBJECTS = {
    "unit": "党组织", "admin_unit": "行政单位", "member": "党员信息", "membership": "组织关系", "member_event": "状态变化",
    "position": "职务", "role": "角色授权", "policy": "组织规则", "document": "体系文件", "document_version": "文件版本",
    "obligation": "规定", "record_form": "记录表格", "form_field": "表格栏目", "occurrence": "事项", "record": "记录",
    "attendance": "出席情况", "followup": "决议落实", "attachment": "附件", "dues": "党费", "removal": "除名申请",
    "audit": "内部审核", "checklist": "检查表条目", "checklist_template": "检查表模板", "sample": "抽样", "programme": "审核方案",
    "nc": "不符合项", "review": "管理评审", "objective": "目标", "scheme": "考核方案", "score": "评分", "annual": "年度统计",
    "pack": "证据包", "pack_link": "外部审核链接", "schema": "数据结构", "account": "账号", "otp": "身份验证器",
    "roster_mapping": "花名册列对应", "work_calendar": "工作日历",
    # 自查与抽查 (audits/campaign)
    "campaign": "检查活动",
    "campaign_item": "检查项",
    "campaign_unit": "受检单位",
    "campaign_score": "检查项得分",
    "campaign_evidence": "自查佐证材料",
    "campaign_team": "检查小组",
    "campaign_finding": "检查发现",
    "campaign_plan": "三年整治计划",
}

#: what was done (the part after the dot)
VERBS = {
    "create": "新建", "update": "修改", "amend": "更正", "add": "添加", "remove": "删除", "move": "调整顺序",
    "enroll": "建档", "transfer_out": "转出", "transfer_in": "转入", "retire": "登记退休", "death": "登记去世",
    "removal": "登记除名", "category": "变更类别", "open": "开始", "close": "关闭", "assign": "任命", "end": "免去",
    "grant": "授予", "set": "设定", "adopt": "采用", "offer": "提供新版本", "submit": "提交", "review": "审核",
    "send_back": "退回修改", "approve": "批准", "publish": "发布", "supersede": "替代", "withdraw": "废止",
    "schedule": "排入计划", "trigger": "因事件生成", "plan": "计划", "cancel": "取消", "miss": "标记未开展",
    "hold": "召开", "mark_checked": "检查通过", "check": "检查", "mark": "登记", "makeup": "安排补课",
    "done": "完成", "record": "登记", "request": "申请", "reject": "驳回", "meeting": "记录会议",
    "sample": "抽样", "report": "形成报告", "open_meeting": "召开首次会议", "draw": "抽取", "finding": "形成审核发现",
    "save": "保存", "raise": "提出", "acknowledge": "确认", "analyse": "原因分析", "implement": "登记整改实施",
    "attach": "上传证据", "verify": "验证", "confirm_effective": "评价为整改有效", "confirm_ineffective": "评价为整改无效",
    "link_audit": "关联审核", "gather": "汇集输入", "decision": "作出决定", "item_add": "添加考核项",
    "item_update": "修改考核项", "item_remove": "删除考核项", "enter": "评分", "begin": "开始生成", "finish": "生成完成",
    "fail": "生成失败", "retry": "重新生成", "requeue": "重新排队", "issue": "签发", "revoke": "撤销",
    "access": "访问", "refused": "拒绝访问", "add_fields": "升级(新增字段)",
    "disable": "停用", "enable": "启用", "expire": "终止",
}

#: whole actions whose sentence is not "verb + object"
ACTIONS = {
    "pack_link.access": "外部审核员访问证据包", "pack_link.refused": "外部审核链接被拒绝访问",
    "api_token.create": "创建数据接口令牌", "api_token.revoke": "吊销数据接口令牌",
    "occurrence.trigger": "因事件生成事项", "record.create": "开始填写记录",
    "removal.approve": "批准除名", "member_review.grade": "登记民主评议结果", "followup.disposal": "安排组织处置", "dues.excuse": "登记党费未交的正当理由", "removal.reject": "驳回除名申请",
    "schema.add_fields": "数据库升级,新增字段(原有数据未变)",
    "occurrence.import_history": "导入已开展的会议(历史记录)", "record.import_history": "导入会议记录(历史记录)",
    "account.unlock": "解除登录锁定", "account.otp_reset": "停用身份验证器",
    "robot.create": "新增群机器人", "robot.update": "修改群机器人", "notice.channels": "选择接收通知的方式",
    "otp.enrol": "开始设置身份验证器", "otp.confirm": "启用身份验证器(双因素登录)",
    # 恢复码 (qms/otp.py)
    "otp.recovery_issue": "生成恢复码", "otp.recovery_regenerate": "重新生成恢复码(原恢复码作废)",
    "otp.recovery_use": "使用恢复码登录",
    "account.create": "开通账号", "account.reset_password": "重置账号密码", "account.change_password": "本人修改密码",
    "decision.record": "登记上级批复",
    "election.open": "发起换届选举", "election.open_by": "发起补选", "election.committee_only": "补选书记(委员无空缺,由委员会会议选举)", "election.nominate": "确定候选人(酝酿)", "election.request": "换届请示获上级批复",
    "election.elect": "登记选举结果", "election.complete": "换届报批完成",
    "election_candidate.add": "增加候选人", "election_candidate.remove": "移除候选人",
    "election_candidate.count": "登记候选人得票", "election_candidate.title": "确定当选委员的分工",
    "applicant.create": "登记入党申请人", "member.probation_cancel": "取消预备党员资格", "applicant.stage": "发展党员进入下一阶段", "recruit_step.create": "登记发展党员步骤",
    "org_change.request": "提出组织设置请示", "org_change.answer": "登记组织设置请示的上级批复",
    "org_change.carry_out": "实施组织设置调整", "applicant.move": "发展党员对象随组织调整转入新支部",
    "assessment.fix": "评定年度考核等次", "assessment.correct": "申诉成立,更正考核结果",
    "assessment.business_score": "登记业务工作得分", "appeal.submit": "对考核结果提出申诉", "appeal.decide": "处理考核结果申诉",
    "appraisal.record": "登记个人年度考核等次",
    "target.add": "分解目标", "target.amend": "调整目标", "target.missed": "目标到期未完成,提出不符合项",
    "coalition.create": "设立联系组、协作组", "coalition.meeting": "登记联系组、协作组的活动",
    "liaison_point.create": "确定联系点", "liaison_point.summarise": "总结联系点经验",
    "target.report": "报告目标进展", "target.task_add": "安排月度重点工作", "target.task_done": "完成月度重点工作",
    "context.party_add": "添加相关方", "context.party_amend": "修改(评审)相关方", "context.issue_add": "登记内外部环境因素",
    "context.issue_amend": "修改(评审)内外部环境因素", "risk.add": "登记风险或机遇", "risk.amend": "重新评估风险或机遇",
    "risk.ticket": "风险应对措施立项", "risk.evaluate": "评价风险应对措施的有效性", "training.record": "登记培训记录",
    "survey.create": "策划满意度调查", "survey.question": "设定调查题目", "survey.answer": "录入一份满意度答卷",
    "survey.tally": "录入满意度问卷汇总",
    # 自查与抽查, 认证周期 (audits/campaign, audits/certification)
    "campaign.announce": "发布检查活动",
    "campaign.update": "修改检查活动的检查表",
    "campaign.sample": "抽取受检单位",
    "campaign.close": "检查活动总结",
    "campaign_item.add": "添加检查项",
    "campaign_item.remove": "删除检查项",
    "campaign_unit.create": "列入受检范围",
    "campaign_unit.submit": "提交自查报告",
    "campaign_unit.miss": "逾期未提交自查报告",
    "campaign_unit.sample": "抽中受检单位",
    "campaign_unit.unsample": "重新抽样前撤销抽中",
    "campaign_unit.assign": "调整检查小组",
    "campaign_unit.inspect": "登记检查记录",
    "campaign_score.self": "自评打分",
    "campaign_score.inspect": "检查评分",
    "campaign_evidence.add": "上传自查佐证材料",
    "campaign_team.create": "成立检查小组",
    "campaign_finding.raise": "提出检查发现",
    "campaign_plan.create": "制定三年整治计划",
    "certificate.register": "登记认证证书",
    "certification_audit.schedule": "按证书排定外部审核(监督审核、再认证审核)",
    "certification_audit.done": "登记外部审核完成",
    "external_finding.link": "将不符合项登记为外部审核发现",
    # 电子签名 (qms/signatures.py)
    "signature.sign": "电子签名", "signature.void": "签名失效(所签内容被退回或更正)",
}

#: ledgered fields that are no column of the object's model (a login's state, qms/accounts.py)
EXTRA_FIELDS = {"must_change_password": "下次登录须修改密码"}


def action_label(action: str) -> str:
    """"nc.acknowledge" → "确认不符合项"."""
    if action in ACTIONS:
        return ACTIONS[action]
    obj, _, verb = action.partition(".")
    return f"{VERBS.get(verb, verb)}{OBJECTS.get(obj, obj)}"


def is_labelled(action: str) -> bool:
    obj, _, verb = action.partition(".")
    return action in ACTIONS or (obj in OBJECTS and verb in VERBS)


def _model(obj_type: str) -> type[models.Model] | None:
    try:
        return apps.get_model(obj_type)
    except (LookupError, ValueError):
        return None


def _field(model: type[models.Model] | None, key: str) -> models.Field | None:
    if model is None:
        return None
    for f in model._meta.get_fields():
        if getattr(f, "attname", None) == key or f.name == key:
            return f
    return None


def field_label(model: type[models.Model] | None, key: str) -> str:
    f = _field(model, key)
    return str(getattr(f, "verbose_name", "") or EXTRA_FIELDS.get(key, key))


def _name_of(related: type[models.Model], pk: Any) -> str:
    from django.contrib.auth import get_user_model

    obj = related._default_manager.filter(pk=pk).first()
    if obj is None:
        return f"(已删除的{related._meta.verbose_name})"
    if related is get_user_model():
        from qms.people import person

        return person(obj)
    return str(getattr(obj, "name", None) or getattr(obj, "title", None) or obj)


def value_text(model: type[models.Model] | None, key: str, value: Any) -> str:
    """One stored value as a person reads it."""
    if value is None or value == "":
        return "空"
    f = _field(model, key)
    if f is not None and getattr(f, "choices", None):
        return str(dict(f.flatchoices).get(value, value))
    if isinstance(value, bool):
        return "是" if value else "否"
    if f is not None and f.is_relation and f.related_model is not None:
        if isinstance(value, list):
            return "、".join(_name_of(f.related_model, v) for v in value) or "空"
        return _name_of(f.related_model, value)
    if isinstance(f, models.DateTimeField) and isinstance(value, str):
        try:
            return timezone.localtime(dt.datetime.fromisoformat(value)).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return value
    if isinstance(value, dict | list):
        return "(已填写)" if value else "空"
    text = str(value)
    return text if len(text) <= 60 else text[:60] + "…"


def changes(entry, *, hide: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    """(field label, old, new) for what the entry changed, fields in ``hide`` left out."""
    if entry.before is None:  # a creation: the action says it all
        return []
    model = _model(entry.obj_type)
    return [(field_label(model, key), value_text(model, key, old), value_text(model, key, new))
            for key, old, new in entry.changes() if key not in hide]
