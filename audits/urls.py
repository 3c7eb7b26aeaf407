"""/audits/ — the five rooms' addresses, in the order they are matched (internal audit last:
its ``<id>/`` patterns would otherwise take ``problems/`` and the rest). Names and paths are
those the pages have always had."""
from audits.capa.urls import urlpatterns as capa
from audits.evidence.urls import urlpatterns as evidence
from audits.internal.urls import urlpatterns as internal
from audits.performance.urls import urlpatterns as performance
from audits.review.urls import urlpatterns as review
from audits.system.urls import urlpatterns as system

urlpatterns = [*capa, *review, *performance, *evidence, *internal]
urlpatterns += system  # 体系策划 under system/ (no internal-audit pattern matches it: theirs start with a number)
