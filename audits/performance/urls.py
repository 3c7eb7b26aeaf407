"""Addresses of 目标、考核排名、年度统计 and 目标分解 (targets), under /audits/."""
from django.urls import path

from audits.performance import views
from qms import converters  # noqa: F401  (registers the <id:…> and <code:…> path converters)

urlpatterns = [
    path("objectives/", views.objectives, name="objectives"),
    path("scoring/", views.scoring_page, name="scoring"),
    path("scoring/cooperation/<id:pk>/", views.coalition_scoring, name="coalition_scoring"),
    path("grades/<int:year>/", views.grades_page, name="grades"),
    path("annual/", views.annual_page, name="annual"),
    path("annual.xlsx", views.annual_xlsx, name="annual_xlsx"),
    path("annual.pdf", views.annual_pdf, name="annual_pdf"),
    path("targets/", views.targets_home, name="targets"),
    path("targets/<code:code>/<int:year>/", views.targets_tree, name="targets_tree"),
]
