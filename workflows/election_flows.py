"""换届选举流程 — the work items of an election as a viewflow process: 酝酿 → 请示 → 选举 → 报批.

As with document approval (procedures/flows.py): the election's state is its own FSM field
(``Election.state``); this process holds only who must act next, and ends when the 报批 step
is done. Tasks are completed from ``workflows.election``, which checks the actor and every
rule itself (driving viewflow from code skips its permission checks).
"""
from __future__ import annotations

from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _
from viewflow import this
from viewflow.workflow import flow, lock
from viewflow.workflow.models import Process, Task
from viewflow.workflow.status import PROCESS

from procedures import workitems


class ElectionProcess(Process):
    """换届选举流程 — one run of the four steps for one election."""

    class Meta:
        proxy = True
        verbose_name = _("换届选举流程")
        verbose_name_plural = _("换届选举流程")


def task_page(request, **kwargs):
    """Work on a step happens on the unit's election page, where the forms are."""
    return redirect("election_page", code=request.activation.process.artifact.unit.code)


class ElectionFlow(flow.Flow):
    process_class = ElectionProcess
    lock_impl = lock.select_for_update_lock
    process_title = _("换届选举")
    process_description = _("酝酿 → 请示 → 选举 → 报批")

    start = flow.StartHandle(this.start_process).Next(this.nominate)
    nominate = flow.View(task_page).Annotation(title=_("酝酿")).Next(this.request)
    request = flow.View(task_page).Annotation(title=_("请示")).Next(this.elect)
    elect = flow.View(task_page).Annotation(title=_("选举")).Next(this.report)
    report = flow.View(task_page).Annotation(title=_("报批")).Next(this.end)
    end = flow.End()

    def start_process(self, activation, election):
        activation.process.artifact = election
        return activation.process


OPEN = workitems.OPEN


def process_of(election) -> ElectionProcess | None:
    return workitems.process_of(ElectionProcess, election)


def begin(election) -> ElectionProcess:
    return process_of(election) or ElectionFlow.start.run(election=election)


def complete(election, node, user) -> None:
    """Mark the open ``node`` task of the election's process done by ``user``."""
    workitems.complete_open_task(begin(election), node, user)


def open_task_titles(election) -> list[str]:
    """The steps waiting in the election's process (for the page)."""
    process = process_of(election)
    if process is None or process.status != PROCESS.NEW:
        return []
    return [str(t.flow_task.task_title or "") for t in Task.objects.filter(process=process, status__in=OPEN)]
