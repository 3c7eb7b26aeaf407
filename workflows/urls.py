from django.urls import path

from qms import converters  # noqa: F401  (registers the <id:…> and <code:…> path converters)
from workflows import (
    coalition_views,
    election_views,
    history_views,
    org_change_views,
    recruitment_views,
    views,
)

urlpatterns = [
    path("", views.occurrence_list, name="occurrence_list"),
    path("<id:pk>/", views.occurrence_detail, name="occurrence_detail"),
    path("<id:pk>/signin.xlsx", views.signin_sheet, name="signin_sheet"),
    path("<id:pk>/<slug:action>/", views.occurrence_action, name="occurrence_action"),
    path("attachments/<id:pk>/", views.attachment_download, name="attachment_download"),
    path("elections/<code:code>/", election_views.election_page, name="election_page"),
    path("orgchanges/<id:pk>/", org_change_views.org_change_page, name="org_change_page"),
    path("orgchanges/unit/<code:code>/", org_change_views.org_change_list, name="org_change_list"),
    path("orgchanges/unit/<code:code>/new/", org_change_views.org_change_new, name="org_change_new"),
    path("coalitions/", coalition_views.coalition_list, name="coalition_list"),
    path("coalitions/<id:pk>/", coalition_views.coalition_page, name="coalition_page"),
    path("compliance/", views.compliance_page, name="compliance"),
    path("compliance.xlsx", views.compliance_xlsx, name="compliance_xlsx"),
    path("records.xlsx", views.records_xlsx, name="records_xlsx"),
    path("dues/", views.dues_page, name="dues_page"),
    path("people/", views.people_page, name="people_duties"),
    path("recruitment/", recruitment_views.recruitment_list, name="recruitment_list"),
    path("recruitment/<id:pk>/", recruitment_views.applicant_detail, name="recruitment_applicant"),
    path("history/", history_views.history_import_page, name="history_import"),
    path("history/confirm/", history_views.history_import_confirm, name="history_import_confirm"),
    path("history/<str:token>/", history_views.history_import_preview, name="history_import_preview"),
]
