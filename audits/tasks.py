"""Every Celery task of ``audits``, gathered where the worker's autodiscovery looks; each lives
in its room (names unchanged: ``audits.escalate_overdue``, ``audits.build_evidence_pack``,
``audits.reap_stale_packs``, ``audits.notify_certification_audits``)."""
from audits.capa.tasks import escalate_overdue_task
from audits.certification.tasks import notify_certification_audits_task
from audits.evidence.tasks import build_evidence_pack, reap_stale_packs

__all__ = ["build_evidence_pack", "escalate_overdue_task", "notify_certification_audits_task", "reap_stale_packs"]
