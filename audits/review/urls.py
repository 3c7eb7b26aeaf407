"""Addresses of 管理评审, under /audits/."""
from django.urls import path

from audits.review import views
from qms import converters  # noqa: F401  (registers the <id:…> and <code:…> path converters)

urlpatterns = [
    path("reviews/", views.review_list, name="review_list"),
    path("reviews/<id:pk>/", views.review_detail, name="review_detail"),
    path("reviews/<id:pk>/<slug:name>/", views.review_action, name="review_action"),
]
