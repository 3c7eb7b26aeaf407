"""/audits/ — the rooms' addresses, in the order they are matched (internal audit last: its
``<id>/`` patterns would otherwise take ``problems/`` and the rest; the campaign's and the
system room's start with a literal word, so their place does not matter). Names and paths are
those the pages have always had."""
from audits.campaign.urls import urlpatterns as campaign
from audits.capa.urls import urlpatterns as capa
from audits.certification.urls import urlpatterns as certification
from audits.evidence.urls import urlpatterns as evidence
from audits.internal.urls import urlpatterns as internal
from audits.performance.urls import urlpatterns as performance
from audits.review.urls import urlpatterns as review
from audits.system.urls import urlpatterns as system

urlpatterns = [*capa, *review, *performance, *campaign, *system, *evidence, *certification, *internal]
