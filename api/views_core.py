"""组织与党员 (read): units, members and positions within the token's scope."""
from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.response import Response

from api import serializers as s
from api.base import UNIT_PARAM, ReadViewSet, choice_filter, status_param, unit_filter
from qms import pii_log, privacy
from qms.models import Member, Membership, MemberStatus, Position, Unit


@extend_schema_view(list=extend_schema(summary="党组织列表", parameters=[UNIT_PARAM]),
                    retrieve=extend_schema(summary="党组织"))
class UnitViewSet(ReadViewSet):
    serializer_class = s.UnitOut

    def base_queryset(self):
        return Unit.objects.select_related("parent").order_by("path")

    def filtered(self, qs):
        return unit_filter(self.request, qs, "")


@extend_schema_view(list=extend_schema(summary="党员列表(不含身份证号、手机号)",
                                       parameters=[UNIT_PARAM, status_param(MemberStatus.choices)]),
                    retrieve=extend_schema(summary="党员信息(个人信息按权限显示或脱敏)"))
class MemberViewSet(ReadViewSet):
    def get_serializer_class(self):
        return s.MemberDetail if self.action == "retrieve" else s.MemberOut

    def base_queryset(self):
        return Member.objects.order_by("name", "pk").prefetch_related(
            Prefetch("memberships", queryset=Membership.objects.filter(end__isnull=True).select_related("unit"),
                     to_attr="open_memberships"))

    def filtered(self, qs):
        qs = unit_filter(self.request, qs, "memberships__unit")
        return choice_filter(self.request, qs, "status", MemberStatus.choices)

    def retrieve(self, request, *args, **kwargs):
        member = self.get_object()
        if privacy.may_see_personal(request.user, member):  # the full 身份证号 is in the answer: 身份证号查看记录
            pii_log.record(request.user, [member], pii_log.Where.MEMBER_PAGE, path=request.path)
        return Response(self.get_serializer(member).data)


@extend_schema_view(list=extend_schema(summary="职务列表", parameters=[UNIT_PARAM]), retrieve=extend_schema(summary="职务"))
class PositionViewSet(ReadViewSet):
    serializer_class = s.PositionOut

    def base_queryset(self):
        return Position.objects.select_related("member", "unit").order_by("unit__path", "title", "start", "pk")

    def filtered(self, qs):
        return unit_filter(self.request, qs, "unit")
