from django.urls import path

from qms.web import roster_views

urlpatterns = [
    path("import/", roster_views.roster_import, name="roster_import"),
    path("import/confirm/", roster_views.roster_confirm, name="roster_confirm"),
    path("import/columns/", roster_views.roster_columns, name="roster_columns"),
    path("import/discard/", roster_views.roster_discard, name="roster_discard"),
    path("import/<str:token>/", roster_views.roster_preview, name="roster_preview"),
    path("units/", roster_views.units_import, name="units_import"),
    path("units/confirm/", roster_views.units_import_confirm, name="units_import_confirm"),
    path("units/<str:token>/", roster_views.units_import_preview, name="units_import_preview"),
    path("positions/", roster_views.positions_import, name="positions_import"),
    path("positions/confirm/", roster_views.positions_import_confirm, name="positions_import_confirm"),
    path("positions/<str:token>/", roster_views.positions_import_preview, name="positions_import_preview"),
    path("template.xlsx", roster_views.roster_template, name="roster_template"),
]
