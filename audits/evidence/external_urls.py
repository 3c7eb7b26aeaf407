"""External auditors' read-only pages (no login: the expiring, revocable link is the credential)."""
from django.urls import path

from audits.evidence import views as pack_views
from qms import converters  # noqa: F401  (registers the <id:…> and <code:…> path converters)

urlpatterns = [
    path("<slug:token>/", pack_views.external, name="pack_external"),
    path("<slug:token>/pack.<slug:kind>", pack_views.external_download, name="pack_external_download"),
]
