from django.urls import path

from audits import improve_views, pack_views, views
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
    path("reviews/", improve_views.review_list, name="review_list"),
    path("reviews/<id:pk>/", improve_views.review_detail, name="review_detail"),
    path("reviews/<id:pk>/<slug:name>/", improve_views.review_action, name="review_action"),
    path("objectives/", improve_views.objectives, name="objectives"),
    path("scoring/", improve_views.scoring_page, name="scoring"),
    path("annual/", improve_views.annual_page, name="annual"),
    path("annual.xlsx", improve_views.annual_xlsx, name="annual_xlsx"),
    path("annual.pdf", improve_views.annual_pdf, name="annual_pdf"),
    path("packs/", pack_views.pack_list, name="pack_list"),
    path("packs/<id:pk>/", pack_views.pack_detail, name="pack_detail"),
    path("packs/<id:pk>/progress.json", pack_views.pack_progress, name="pack_progress"),
    path("packs/<id:pk>/pack.<slug:kind>", pack_views.pack_download, name="pack_download"),
    path("packs/<id:pk>/<slug:name>/", pack_views.pack_action, name="pack_action"),
    path("", views.audit_list, name="audit_list"),
    path("programme/", views.programme, name="audit_programme"),
    path("new/", views.audit_new, name="audit_new"),
    path("<id:pk>/", views.audit_detail, name="audit_detail"),
    path("<id:pk>/report.pdf", views.audit_report_pdf, name="audit_report_pdf"),
    path("<id:pk>/<slug:name>/", views.audit_action, name="audit_action"),
]
