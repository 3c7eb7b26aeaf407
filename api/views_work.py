"""执行与记录: occurrences (with their PDCA transitions), records, attendance and attachments —
every write through workflows/services.py, the function the web page calls."""
from __future__ import annotations

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from api import errors
from api import serializers as s
from api.base import (
    FROM_PARAM,
    TO_PARAM,
    UNIT_PARAM,
    ReadViewSet,
    call,
    choice_filter,
    period_filter,
    status_param,
    unit_filter,
)
from qms import params
from qms.models import Member
from qms.scoping import restrict
from workflows import services as wsvc
from workflows.models import Attachment, Attendance, Occurrence, Record, State

OBLIGATION_PARAM = OpenApiParameter("obligation", OpenApiTypes.STR, description="规定键(如 branch_general_meeting)")
EXTERNAL_PARAM = OpenApiParameter("external_id", OpenApiTypes.STR, description="外部编号(经数据接口导入的会议)")
OVERDUE_PARAM = OpenApiParameter("overdue", OpenApiTypes.BOOL, description="true:只看已过截止日期而未开展的事项")
ERRORS = {400: OpenApiResponse(description="请求数据有误"), 403: OpenApiResponse(description="无权办理"),
          404: OpenApiResponse(description="无权访问或对象不存在"), 409: OpenApiResponse(description="当前状态或规定不允许")}


def _occurrences():
    return Occurrence.objects.select_related("unit", "obligation").order_by("due_date", "pk")


@extend_schema_view(
    list=extend_schema(summary="应开展事项列表", parameters=[UNIT_PARAM, FROM_PARAM, TO_PARAM, status_param(State.choices), OVERDUE_PARAM,
                                                OBLIGATION_PARAM, EXTERNAL_PARAM]),
    retrieve=extend_schema(summary="应开展事项"))
