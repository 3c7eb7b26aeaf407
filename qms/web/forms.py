"""Forms for the core pages. They only collect and type the input; the rules are in
``qms.services`` and its ValidationErrors are shown on the form (see ``apply_service``)."""
from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from qms.citations import cite
from qms.models import (
    DecisionOutcome,
    Gender,
    HigherDecision,
    MemberCategory,
    MemberEventKind,
    PositionTitle,
    Unit,
    UnitKind,
)
from qms.rules import TERM_KEYS, defaults

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def apply_service(form: forms.Form, call) -> object | None:
    """Run a service call; on ValidationError put its messages on the form and return None."""
    try:
        return call()
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for field, errs in exc.error_dict.items():
                target = field if field in form.fields else None
                for e in errs:
                    form.add_error(target, e.messages[0] if hasattr(e, "messages") else str(e))
        else:
            for m in exc.messages:
                form.add_error(None, m)
        return None


class UnitChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Unit) -> str:
        return f"{'— ' * obj.depth}{obj.name}({obj.code})"


def term_help(rules) -> str:
    """The term field's help, from the rules in force (``term_years_*``, ``term_adjust_max_years``):
    each kind's default term and the allowed extension or advance, with the source."""
    by_key: dict[str, list[str]] = {}
    for kind, key in TERM_KEYS.items():
        by_key.setdefault(key, []).append(str(UnitKind(kind).label))
    parts = [f"{'、'.join(kinds)}{rules[key].value}年" for key, kinds in by_key.items()]
    adjust = rules["term_adjust_max_years"]
    sources = "、".join(dict.fromkeys(cite(rules[k].source.split(":", 1)[0]) for k in [*by_key, adjust.key]))
    return (f"留空按默认:{','.join(parts)};延期或提前换届一般不超过{adjust.value}年"
            f"(须报上级党的委员会批准;依据{sources})")


class DecisionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: HigherDecision) -> str:
        return f"{obj.doc_number}({obj.kind_label},{obj.date:%Y-%m-%d})"


