from django.urls import path

from procedures import views
from qms import converters  # noqa: F401  (registers the <id:…> and <code:…> path converters)

urlpatterns = [
    path("", views.register, name="procedure_register"),
    path("<id:pk>/", views.document_detail, name="procedure_detail"),
    path("<id:pk>/diff/", views.version_diff, name="procedure_diff"),
    path("<id:pk>/adopt/", views.adopt, name="procedure_adopt"),
    path("<id:pk>/new-version/", views.new_version, name="procedure_new_version"),
    path("<id:pk>/new-instruction/", views.new_instruction, name="procedure_new_instruction"),
    path("versions/<id:pk>/edit/", views.edit_version, name="procedure_version_edit"),
    path("versions/<id:pk>/<slug:action>/", views.version_action, name="procedure_version_action"),
    path("obligations/<id:pk>/edit/", views.edit_obligation, name="procedure_obligation_edit"),
    path("forms/<id:pk>/", views.form_preview, name="procedure_form"),
    path("forms/<id:pk>.pdf", views.form_pdf, name="procedure_form_pdf"),
    path("rules/<code:code>/", views.unit_rules, name="procedure_unit_rules"),
]
