"""Every Celery task of ``audits``, gathered where the worker's autodiscovery looks; each lives
in its room (names unchanged: ``audits.escalate_overdue``, ``audits.build_evidence_pack``,
``audits.reap_stale_packs``, ``audits.notify_certification_audits``)."""
from audits.capa.tasks import escalate_overdue_task
from audits.certification.tasks import notify_certification_audits_task
from audits.evidence.tasks import build_evidence_pack, reap_stale_packs

__all__ = ["build_evidence_pack", "escalate_overdue_task", "notify_certification_audits_task", "reap_stale_packs"]

# ------------------------------------------------------------------ 目标管理: missed targets
from celery import shared_task  # noqa: E402


@shared_task(acks_late=True, name="audits.raise_missed_targets")
def raise_missed_targets_task() -> int:
    """Daily: every target whose due date passed unmet raises one improvement ticket."""
    from audits.performance.targets import raise_missed

    return raise_missed()

__all__ += ["raise_missed_targets_task"]
from audits.campaign.tasks import campaign_escalate_task  # noqa: E402  (检查活动: 自查 reminders and escalation)

__all__ += ["campaign_escalate_task"]
