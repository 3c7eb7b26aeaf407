"""Addresses of 问题清单 and one nonconformity, under /audits/."""
from django.urls import path

from audits.capa import views
from qms import converters  # noqa: F401  (registers the <id:…> and <code:…> path converters)

urlpatterns = [
    path("problems/", views.register, name="nc_register"),
    path("problems.xlsx", views.register_xlsx, name="nc_register_xlsx"),
    path("problems/new/", views.raise_nc, name="nc_raise"),
    path("problems/<id:pk>/", views.detail, name="nc_detail"),
    path("problems/<id:pk>/feedback.pdf", views.feedback_pdf, name="nc_feedback_pdf"),
    path("problems/<id:pk>/files/<id:att>/", views.nc_attachment, name="nc_attachment"),
    path("problems/<id:pk>/<slug:name>/", views.action, name="nc_action"),
    path("gaps/<id:pk>/raise/", views.raise_from_gap, name="nc_raise_gap"),
]
