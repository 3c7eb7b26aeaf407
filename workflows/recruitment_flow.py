"""发展党员流程 — the work items of one applicant as a viewflow process.

As in ``procedures.flows``: the applicant's stage is its FSM field (``Applicant.stage``);
this process holds only the work item of the stage in hand (one task per stage of
``recruitment.toml``), completed by ``workflows.recruitment_services`` when the stage ends.
The services check the actor's permission themselves (driving viewflow from code skips its
own checks). Locking is ``select_for_update`` on the process row.
"""
from __future__ import annotations

from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _
from viewflow import this
from viewflow.workflow import flow, lock
from viewflow.workflow.models import Process, Task
from viewflow.workflow.status import PROCESS

from procedures import workitems


class RecruitmentProcess(Process):
    """发展党员流程 — one applicant's process."""

    class Meta:
        proxy = True
        verbose_name = _("发展党员流程")
        verbose_name_plural = _("发展党员流程")


def task_page(request, **kwargs):
    """Work on a stage happens on the applicant's page, where the next step is."""
    return redirect(f"/work/recruitment/{request.activation.process.artifact_object_id}/")


class RecruitmentFlow(flow.Flow):
    process_class = RecruitmentProcess
    lock_impl = lock.select_for_update_lock
    process_title = _("发展党员")
    process_description = _("申请入党 → 入党积极分子 → 发展对象 → 接收预备党员 → 转正")

    start = flow.StartHandle(this.start_process).Next(this.applying)
    applying = flow.View(task_page).Annotation(title=_("申请入党")).Next(this.activist)
    activist = flow.View(task_page).Annotation(title=_("入党积极分子的确定和培养教育")).Next(this.candidate)
    candidate = flow.View(task_page).Annotation(title=_("发展对象的确定和考察")).Next(this.receiving)
    receiving = flow.View(task_page).Annotation(title=_("预备党员的接收")).Next(this.probation)
    probation = flow.View(task_page).Annotation(title=_("预备党员的教育考察和转正")).Next(this.end)
    end = flow.End()

    def start_process(self, activation, applicant):
        activation.process.artifact = applicant
        return activation.process


OPEN = workitems.OPEN


def process_of(applicant) -> RecruitmentProcess | None:
    return workitems.process_of(RecruitmentProcess, applicant)


def begin(applicant) -> RecruitmentProcess:
    return process_of(applicant) or RecruitmentFlow.start.run(applicant=applicant)


def finish_stage(applicant, stage: str, user) -> None:
    """The stage ``stage`` ended: complete its open task (the next stage's task opens)."""
    workitems.complete_open_task(begin(applicant), getattr(RecruitmentFlow, stage), user)


def stop(applicant) -> None:
    """The process ended before 转正 (不予接收, 取消预备党员资格): its running process is cancelled
    with the open work item."""
    process = workitems.process_of(RecruitmentProcess, applicant, running_only=True)
    if process is not None:
        RecruitmentFlow.instance.cancel(process)


def open_stage(applicant) -> str | None:
    """The stage whose work item is open (None once the process ended)."""
    process = process_of(applicant)
    if process is None or process.status != PROCESS.NEW:
        return None
    task = Task.objects.filter(process=process, status__in=OPEN).order_by("-pk").first()
    return task.flow_task.name if task is not None else None
