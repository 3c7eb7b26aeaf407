"""审核与改进 (read), 证据包 (request, status, download), 执行情况矩阵 and 指标 (read): the same
functions as the pages — audits/internal, audits/evidence/services.py, workflows/compliance.py,
audits/performance/indicators.py — within the token's scope."""
from __future__ import annotations

import datetime as dt

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from api import errors
from api.base import (
    FROM_PARAM,
    TO_PARAM,
    UNIT_PARAM,
    Base,
    ReadViewSet,
    Strict,
    call,
    choice_filter,
    period_filter,
    unit_filter,
)
from api.serializers import Person
from audits.evidence import services as packs
from audits.evidence.models import EvidencePack, PackState
from audits.internal.models import Audit, AuditState
from audits.performance import indicators
from qms import params, uploads
from qms.models import Unit
from qms.scoping import restrict, scopes_for
from workflows.compliance import compliance

YEAR_PARAM = OpenApiParameter("year", OpenApiTypes.INT, description="年度(默认今年)")
ROOT_PARAM = OpenApiParameter("unit", OpenApiTypes.STR, description="党组织编码(默认权限范围内最高的组织)")


class AuditOut(serializers.Serializer):
    id = serializers.IntegerField()
    year = serializers.IntegerField()
    title = serializers.CharField()
    root = serializers.CharField(source="root.code")
    units = serializers.SerializerMethodField(help_text="受审核组织编码")
    clauses = serializers.CharField()
    objectives = serializers.CharField()
    lead = Person()
    start = serializers.DateField()
    end = serializers.DateField()
    state = serializers.CharField()
    state_label = serializers.CharField(source="get_state_display")
    conclusion = serializers.CharField()

    def get_units(self, obj) -> list[str]:
        return [u.code for u in obj.units.all()]


@extend_schema_view(list=extend_schema(summary="内部审核列表", parameters=[UNIT_PARAM, FROM_PARAM, TO_PARAM,
                                                                     OpenApiParameter("status", OpenApiTypes.STR, enum=AuditState.values)]),
                    retrieve=extend_schema(summary="内部审核"))
class AuditViewSet(ReadViewSet):
    serializer_class = AuditOut

    def base_queryset(self):
        return Audit.objects.select_related("root", "lead__member").prefetch_related("units").order_by("-start", "-id")

    def filtered(self, qs):
        qs = unit_filter(self.request, qs, "root")
        qs = period_filter(self.request, qs, "start", "end")
        return choice_filter(self.request, qs, "state", AuditState.choices)


# ------------------------------------------------------------------------------ 证据包


class PackOut(serializers.Serializer):
    id = serializers.IntegerField()
    unit = serializers.CharField(source="root.code")
    unit_name = serializers.CharField(source="root.name")
    start = serializers.DateField()
    end = serializers.DateField()
    state = serializers.CharField()
    state_label = serializers.CharField(source="get_state_display")
    percent = serializers.IntegerField(help_text="生成进度(%)")
    chapter = serializers.CharField(help_text="正在生成的章节")
    requested_by = Person()
    requested_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    pages = serializers.IntegerField()
    pdf_sha256 = serializers.CharField()
    zip_sha256 = serializers.CharField()
    error = serializers.CharField()


class PackIn(Strict):
    unit = serializers.CharField(max_length=32, help_text="党组织编码")
    start = serializers.DateField()
    end = serializers.DateField()


FILE = {"pdf": "application/pdf", "zip": "application/zip"}


