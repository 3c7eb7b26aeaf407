"""体系文件 and 规定 (read): the documents a person's pages show (``procedures.views.visible_documents``:
the standard library, their units' documents and their ancestors'), each with the obligations of
its version in force."""
from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, viewsets

from api.base import Base
from procedures.models import DocumentKind, DocumentVersion, Obligation, VersionStatus
from procedures.views import visible_documents
from qms import params


class ObligationOut(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField(help_text="规定键(应开展事项的 obligation_key)")
    title = serializers.CharField()
    count = serializers.IntegerField(allow_null=True, help_text="次数")
    per = serializers.CharField(help_text="每(周期)")
    every_months = serializers.IntegerField(allow_null=True)
    event = serializers.CharField(help_text="触发事件")
    responsible = serializers.CharField(help_text="责任人职务")
    checker = serializers.CharField(help_text="检查人职务")
    checker_level = serializers.CharField()
    description = serializers.CharField()


class ProcedureOut(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField(help_text="文件编号")
    title = serializers.CharField()
    kind = serializers.CharField()
    kind_label = serializers.CharField(source="get_kind_display")
    owner = serializers.SerializerMethodField(help_text="所属党组织编码(标准文件库为空)")
    owner_name = serializers.SerializerMethodField(help_text="所属党组织名称")
    version = serializers.SerializerMethodField(help_text="现行有效版本号")
    effective_on = serializers.SerializerMethodField()
    obligations = serializers.SerializerMethodField()

    def _v(self, obj):
        found = getattr(obj, "in_force", [])
        return found[0] if found else None

    def get_owner(self, obj) -> str | None:
        return obj.owner.code if obj.owner_id else None

    def get_owner_name(self, obj) -> str | None:
        return obj.owner.name if obj.owner_id else None

    def get_version(self, obj) -> str | None:
        v = self._v(obj)
        return v.label if v else None

    def get_effective_on(self, obj) -> str | None:
        v = self._v(obj)
        return v.effective_on.isoformat() if v and v.effective_on else None

    @extend_schema_field(ObligationOut(many=True))
    def get_obligations(self, obj):
        v = self._v(obj)
        return ObligationOut(v.obligations.all(), many=True).data if v else []




@extend_schema_view(
    list=extend_schema(summary="体系文件及其现行规定", parameters=[
        OpenApiParameter("kind", OpenApiTypes.STR, enum=DocumentKind.values, description="文件类别")]),
    retrieve=extend_schema(summary="体系文件及其现行规定"))
class ProcedureViewSet(Base, viewsets.ReadOnlyModelViewSet):
    serializer_class = ProcedureOut
    lookup_value_converter = "id"

    def get_queryset(self):
        in_force = DocumentVersion.objects.filter(status=VersionStatus.EFFECTIVE).prefetch_related(
            Prefetch("obligations", queryset=Obligation.objects.order_by("pk")))
        qs = (visible_documents(self.request.user).select_related("owner").order_by("code", "pk")
              .prefetch_related(Prefetch("versions", queryset=in_force, to_attr="in_force")))
        if self.action == "list":
            kind = params.choice_param(self.request._request, "kind", DocumentKind.values, default="", label="文件类别")
            if kind:
                qs = qs.filter(kind=kind)
        return qs


