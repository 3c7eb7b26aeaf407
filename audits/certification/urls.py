"""Addresses of the certification cycle, under /audits/certificates/."""
from django.urls import path

from audits.certification import views
from qms import converters  # noqa: F401  (registers the <id:…> and <code:…> path converters)

urlpatterns = [
    path("certificates/", views.certificate_list, name="certificate_list"),
    path("certificates/readiness/", views.readiness_page, name="cert_readiness"),
    path("certificates/<id:pk>/", views.certificate_detail, name="certificate_detail"),
    path("certificates/audits/<id:pk>/findings/", views.findings_upload, name="cert_findings_import"),
    path("certificates/audits/<id:pk>/findings/confirm/", views.findings_confirm, name="cert_findings_confirm"),
    path("certificates/audits/<id:pk>/findings/<str:token>/", views.findings_preview, name="cert_findings_preview"),
    path("certificates/audits/<id:pk>/<slug:name>/", views.audit_action, name="cert_audit_action"),
]
