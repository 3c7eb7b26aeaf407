"""Addresses of 自查与抽查 under /audits/campaigns/."""
from django.urls import path

from audits.campaign import views
from qms import converters  # noqa: F401  (registers the <id:…> path converter)

urlpatterns = [
    path("campaigns/", views.campaign_list, name="campaign_list"),
    path("campaigns/new/", views.campaign_new, name="campaign_new"),
    path("campaigns/plans/new/", views.plan_new, name="campaign_plan_new"),
    path("campaigns/<id:pk>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<id:pk>/summary/", views.campaign_summary, name="campaign_summary"),
    path("campaigns/<id:pk>/summary.pdf", views.campaign_summary_pdf, name="campaign_summary_pdf"),
    path("campaigns/<id:pk>/summary.xlsx", views.campaign_summary_xlsx, name="campaign_summary_xlsx"),
    path("campaigns/<id:pk>/units/<id:entry>/", views.campaign_entry, name="campaign_entry"),
    path("campaigns/<id:pk>/units/<id:entry>/<slug:name>/", views.entry_action, name="campaign_entry_action"),
    path("campaigns/<id:pk>/<slug:name>/", views.campaign_action, name="campaign_action"),
]
