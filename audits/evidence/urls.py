"""Addresses of 认证证据包 (the external auditor's link is in ``external_urls``), under /audits/."""
from django.urls import path

from audits.evidence import views
from qms import converters  # noqa: F401  (registers the <id:…> and <code:…> path converters)

urlpatterns = [
    path("packs/", views.pack_list, name="pack_list"),
    path("packs/<id:pk>/", views.pack_detail, name="pack_detail"),
    path("packs/<id:pk>/progress.json", views.pack_progress, name="pack_progress"),
    path("packs/<id:pk>/pack.<slug:kind>", views.pack_download, name="pack_download"),
    path("packs/<id:pk>/<slug:name>/", views.pack_action, name="pack_action"),
]