@extend_schema_view(list=extend_schema(summary="证据包列表", parameters=[UNIT_PARAM]), retrieve=extend_schema(summary="证据包(状态与进度)"))
class PackViewSet(ReadViewSet):
    serializer_class = PackOut

    def base_queryset(self):
        return EvidencePack.objects.select_related("root", "requested_by__member").order_by("-requested_at", "-id")

    def filtered(self, qs):
        return unit_filter(self.request, qs, "root")

    @extend_schema(summary="申请生成证据包(后台生成,查询状态后下载)", request=PackIn,
                   responses={201: PackOut, 400: OpenApiResponse(), 403: OpenApiResponse(), 409: OpenApiResponse()})
    def create(self, request):
        ser = PackIn(data=request.data if request.data is not None else {})
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        root = restrict(request.user, Unit.objects.all()).filter(code=d["unit"]).first()
        if root is None:
            raise errors.ApiError(400, "invalid", "党组织不存在或不在权限范围内", {"unit": ["党组织不存在或不在权限范围内"]})
        pack = call(packs.pack_request, actor=request.user, root=root, start=d["start"], end=d["end"])
        return Response(PackOut(self.base_queryset().get(pk=pack.pk)).data, status=status.HTTP_201_CREATED)

    def _file(self, kind: str):
        pack = self.get_object()
        f = pack.pdf if kind == "pdf" else pack.zip
        if pack.state != PackState.DONE or not f:
            raise errors.ApiError(404, "pack_not_ready", "证据包尚未生成完成,请查询状态后再下载")
        return uploads.serve(f, name=f"{pack.root.code}-{pack.start:%Y%m%d}-{pack.end:%Y%m%d}.{kind}")

    @extend_schema(summary="下载证据包 PDF", responses={(200, FILE["pdf"]): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], url_path="download/pdf", url_name="download-pdf")
    def download_pdf(self, request, pk=None):
        return self._file("pdf")

    @extend_schema(summary="下载证据包 ZIP(原始附件与清单)", responses={(200, FILE["zip"]): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], url_path="download/zip", url_name="download-zip")
    def download_zip(self, request, pk=None):
        return self._file("zip")


# ------------------------------------------------------------------ 执行情况矩阵、指标


def _root_and_year(request) -> tuple[Unit, int]:
    code = params.text_param(request._request, "unit", label="党组织编码", max_length=32)
    if code:
        root = restrict(request.user, Unit.objects.all()).filter(code=code).first()
        if root is None:
            raise errors.ApiError(404, "not_found", errors.NOT_FOUND)
    else:
        scopes = scopes_for(request.user)
        if not scopes:
            raise errors.ApiError(404, "not_found", errors.NOT_FOUND)
        root = Unit.objects.get(pk=scopes[0].unit_id)
    year = params.year_param(request._request, "year", default=timezone.localdate().year)
    return root, year


class RateOut(serializers.Serializer):
    on_time = serializers.IntegerField(help_text="按时完成")
    late = serializers.IntegerField(help_text="逾期完成")
    missed = serializers.IntegerField(help_text="未开展")
    not_due = serializers.IntegerField(help_text="未到期")
    cancelled = serializers.IntegerField(help_text="已取消")
    rate = serializers.FloatField(allow_null=True, help_text="执行率(无应开展事项时为空)")
    on_time_rate = serializers.FloatField(allow_null=True, help_text="按时执行率")


class NamedRateOut(RateOut):
    name = serializers.CharField(required=False)
    title = serializers.CharField(required=False)


class CellOut(serializers.Serializer):
    id = serializers.IntegerField()
    unit = serializers.CharField()
    obligation = serializers.CharField()
    period = serializers.CharField()
    period_start = serializers.DateField()
    due = serializers.DateField()
    status = serializers.ChoiceField(choices=["on_time", "late", "missed", "not_due", "cancelled"])


class MatrixOut(serializers.Serializer):
    unit = serializers.CharField()
    year = serializers.IntegerField()
    overall = RateOut()
    by_unit = serializers.DictField(child=NamedRateOut())
    by_obligation = serializers.DictField(child=NamedRateOut())
    cells = CellOut(many=True)


class ComplianceView(Base, APIView):
    @extend_schema(summary="执行情况矩阵(组织 × 规定,按年度)", parameters=[ROOT_PARAM, YEAR_PARAM], responses={200: MatrixOut})
    def get(self, request):
        root, year = _root_and_year(request)
        return Response(compliance(root, year).as_dict())


class IndicatorOut(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    num = serializers.IntegerField(help_text="分子")
    den = serializers.IntegerField(help_text="分母")
    value = serializers.FloatField(allow_null=True, help_text="比率(分母为0时为空)")


class IndicatorsOut(serializers.Serializer):
    unit = serializers.CharField()
    year = serializers.IntegerField()
    indicators = IndicatorOut(many=True)


class IndicatorsView(Base, APIView):
    @extend_schema(summary="指标(三会一课、执行率、按期换届、整改率、党费、审核覆盖…)", parameters=[ROOT_PARAM, YEAR_PARAM],
                   responses={200: IndicatorsOut})
    def get(self, request):
        root, year = _root_and_year(request)
        start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
        rows = []
        for key, name in indicators.names().items():
            share = indicators.value(key, root, start, end)
            rows.append({"key": key, "name": name, "num": share.num, "den": share.den, "value": share.value})
        return Response({"unit": root.code, "year": year, "indicators": rows})
