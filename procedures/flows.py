"""文件审批流程 — review and approval as a viewflow process: 起草 → 审核 → 批准 → 发布.

Division of labour, so each state lives in one place: the version's own status is its
FSM field (``DocumentVersion.status``); this process holds only the *work items* — who must
act next — and closes when the version is approved (the 发布 on the effective date is the
version's own transition, run by the hourly job), or is cancelled when the version is sent
back or withdrawn. Locking is ``select_for_update`` on the process row (PostgreSQL-safe).

Tasks are completed from ``procedures.services``, which check the actor's scope and the
separation of duties themselves (driving viewflow from code skips its permission checks).
"""
from __future__ import annotations

from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _
from viewflow import this
from viewflow.workflow import flow, lock
from viewflow.workflow.models import Process, Task
from viewflow.workflow.status import PROCESS

from procedures import workitems


class ApprovalProcess(Process):
    """文件审批流程 — one run of review and approval for one document version."""

    class Meta:
        proxy = True
        verbose_name = _("文件审批流程")
        verbose_name_plural = _("文件审批流程")


def task_page(request, **kwargs):
    """Work on a task happens on the document page, where the actions are."""
    process = request.activation.process
    return redirect(f"/procedures/{process.artifact.document_id}/?version={process.artifact_object_id}")


class DocumentApprovalFlow(flow.Flow):
    process_class = ApprovalProcess
    lock_impl = lock.select_for_update_lock
    process_title = _("体系文件审批")
    process_description = _("起草 → 审核 → 批准 → 发布")

    start = flow.StartHandle(this.start_process).Next(this.review)
    review = flow.View(task_page).Annotation(title=_("审核")).Next(this.approve)
    approve = flow.View(task_page).Annotation(title=_("批准")).Next(this.end)
    end = flow.End()

    def start_process(self, activation, version):
        activation.process.artifact = version
        return activation.process


OPEN = workitems.OPEN


def _open_process(version) -> ApprovalProcess | None:
    return workitems.process_of(ApprovalProcess, version, running_only=True)


def begin(version) -> ApprovalProcess:
    """提交审核: start a process for the version (one open process per version)."""
    existing = _open_process(version)
    if existing is not None:
        return existing
    return DocumentApprovalFlow.start.run(version=version)


def complete(version, node, user) -> None:
    """Mark the open ``node`` task of the version's process done by ``user``."""
    workitems.complete_open_task(_open_process(version) or begin(version), node, user)


def cancel(version) -> None:
    process = _open_process(version)
    if process is not None:
        DocumentApprovalFlow.instance.cancel(process)


def open_tasks():
    """Open review/approval tasks with their versions (for the 待办 panel)."""
    return Task.objects.filter(process__in=ApprovalProcess.objects.filter(status=PROCESS.NEW),
                               flow_task__in=[DocumentApprovalFlow.review, DocumentApprovalFlow.approve],
                               status__in=OPEN).select_related("process")