class UnitForm(forms.Form):
    code = forms.CharField(label="组织编码", max_length=32)
    name = forms.CharField(label="组织名称", max_length=100)
    kind = forms.ChoiceField(label="组织类别", choices=UnitKind.choices)
    parent = UnitChoiceField(label="上级组织", queryset=Unit.objects.none(), required=False)
    founded_on = forms.DateField(label="成立日期", required=False, widget=DATE)
    term_start = forms.DateField(label="本届任期开始", required=False, widget=DATE)
    term_years = forms.IntegerField(label="任期(年)", required=False, min_value=1, max_value=99)
    founding_ref = forms.CharField(label="成立批复", max_length=120, required=False,
                                   help_text="批准成立的上级党组织及文号,如“××党委〔2019〕12号”。党小组不需填写。"
                                             "新设党组织请在上级组织页面的“组织设置请示”中报批,批准后由系统建立")
    task = forms.CharField(label="组建任务(临时党支部)", max_length=200, required=False)
    ends_on = forms.DateField(label="任务结束日期(临时党支部)", required=False, widget=DATE)
    decision = DecisionChoiceField(label="延期或提前换届的上级批复", queryset=HigherDecision.objects.none(), required=False,
                                   help_text="任期不同于默认任期时,选择上级党组织同意延期或提前换届的批复(先在本组织页面登记)")
    reason = forms.CharField(label="修改原因", required=False, max_length=200)

    def __init__(self, *args, parents=None, editing: bool = False, rules=None, decisions=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = parents if parents is not None else Unit.objects.none()
        self.fields["term_years"].help_text = term_help(rules if rules is not None else defaults())
        if editing:
            self.fields["code"].disabled = True
            self.fields["reason"].required = True
            self.fields["decision"].queryset = decisions if decisions is not None else HigherDecision.objects.none()
        else:
            del self.fields["reason"]
            del self.fields["decision"]

    def clean(self):
        data = super().clean()
        if not self.fields["code"].disabled and data.get("kind") not in (None, UnitKind.GROUP) \
                and not (data.get("founding_ref") or "").strip():
            self.add_error("founding_ref", "登记已成立的党组织须填写成立批复(批准成立的上级党组织及文号)")
        return data


class MemberForm(forms.Form):
    name = forms.CharField(label="姓名", max_length=50)
    gender = forms.ChoiceField(label="性别", choices=Gender.choices)
    id_number = forms.CharField(label="身份证号", max_length=18)
    birth_date = forms.DateField(label="出生日期", required=False, widget=DATE)
    ethnicity = forms.CharField(label="民族", max_length=20, required=False)
    education = forms.CharField(label="学历", max_length=20, required=False)
    phone = forms.CharField(label="手机号", max_length=20, required=False)
    category = forms.ChoiceField(label="人员类别", choices=MemberCategory.choices)
    joined_on = forms.DateField(label="入党日期", required=False, widget=DATE)
    full_on = forms.DateField(label="转正日期", required=False, widget=DATE)


class EnrollForm(MemberForm):
    unit = UnitChoiceField(label="所在党支部", queryset=Unit.objects.none())
    group = UnitChoiceField(label="党小组", queryset=Unit.objects.none(), required=False)
    start = forms.DateField(label="加入日期", widget=DATE)

    def __init__(self, *args, branches=None, groups=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = branches if branches is not None else Unit.objects.none()
        self.fields["group"].queryset = groups if groups is not None else Unit.objects.none()


class AmendForm(MemberForm):
    reason = forms.CharField(label="更正原因", max_length=200, help_text="记录不得无痕修改:必须说明更正原因")


class TransferForm(forms.Form):
    date = forms.DateField(label="转接日期", widget=DATE)
    to_unit = UnitChoiceField(label="转入党支部", queryset=Unit.objects.none(), required=False,
                              help_text="留空表示转出本系统(转往系统外的组织)")
    note = forms.CharField(label="说明", max_length=200, required=False)

    def __init__(self, *args, branches=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_unit"].queryset = branches if branches is not None else Unit.objects.none()


class StatusForm(forms.Form):
    kind = forms.ChoiceField(label="变化类型", choices=[
        (k.value, k.label) for k in (MemberEventKind.CATEGORY, MemberEventKind.RETIRE,
                                     MemberEventKind.DEATH, MemberEventKind.REMOVAL)])
    category = forms.ChoiceField(label="新的人员类别(仅类别变更)", choices=[("", "—")] + list(MemberCategory.choices), required=False)
    date = forms.DateField(label="日期", widget=DATE)
    note = forms.CharField(label="说明", max_length=200)


class PositionForm(forms.Form):
    member_id_number = forms.CharField(label="任职人身份证号", max_length=18)
    title = forms.ChoiceField(label="职务", choices=PositionTitle.choices,
                              help_text="新任书记须有任前培训记录(在党员页面“登记情况”中登记“参加任前培训”)")
    start = forms.DateField(label="任职日期", widget=DATE)


class MemberEventForm(forms.Form):
    """登记党员情况: the kinds are the vocabulary's hand-recorded events (qms/rules/events.toml)."""

    kind = forms.ChoiceField(label="情况类型", choices=[], error_messages={"invalid_choice": "请从列表中选择党员情况的类型"})
    date = forms.DateField(label="发生日期", widget=DATE)
    note = forms.CharField(label="简要说明", max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        from qms.rules.events import recordable

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", "—")] + [(e.key, e.label) for e in recordable()]


class LoginCreateForm(forms.Form):
    """开通账号: the username is the manager's choice; leave the password empty to generate one."""

    username = forms.CharField(label="用户名", max_length=30, help_text="3至30位字母、数字或 _ . @ + -,登录时使用")
    password = forms.CharField(label="初始密码", required=False, max_length=128,
                               widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                               help_text="留空则由系统生成;本人首次登录时必须修改")


class ReasonForm(forms.Form):
    reason = forms.CharField(label="原因", max_length=200)


class GrantForm(forms.Form):
    role = forms.ChoiceField(label="角色", choices=[])
    unit = UnitChoiceField(label="范围", queryset=Unit.objects.none())
    valid_from = forms.DateField(label="生效日期", widget=DATE)
    valid_until = forms.DateField(label="失效日期", required=False, widget=DATE, help_text="最后一天有效;留空表示长期有效")

    def __init__(self, *args, roles=(), units=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(r.value, r.label) for r in roles]
        self.fields["unit"].queryset = units if units is not None else Unit.objects.none()


class ExpireForm(forms.Form):
    last_day = forms.DateField(label="最后有效日期", widget=DATE)
    reason = forms.CharField(label="原因", max_length=200)


class DecisionForm(forms.Form):
    """登记上级批复: the matter's kinds come from ``qms/rules/decisions.toml``; the deciding
    organisation is a unit above (or, for a top unit, its higher committee outside the system)."""

    kind = forms.ChoiceField(label="批复事项", choices=[], error_messages={"invalid_choice": "请从列表中选择批复事项"})
    doc_number = forms.CharField(label="文号", max_length=60)
    date = forms.DateField(label="批复日期", widget=DATE)
    decided_by_unit = UnitChoiceField(label="作出批复的上级组织", queryset=Unit.objects.none(), required=False)
    decided_by_name = forms.CharField(label="系统外的上级党组织", max_length=100, required=False,
                                      help_text="仅顶层组织:其上级党委不在本系统中时填写全称")
    outcome = forms.ChoiceField(label="批复意见", choices=DecisionOutcome.choices)
    text = forms.CharField(label="批复内容", required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    upload = forms.FileField(label="批复文件(可选)", required=False, help_text="PDF、图片(PNG、JPG)、Excel 或文字处理文档")

    def __init__(self, *args, unit: Unit, **kwargs):
        from qms.decision_kinds import decision_kinds

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", "—")] + [(k.key, k.label) for k in decision_kinds().values()]
        # the organisation itself decides only what is set up, merged, split or dissolved beneath it
        self.fields["decided_by_unit"].queryset = unit.ancestors()
        self.fields["decided_by_unit"].help_text = "成立、合并、拆分、撤销下级组织的批复,可由本组织作出"
        if unit.parent_id is not None:
            del self.fields["decided_by_name"]
        else:
            self.fields["decided_by_unit"].label = "作出批复的组织(本组织批准下级组织设置时选择)"
