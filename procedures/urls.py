from django.urls import path

from procedures import views

urlpatterns = [
    path("", views.register, name="procedure_register"),
    path("<int:pk>/", views.document_detail, name="procedure_detail"),
    path("<int:pk>/diff/", views.version_diff, name="procedure_diff"),
    path("<int:pk>/adopt/", views.adopt, name="procedure_adopt"),
    path("<int:pk>/new-version/", views.new_version, name="procedure_new_version"),
    path("versions/<int:pk>/edit/", views.edit_version, name="procedure_version_edit"),
    path("versions/<int:pk>/<str:action>/", views.version_action, name="procedure_version_action"),
    path("obligations/<int:pk>/edit/", views.edit_obligation, name="procedure_obligation_edit"),
    path("forms/<int:pk>/", views.form_preview, name="procedure_form"),
    path("forms/<int:pk>.pdf", views.form_pdf, name="procedure_form_pdf"),
    path("rules/<str:code>/", views.unit_rules, name="procedure_unit_rules"),
]
