"""What the API shows of each object, and the shapes of its inputs.

Output serializers are read-only: a state is never a writable field (transitions are actions,
``…/transitions/NAME/``). People are named by their names, never by their logins
(qms/people.py). 身份证号, 手机号 and 出生日期 appear only on a member's own record
(``MemberDetail``), as qms/privacy.py decides for the requester.
"""
from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.base import Strict
from qms.people import person


def name_of(user) -> str:
    """A login's person, from a ``select_related("…__member")`` when the list has one."""
    if user is None:
        return ""
    try:
        member = user.member
    except ObjectDoesNotExist:  # a login without a member: the account's name
        member = None
    return member.name if member is not None else person(user)


class Person(serializers.Field):
    def to_representation(self, value):
        return name_of(value)


extend_schema_field(OpenApiTypes.STR)(Person)


# ------------------------------------------------------------------------- 组织与党员


class UnitOut(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField(help_text="组织编码")
    name = serializers.CharField(help_text="组织名称")
    kind = serializers.CharField(help_text="组织类别")
    kind_label = serializers.CharField(source="get_kind_display")
    parent = serializers.SerializerMethodField(help_text="上级组织编码")
    is_active = serializers.BooleanField()
    founded_on = serializers.DateField(allow_null=True)
    term_start = serializers.DateField(allow_null=True)
    term_years = serializers.IntegerField(allow_null=True)

    def get_parent(self, obj) -> str | None:
        return obj.parent.code if obj.parent_id else None


class MemberOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(help_text="姓名")
    gender = serializers.CharField()
    category = serializers.CharField(help_text="人员类别")
    category_label = serializers.CharField(source="get_category_display")
    status = serializers.CharField(help_text="党籍状态")
    status_label = serializers.CharField(source="get_status_display")
    unit = serializers.SerializerMethodField(help_text="所在党组织编码")
    joined_on = serializers.DateField(allow_null=True)
    full_on = serializers.DateField(allow_null=True)

    def get_unit(self, obj) -> str | None:
        open_ = getattr(obj, "open_memberships", None)
        if open_ is None:
            ms = obj.current_membership()
            return ms.unit.code if ms else None
        return open_[0].unit.code if open_ else None


class MemberDetail(MemberOut):
    """A member with the personal fields as the requester may see them: in full for those who
    manage the member (and the member), masked for everyone else (qms/privacy.py)."""

    id_number = serializers.SerializerMethodField(help_text="身份证号(无管理权限时脱敏)")
    phone = serializers.SerializerMethodField(help_text="手机号(无管理权限时脱敏)")
    birth_date = serializers.SerializerMethodField(help_text="出生日期(无管理权限时只显示年份)")

    def _shown(self, obj, field):
        from qms.privacy import shown

        value = shown(self.context["request"].user, obj, field)
        return value.isoformat() if hasattr(value, "isoformat") else value

    def get_id_number(self, obj) -> str:
        return self._shown(obj, "id_number")

    def get_phone(self, obj) -> str:
        return self._shown(obj, "phone")

    def get_birth_date(self, obj) -> str | None:
        return self._shown(obj, "birth_date") or None


class PositionOut(serializers.Serializer):
    id = serializers.IntegerField()
    member = serializers.IntegerField(source="member_id")
    member_name = serializers.CharField(source="member.name")
    unit = serializers.CharField(source="unit.code")
    title = serializers.CharField(help_text="职务")
    title_label = serializers.CharField(source="get_title_display")
    start = serializers.DateField()
    end = serializers.DateField(allow_null=True)


# ------------------------------------------------------------------------- 执行与记录


class OccurrenceOut(serializers.Serializer):
    id = serializers.IntegerField()
    unit = serializers.CharField(source="unit.code")
    unit_name = serializers.CharField(source="unit.name")
    obligation_key = serializers.CharField()
    title = serializers.CharField(source="obligation.title", help_text="规定")
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    due_date = serializers.DateField()
    state = serializers.CharField(help_text="状态(只能通过 transitions 改变)")
    state_label = serializers.CharField(source="get_state_display")
    overdue = serializers.SerializerMethodField(help_text="已过截止日期而未开展")
    planned_date = serializers.DateField(allow_null=True)
    place = serializers.CharField()
    topic = serializers.CharField()
    held_on = serializers.DateField(allow_null=True)
    late = serializers.BooleanField()
    external_id = serializers.CharField(allow_null=True, help_text="外部编号(经数据接口从其他系统导入的会议;其余为空)")

    def get_overdue(self, obj) -> bool:
        from workflows.models import State

        return obj.state == State.MISSED or (obj.state in (State.OPEN, State.PLANNED) and obj.due_date < self.context["today"])


class RecordOut(serializers.Serializer):
    id = serializers.IntegerField()
    occurrence = serializers.IntegerField(source="occurrence_id")
    unit = serializers.CharField(source="occurrence.unit.code")
    state = serializers.CharField(source="occurrence.state")
    elements = serializers.JSONField(help_text="记录要素(按记录表格的栏目)")
    submitted_by = Person(allow_null=True)
    submitted_at = serializers.DateTimeField(allow_null=True)
    checked_by = Person(allow_null=True)
    checked_at = serializers.DateTimeField(allow_null=True)
    expected_count = serializers.IntegerField(allow_null=True)
    present_count = serializers.IntegerField(allow_null=True)


class AttendanceOut(serializers.Serializer):
    id = serializers.IntegerField()
    member = serializers.IntegerField(source="member_id", allow_null=True)
    name = serializers.SerializerMethodField()
    presence = serializers.CharField()
    presence_label = serializers.CharField(source="get_presence_display")
    reason = serializers.CharField()
    on_leave = serializers.BooleanField()

    def get_name(self, obj) -> str:
        return obj.member.name if obj.member_id else obj.guest_name


class AttachmentOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    uploaded_by = Person(allow_null=True)


class PlanIn(Strict):
    planned_date = serializers.DateField(help_text="计划日期")
    place = serializers.CharField(max_length=100, help_text="地点")
    topic = serializers.CharField(max_length=200, help_text="主题/议程")


class ReasonIn(Strict):
    reason = serializers.CharField(max_length=2000, help_text="原因")


class RecordIn(Strict):
    elements = serializers.DictField(help_text="记录要素:栏目键 → 值(按记录表格)")


class SubmitIn(Strict):
    held_on = serializers.DateField(help_text="开展日期")


class AttendanceIn(Strict):
    member = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**63 - 1,
                                      help_text="党员编号(列席的非本组织人员不填)")
    guest_name = serializers.CharField(required=False, allow_blank=True, max_length=60, default="")
    presence = serializers.ChoiceField(choices=[("present", "出席"), ("absent", "缺席"), ("attending", "列席")])
    reason = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    on_leave = serializers.BooleanField(required=False, default=False)


