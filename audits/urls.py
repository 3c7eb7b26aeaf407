"""/audits/ — the five rooms' addresses, in the order they are matched (internal audit last:
its ``<id>/`` patterns would otherwise take ``problems/`` and the rest). Names and paths are
those the pages have always had."""
from audits.capa.urls import urlpatterns as capa
from audits.certification.urls import urlpatterns as certification
from audits.evidence.urls import urlpatterns as evidence
from audits.internal.urls import urlpatterns as internal
from audits.performance.urls import urlpatterns as performance
from audits.review.urls import urlpatterns as review

urlpatterns = [*capa, *review, *performance, *evidence, *certification, *internal]

from audits.campaign.urls import urlpatterns as campaign  # noqa: E402  (/audits/campaigns/…: literal, no clash)

urlpatterns += campaign
