"""不符合与整改: nonconformities and their corrective action (read, transitions) — every move
through audits/capa/services.py, the functions the ticket page calls."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework.decorators import action
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
from api.views_work import ERRORS
from audits.capa import services as capa
from audits.capa.models import NCState, Nonconformity
from qms import params
from qms.models import Member
from qms.scoping import restrict

OVERDUE_PARAM = OpenApiParameter("overdue", OpenApiTypes.BOOL, description="true:只看逾期未整改的")
SIGNED = {403: OpenApiResponse(description="signature_required"), 404: OpenApiResponse()}


@extend_schema_view(
    list=extend_schema(summary="不符合项(整改单)列表",
                       parameters=[UNIT_PARAM, FROM_PARAM, TO_PARAM, status_param(NCState.choices), OVERDUE_PARAM]),
    retrieve=extend_schema(summary="不符合项(整改单)"))
class NonconformityViewSet(ReadViewSet):
    serializer_class = s.NonconformityOut

    def base_queryset(self):
        return (Nonconformity.objects.select_related("unit", "owner", "raised_by__member")
                .order_by("-raised_on", "-id"))

    def filtered(self, qs):
        from django.utils import timezone

        from audits.capa.models import OPEN_STATES

        qs = unit_filter(self.request, qs, "unit")
        qs = period_filter(self.request, qs, "raised_on")
        qs = choice_filter(self.request, qs, "state", NCState.choices)
        overdue = params.choice_param(self.request._request, "overdue", ["true", "false"], default="", label="是否逾期")
        late = {"state__in": OPEN_STATES, "due_date__lt": timezone.localdate()}
        if overdue == "true":
            qs = qs.filter(**late)
        elif overdue == "false":
            qs = qs.exclude(**late)
        return qs

    def _body(self, serializer_class):
        ser = serializer_class(data=self.request.data if self.request.data is not None else {})
        ser.is_valid(raise_exception=True)
        return ser.validated_data

    def _moved(self, nc):
        return Response(self.get_serializer(self.base_queryset().get(pk=nc.pk)).data)

    @extend_schema(summary="确认", request=s.Empty, responses={200: s.NonconformityOut, **ERRORS})
    @action(detail=True, methods=["post"], url_path="transitions/acknowledge", url_name="transition-acknowledge")
    def acknowledge(self, request, pk=None):
        nc = self.get_object()
        self._body(s.Empty)
        return self._moved(call(capa.nc_acknowledge, nc, actor=request.user))

    @extend_schema(summary="原因分析", request=s.AnalyseIn, responses={200: s.NonconformityOut, **ERRORS})
    @action(detail=True, methods=["post"], url_path="transitions/analyse", url_name="transition-analyse")
    def analyse(self, request, pk=None):
        nc, d = self.get_object(), self._body(s.AnalyseIn)
        return self._moved(call(capa.nc_analyse, nc, actor=request.user, why=d["why"], root_cause=d["root_cause"]))

    @extend_schema(summary="制定措施", request=s.NCPlanIn, responses={200: s.NonconformityOut, **ERRORS})
    @action(detail=True, methods=["post"], url_path="transitions/plan", url_name="transition-plan")
    def plan(self, request, pk=None):
        nc, d = self.get_object(), self._body(s.NCPlanIn)
        owner = restrict(request.user, Member.objects.all()).filter(pk=d["owner"]).distinct().first()
        if owner is None:
            raise errors.ApiError(400, "invalid", "整改责任人不存在或不在权限范围内", {"owner": ["党员不存在或不在权限范围内"]})
        return self._moved(call(capa.nc_plan, nc, actor=request.user, correction=d["correction"],
                                corrective_action=d["corrective_action"], owner=owner, due_date=d["due_date"]))

    @extend_schema(summary="实施(登记整改证据)", request=s.ImplementIn, responses={200: s.NonconformityOut, **ERRORS})
    @action(detail=True, methods=["post"], url_path="transitions/implement", url_name="transition-implement")
    def implement(self, request, pk=None):
        nc, d = self.get_object(), self._body(s.ImplementIn)
        return self._moved(call(capa.nc_implement, nc, actor=request.user, evidence=d["evidence"], done_on=d["done_on"]))

    @extend_schema(summary="验证:须电子签名,不能用令牌办理", request=s.Empty, responses=SIGNED)
    @action(detail=True, methods=["post"], url_path="transitions/verify", url_name="transition-verify")
    def verify(self, request, pk=None):
        self.get_object()
        raise errors.SignatureRequired("验证整改")

    @extend_schema(summary="验证未通过,退回", request=s.ReasonIn, responses={200: s.NonconformityOut, **ERRORS})
    @action(detail=True, methods=["post"], url_path="transitions/reject", url_name="transition-reject")
    def reject(self, request, pk=None):
        nc, d = self.get_object(), self._body(s.ReasonIn)
        return self._moved(call(capa.nc_reject, nc, actor=request.user, reason=d["reason"]))

    @extend_schema(summary="关闭:须电子签名,不能用令牌办理", request=s.Empty, responses=SIGNED)
    @action(detail=True, methods=["post"], url_path="transitions/close", url_name="transition-close")
    def close(self, request, pk=None):
        self.get_object()
        raise errors.SignatureRequired("确认关闭整改")

    @extend_schema(summary="有效性评价", request=s.EffectivenessIn, responses={200: s.NonconformityOut, **ERRORS})
    @action(detail=True, methods=["post"], url_path="transitions/review-effectiveness",
            url_name="transition-review-effectiveness")
    def review_effectiveness(self, request, pk=None):
        nc, d = self.get_object(), self._body(s.EffectivenessIn)
        return self._moved(call(capa.nc_review_effectiveness, nc, actor=request.user, effective=d["effective"],
                                note=d["note"]))
