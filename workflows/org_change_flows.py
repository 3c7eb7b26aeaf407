"""组织设置请示流程 — the work items of one request as a viewflow process: 请示 → 批复 → 实施.

As for elections (``workflows.election_flows``): the request's state is its FSM field
(``OrgChange.state``); this process holds only who must act next. When the higher organisation
says no, the process ends after the 批复 step; otherwise it waits for the 实施. Tasks are
completed from ``workflows.org_change``, which checks the actor and every rule itself."""
from __future__ import annotations

from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _
from viewflow import this
from viewflow.workflow import flow, lock
from viewflow.workflow.models import Process, Task
from viewflow.workflow.status import PROCESS

from procedures import workitems


class OrgChangeProcess(Process):
    """组织设置请示流程 — one request's steps."""

    class Meta:
        proxy = True
        verbose_name = _("组织设置请示流程")
        verbose_name_plural = _("组织设置请示流程")


def task_page(request, **kwargs):
    """Work on a step happens on the request's page."""
    return redirect("org_change_page", pk=request.activation.process.artifact_object_id)


class OrgChangeFlow(flow.Flow):
    process_class = OrgChangeProcess
    lock_impl = lock.select_for_update_lock
    process_title = _("组织设置请示")
    process_description = _("请示 → 上级批复 → 实施")

    start = flow.StartHandle(this.start_process).Next(this.answer)
    answer = flow.View(task_page).Annotation(title=_("上级批复")).Next(this.approved)
    approved = flow.If(this.is_approved).Then(this.carry_out).Else(this.end)
    carry_out = flow.View(task_page).Annotation(title=_("实施")).Next(this.end)
    end = flow.End()

    def start_process(self, activation, change):
        activation.process.artifact = change
        return activation.process

    def is_approved(self, activation) -> bool:
        from workflows.org_change_models import OrgChange, OrgChangeState

        return OrgChange.objects.get(pk=activation.process.artifact_object_id).state == OrgChangeState.APPROVED


def process_of(change) -> OrgChangeProcess | None:
    return workitems.process_of(OrgChangeProcess, change)


def begin(change) -> OrgChangeProcess:
    return process_of(change) or OrgChangeFlow.start.run(change=change)


def complete(change, node, user) -> None:
    workitems.complete_open_task(begin(change), node, user)


def open_task_titles(change) -> list[str]:
    process = process_of(change)
    if process is None or process.status != PROCESS.NEW:
        return []
    return [str(t.flow_task.task_title or "") for t in Task.objects.filter(process=process, status__in=workitems.OPEN)]
