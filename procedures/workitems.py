"""待办 — the small part every viewflow process of this product shares (文件审批, 换届选举, 发展党员).

A process holds only the work items (who must act next); the state lives in its artifact's FSM
field and the services drive the process from code, checking the actor themselves. These helpers
find an artifact's process and complete one of its open tasks on the actor's behalf."""
from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from viewflow.workflow.models import Process, Task
from viewflow.workflow.status import PROCESS, STATUS

#: the task statuses that still wait for someone
OPEN = [STATUS.NEW, STATUS.ASSIGNED, STATUS.STARTED]


def process_of(process_class: type[Process], artifact, *, running_only: bool = False) -> Process | None:
    """The newest process of ``process_class`` about ``artifact`` (only a running one if asked)."""
    ct = ContentType.objects.get_for_model(artifact)
    qs = process_class.objects.filter(artifact_content_type=ct, artifact_object_id=artifact.pk)
    if running_only:
        qs = qs.filter(status=PROCESS.NEW)
    return qs.order_by("-pk").first()


def complete_open_task(process: Process, node, user) -> bool:
    """Complete the open task of ``node`` in ``process`` as done by ``user``; False when none is open."""
    task = Task.objects.filter(process=process, flow_task=node, status__in=OPEN).first()
    if task is None:
        return False
    with task.activation() as activation:
        if activation.status == STATUS.NEW:
            activation.assign(user)
        if activation.status == STATUS.ASSIGNED:
            activation.start(None)
        activation.execute()
    return True
