"""Addresses of 体系策划, under /audits/system/."""
from django.urls import path

from audits.system import views
from qms import converters  # noqa: F401  (registers the <id:…> and <code:…> path converters)

urlpatterns = [
    path("system/", views.system_home, name="system_home"),
    path("system/context/", views.context_page, name="system_context"),
    path("system/risks/", views.risk_page, name="system_risks"),
    path("system/competence/", views.competence_page, name="system_competence"),
    path("system/competence/<id:pk>/certificate/", views.training_certificate, name="system_certificate"),
    path("system/surveys/", views.survey_list, name="system_surveys"),
    path("system/surveys/<id:pk>/", views.survey_detail, name="system_survey"),
]
