"""Addresses of 内部审核 (last: its ``<id>/`` patterns take what the others leave), under /audits/."""
from django.urls import path

from audits.internal import views
from qms import converters  # noqa: F401  (registers the <id:…> and <code:…> path converters)

urlpatterns = [
    path("", views.audit_list, name="audit_list"),
    path("programme/", views.programme, name="audit_programme"),
    path("new/", views.audit_new, name="audit_new"),
    path("<id:pk>/", views.audit_detail, name="audit_detail"),
    path("<id:pk>/report.pdf", views.audit_report_pdf, name="audit_report_pdf"),
    path("<id:pk>/<slug:name>/", views.audit_action, name="audit_action"),
]
