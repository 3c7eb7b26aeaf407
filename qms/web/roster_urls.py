from django.urls import path

from qms.web import roster_views

urlpatterns = [
    path("import/", roster_views.roster_import, name="roster_import"),
    path("template.xlsx", roster_views.roster_template, name="roster_template"),
]
