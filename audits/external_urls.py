"""External auditors' read-only pages (no login: the expiring, revocable link is the credential)."""
from django.urls import path

from audits import pack_views

urlpatterns = [
    path("<str:token>/", pack_views.external, name="pack_external"),
    path("<str:token>/pack.<str:kind>", pack_views.external_download, name="pack_external_download"),
]
