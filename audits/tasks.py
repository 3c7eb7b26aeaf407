"""Every Celery task of ``audits``, gathered where the worker's autodiscovery looks; each lives
in its room (names unchanged: ``audits.escalate_overdue``, ``audits.build_evidence_pack``,
``audits.reap_stale_packs``)."""
from audits.capa.tasks import escalate_overdue_task
from audits.evidence.tasks import build_evidence_pack, reap_stale_packs

__all__ = ["build_evidence_pack", "escalate_overdue_task", "reap_stale_packs"]

# ------------------------------------------------------------------ 目标管理: missed targets
from celery import shared_task  # noqa: E402

from qms.celery import app  # noqa: E402


@shared_task(acks_late=True, name="audits.raise_missed_targets")
def raise_missed_targets_task() -> int:
    """Daily: every target whose due date passed unmet raises one improvement ticket."""
    from audits.performance.targets import raise_missed

    return raise_missed()


#: run daily by Celery beat, next to the other daily jobs of settings.CELERY_BEAT_SCHEDULE
app.conf.beat_schedule = {**(app.conf.beat_schedule or {}),
                          "raise-missed-targets": {"task": "audits.raise_missed_targets", "schedule": 24 * 3600.0}}
__all__ += ["raise_missed_targets_task"]
