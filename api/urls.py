"""/api/: the REST API under v1/, its OpenAPI schema and docs page, and the token page."""
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from api import (
    pages,
    views_audits,
    views_capa,
    views_core,
    views_imports,
    views_procedures,
    views_work,
)

router = SimpleRouter(use_regex_path=False)
router.register("units", views_core.UnitViewSet, basename="api-unit")
router.register("members", views_core.MemberViewSet, basename="api-member")
router.register("positions", views_core.PositionViewSet, basename="api-position")
router.register("procedures", views_procedures.ProcedureViewSet, basename="api-procedure")
router.register("occurrences", views_work.OccurrenceViewSet, basename="api-occurrence")
router.register("records", views_work.RecordViewSet, basename="api-record")
router.register("nonconformities", views_capa.NonconformityViewSet, basename="api-nonconformity")
router.register("audits", views_audits.AuditViewSet, basename="api-audit")
router.register("packs", views_audits.PackViewSet, basename="api-pack")

urlpatterns = [
    path("v1/", include(router.urls)),
    path("v1/compliance/", views_audits.ComplianceView.as_view(), name="api-compliance"),
    path("v1/indicators/", views_audits.IndicatorsView.as_view(), name="api-indicators"),
    path("v1/imports/members/", views_imports.MembersImportView.as_view(), name="api-import-members"),
    path("v1/imports/meetings/", views_imports.MeetingsImportView.as_view(), name="api-import-meetings"),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("docs/", pages.docs, name="api_docs"),
    path("tokens/", pages.token_page, name="api_tokens"),
    path("tokens/<id:pk>/revoke/", pages.token_revoke, name="api_token_revoke"),
    # anything else under /api/v1/ (a malformed id, an unknown resource): the JSON 404, not the HTML page
    path("v1/", pages.not_found, name="api_root"),
    path("v1/<path:rest>", pages.not_found, name="api_not_found"),
]
