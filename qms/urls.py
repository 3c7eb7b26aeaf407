"""URL composition root (the one place allowed to import every package)."""
from django.urls import include, path

urlpatterns = [
    path("procedures/", include("procedures.urls")),
    path("work/", include("workflows.urls")),
    path("audits/", include("audits.urls")),
    path("external/", include("audits.external_urls")),
    path("", include("qms.web.urls")),
]
