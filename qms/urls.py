"""URL composition root (the one place allowed to import every package)."""
from django.urls import include, path

urlpatterns = [
    path("procedures/", include("procedures.urls")),
    path("work/", include("workflows.urls")),
    path("audits/", include("audits.urls")),
    path("api/", include("api.urls")),
    path("external/", include("audits.evidence.external_urls")),
    path("", include("qms.web.urls")),
]

#: A bad request (a malformed query parameter, qms/params.py) gets the 400 page in the site's layout.
handler400 = "qms.params.bad_request"