class OccurrenceViewSet(ReadViewSet):
    serializer_class = s.OccurrenceOut

    def base_queryset(self):
        return _occurrences()

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "today": timezone.localdate()}

    def filtered(self, qs):
        qs = unit_filter(self.request, qs, "unit")
        qs = period_filter(self.request, qs, "period_start", "period_end")
        qs = choice_filter(self.request, qs, "state", State.choices)
        key = params.text_param(self.request._request, "obligation", label="规定键", max_length=60)
        if key:
            qs = qs.filter(obligation_key=key)
        external = params.text_param(self.request._request, "external_id", label="外部编号", max_length=100)
        if external:
            qs = qs.filter(external_id=external)
        overdue = params.choice_param(self.request._request, "overdue", ["true", "false"], default="", label="是否逾期")
        late = Q(state=State.MISSED) | Q(state__in=[State.OPEN, State.PLANNED], due_date__lt=timezone.localdate())
        if overdue == "true":
            qs = qs.filter(late)
        elif overdue == "false":
            qs = qs.exclude(late)
        return qs

    def _moved(self, occ):
        return Response(self.get_serializer(Occurrence.objects.select_related("unit", "obligation").get(pk=occ.pk)).data)

    def _body(self, serializer_class):
        ser = serializer_class(data=self.request.data if self.request.data is not None else {})
        ser.is_valid(raise_exception=True)
        return ser.validated_data

    # ---------------------------------------------------------------- transitions (PDCA)

    @extend_schema(summary="计划(P)", request=s.PlanIn, responses={200: s.OccurrenceOut, **ERRORS})
    @action(detail=True, methods=["post"], url_path="transitions/plan", url_name="transition-plan")
    def plan(self, request, pk=None):
        occ, d = self.get_object(), self._body(s.PlanIn)
        return self._moved(call(wsvc.occurrence_plan, occ, actor=request.user, **d))

    @extend_schema(summary="提交记录(D:已开展)", request=s.SubmitIn, responses={200: s.OccurrenceOut, **ERRORS})
    @action(detail=True, methods=["post"], url_path="transitions/submit", url_name="transition-submit")
    def submit(self, request, pk=None):
        occ, d = self.get_object(), self._body(s.SubmitIn)
        return self._moved(call(wsvc.record_submit, occ, actor=request.user, held_on=d["held_on"]))

    @extend_schema(summary="检查记录(C):须电子签名,不能用令牌办理", request=s.Empty,
                   responses={403: OpenApiResponse(description="signature_required"), 404: OpenApiResponse()})
    @action(detail=True, methods=["post"], url_path="transitions/check", url_name="transition-check")
    def check(self, request, pk=None):
        self.get_object()
        raise errors.SignatureRequired("检查记录")

    @extend_schema(summary="闭环(A)", request=s.Empty, responses={200: s.OccurrenceOut, **ERRORS})
    @action(detail=True, methods=["post"], url_path="transitions/close", url_name="transition-close")
    def close(self, request, pk=None):
        occ = self.get_object()
        self._body(s.Empty)
        return self._moved(call(wsvc.occurrence_close, occ, actor=request.user))

    @extend_schema(summary="取消(上级组织或体系管理员,须说明原因)", request=s.ReasonIn, responses={200: s.OccurrenceOut, **ERRORS})
    @action(detail=True, methods=["post"], url_path="transitions/cancel", url_name="transition-cancel")
    def cancel(self, request, pk=None):
        occ, d = self.get_object(), self._body(s.ReasonIn)
        return self._moved(call(wsvc.occurrence_cancel, occ, actor=request.user, reason=d["reason"]))

    # ---------------------------------------------------------------- the record and its parts

    @extend_schema(methods=["GET"], summary="该事项的记录", responses={200: s.RecordOut, 404: OpenApiResponse()})
    @extend_schema(methods=["POST"], summary="填写记录要素(开始或继续填写)", request=s.RecordIn,
                   responses={200: s.RecordOut, **ERRORS})
    @action(detail=True, methods=["get", "post"], url_path="record", url_name="record")
    def record(self, request, pk=None):
        occ = self.get_object()
        if request.method == "POST":
            d = self._body(s.RecordIn)
            call(wsvc.record_save, occ, actor=request.user, elements=d["elements"], transition=False)
        rec = _records().filter(occurrence=occ).first()
        if rec is None:
            raise errors.ApiError(status.HTTP_404_NOT_FOUND, "not_found", "该事项还没有记录")
        return Response(s.RecordOut(rec, context=self.get_serializer_context()).data)

    @extend_schema(methods=["GET"], summary="出席情况", responses={200: s.AttendanceOut(many=True), 404: OpenApiResponse()})
    @extend_schema(methods=["POST"], summary="记一人出席、缺席或列席", request=s.AttendanceIn,
                   responses={200: s.AttendanceOut, **ERRORS})
    @action(detail=True, methods=["get", "post"], url_path="attendance", url_name="attendance", pagination_class=None)
    def attendance(self, request, pk=None):
        occ = self.get_object()
        if request.method == "POST":
            d = self._body(s.AttendanceIn)
            member = None
            if d.get("member"):
                member = restrict(request.user, Member.objects.all()).filter(pk=d["member"]).distinct().first()
                if member is None:
                    raise errors.ApiError(400, "invalid", "党员不存在或不在权限范围内", {"member": ["党员不存在或不在权限范围内"]})
            att = call(wsvc.attendance_mark, occ, actor=request.user, member=member, presence=d["presence"],
                       reason=d["reason"], on_leave=d["on_leave"], guest_name=d["guest_name"], transition=False)
            return Response(s.AttendanceOut(Attendance.objects.select_related("member").get(pk=att.pk)).data)
        rows = Attendance.objects.filter(record__occurrence=occ).select_related("member").order_by("pk")
        return Response(s.AttendanceOut(rows, many=True).data)

    @extend_schema(methods=["GET"], summary="附件", responses={200: s.AttachmentOut(many=True), 404: OpenApiResponse()})
    @extend_schema(methods=["POST"], summary="上传附件(multipart/form-data,字段 file)", request={"multipart/form-data": s.UploadIn},
                   responses={201: s.AttachmentOut, **ERRORS, 413: OpenApiResponse(description="文件过大")})
    @action(detail=True, methods=["get", "post"], url_path="attachments", url_name="attachments",
            parser_classes=[MultiPartParser], pagination_class=None)
    def attachments(self, request, pk=None):
        occ = self.get_object()
        if request.method == "POST":
            ser = s.UploadIn(data=request.data)
            ser.is_valid(raise_exception=True)
            att = call(wsvc.attachment_add, occ, actor=request.user, upload=ser.validated_data["file"], transition=False)
            return Response(s.AttachmentOut(att).data, status=status.HTTP_201_CREATED)
        rows = Attachment.objects.filter(record__occurrence=occ).select_related("uploaded_by__member").order_by("pk")
        return Response(s.AttachmentOut(rows, many=True).data)


def _records():
    return Record.objects.select_related("occurrence__unit", "submitted_by__member", "checked_by__member")


@extend_schema_view(
    list=extend_schema(summary="记录列表", parameters=[UNIT_PARAM, FROM_PARAM, TO_PARAM, status_param(State.choices)]),
    retrieve=extend_schema(summary="记录"))
class RecordViewSet(ReadViewSet):
    serializer_class = s.RecordOut

    def base_queryset(self):
        return _records().order_by("occurrence__due_date", "pk")

    def filtered(self, qs):
        qs = unit_filter(self.request, qs, "occurrence__unit")
        qs = period_filter(self.request, qs, "occurrence__period_start", "occurrence__period_end")
        return choice_filter(self.request, qs, "occurrence__state", State.choices)