class UploadIn(Strict):
    file = serializers.FileField(help_text="附件文件")


class Empty(Strict):
    """No body (or an empty object)."""


# ------------------------------------------------------------------------- 不符合与整改


class NonconformityOut(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField(help_text="编号")
    unit = serializers.CharField(source="unit.code")
    source = serializers.CharField()
    grade = serializers.CharField()
    clause = serializers.CharField()
    requirement = serializers.CharField()
    evidence = serializers.CharField()
    state = serializers.CharField(help_text="状态(只能通过 transitions 改变)")
    state_label = serializers.CharField(source="get_state_display")
    overdue = serializers.BooleanField()
    raised_by = Person(allow_null=True)
    raised_on = serializers.DateField()
    why = serializers.ListField(child=serializers.CharField())
    root_cause = serializers.CharField()
    correction = serializers.CharField()
    corrective_action = serializers.CharField()
    owner = serializers.IntegerField(source="owner_id", allow_null=True)
    owner_name = serializers.SerializerMethodField()
    due_date = serializers.DateField(allow_null=True)
    implemented_on = serializers.DateField(allow_null=True)
    implementation_evidence = serializers.CharField()
    verification_note = serializers.CharField()
    closed_on = serializers.DateField(allow_null=True)
    effectiveness_due = serializers.DateField(allow_null=True)
    effectiveness_note = serializers.CharField()

    def get_owner_name(self, obj) -> str:
        return obj.owner.name if obj.owner_id else ""


class AnalyseIn(Strict):
    why = serializers.ListField(child=serializers.CharField(max_length=2000), max_length=5, help_text="五问法(至多5问)")
    root_cause = serializers.CharField(max_length=2000, help_text="根本原因")


class NCPlanIn(Strict):
    correction = serializers.CharField(max_length=2000)
    corrective_action = serializers.CharField(max_length=2000)
    owner = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="整改责任人(党员编号)")
    due_date = serializers.DateField()


class ImplementIn(Strict):
    evidence = serializers.CharField(max_length=2000, help_text="整改证据")
    done_on = serializers.DateField()


class EffectivenessIn(Strict):
    effective = serializers.BooleanField()
    note = serializers.CharField(max_length=2000)
