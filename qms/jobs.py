"""Long background jobs (后台任务) — is the process that runs one still there?

A job such as the evidence pack is built by one process (a Celery worker's child, or the web
process itself when there is no broker and tasks run eagerly) and shows "生成中" while it runs.
If that process is killed (a deploy, the out-of-memory killer, ``kill -9``) nothing else would
ever change the state: the job would stay "running" for ever and block a new request. So a job
records *which* process runs it and a heartbeat while it works, and is taken for dead when

* its process is visibly gone: the checker shares the builder's process-id space (the same
  kernel boot and PID namespace) and the recorded process id is not alive, or is alive but was
  started at another time (the id was reused) — certain, and known at once; or
* no heartbeat came for ``stale_after()`` (``QMS_JOB_STALE_SECONDS``, this product's default
  five minutes) — a worker on another machine, or one that hangs.

This module only answers the question; the job's own service changes its state (with its ledger
entry). Process identity is read from ``/proc`` (Linux); elsewhere only the heartbeat counts.
"""
from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.conf import settings

DEFAULT_STALE_SECONDS = 300  # this product's default; a part's layout takes seconds, a heartbeat comes with each part


@dataclass(frozen=True)
class Worker:
    """The process running a job: its host (for people), its id and an identity precise enough to
    tell, from the same machine, whether it still runs (``boot/pidns/pid/start``)."""

    host: str
    pid: int
    process: str  # "" where /proc is not available: then only the heartbeat tells


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


@cache
def _pid_space() -> str:
    """This machine's boot and this process's PID namespace: process ids compare only within it."""
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return ""
    return f"{boot}/{namespace}" if boot else ""


def _started(pid: int) -> str | None:
    """The process's start time (clock ticks after boot), or None when it is gone or a zombie."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after "(command name)", which may hold spaces
    if not fields or fields[0] in ("Z", "X"):  # dead, not yet reaped by its parent
        return None
    return fields[19] if len(fields) > 19 else None


def this_process() -> Worker:
    pid, space = os.getpid(), _pid_space()
    start = _started(pid) if space else None
    return Worker(host=socket.gethostname()[:255], pid=pid, process=f"{space}/{pid}/{start}" if space and start else "")


def process_gone(process: str) -> bool:
    """True when the recorded process is certainly not running: it was in this process-id space
    and that id is free or now names a process started at another time. False when it runs, or
    when this process cannot tell (another machine or container, no /proc)."""
    space = _pid_space()
    if not process or not space or not process.startswith(space + "/"):
        return False
    try:
        pid_text, start = process[len(space) + 1:].split("/")
        pid = int(pid_text)
    except ValueError:
        return False
    return _started(pid) != start


def stale_after() -> dt.timedelta:
    """How long a job may go without a heartbeat before it is taken for dead."""
    return dt.timedelta(seconds=int(getattr(settings, "QMS_JOB_STALE_SECONDS", DEFAULT_STALE_SECONDS)))


def stale_wording(after: dt.timedelta | None = None) -> str:
    """"5分钟" / "30秒", for the reason people read."""
    seconds = int((after or stale_after()).total_seconds())
    return f"{seconds // 60}分钟" if seconds >= 60 and seconds % 60 == 0 else (
        f"{seconds / 60:.1f}分钟" if seconds >= 60 else f"{seconds}秒")
