from django.urls import path

from audits import views

urlpatterns = [
    path("problems/", views.register, name="nc_register"),
    path("problems.xlsx", views.register_xlsx, name="nc_register_xlsx"),
    path("problems/new/", views.raise_nc, name="nc_raise"),
    path("problems/<int:pk>/", views.detail, name="nc_detail"),
    path("problems/<int:pk>/feedback.pdf", views.feedback_pdf, name="nc_feedback_pdf"),
    path("problems/<int:pk>/<str:name>/", views.action, name="nc_action"),
    path("gaps/<int:pk>/raise/", views.raise_from_gap, name="nc_raise_gap"),
]
