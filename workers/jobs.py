"""The job registry: every background job the runtime can host, by name.

Each entry builds a ``workers.runtime.Job`` from the hub's ``Parts``; adding
a job is one line here. ``TONGPIN_WORKERS`` and ``tongpin worker NAME...``
name jobs from this table.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Callable

from hub.config import Settings
from rooms.monitor import MonitorStore
from workers.assessment import Assessment, make_assessment_store
from workers.leases import make_leases
from workers.monitor.jobs import EscalationJob, FetchJob
from workers.runtime import Job, Parts, WorkerHost
from workers.workflow_jobs import DispatchEscalation, DutyRotation, SessionSchedule

__all__ = ["REGISTRY", "build", "make_host", "make_monitor_store", "select"]

REGISTRY: dict[str, Callable[[Parts], Job]] = {
    "assessment": lambda p: Assessment(functools.partial(make_assessment_store, p.settings)),
    "monitor-fetch": lambda p: FetchJob(p.monitor, p.publisher, p.settings, p.duty),
    "alert-escalation": lambda p: EscalationJob(p.monitor, p.publisher, p.settings, p.duty),
    "dispatch-escalation": lambda p: DispatchEscalation(
        p.workflow, p.publisher, interval=p.settings.dispatch_escalation_interval
    ),
    "duty-rotation": lambda p: DutyRotation(p.workflow, p.publisher),
    "session-schedule": lambda p: SessionSchedule(
        p.workflow, p.publisher, interval=p.settings.session_schedule_interval
    ),
}


def select(spec: str | list[str]) -> list[str]:
    """Job names from ``all``, ``none`` or a comma list (or a list of names); ``ValueError`` names unknown ones."""
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    if names == ["all"]:
        return list(REGISTRY)
    if names in ([], ["none"]):
        return []
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown jobs {', '.join(unknown)}; known: all, none, {', '.join(REGISTRY)}")
    return list(dict.fromkeys(names))


def build(parts: Parts, names: list[str]) -> list[Job]:
    return [REGISTRY[name](parts) for name in names]


def make_host(parts: Parts, names: list[str]) -> WorkerHost:
    """A host for the jobs ``names``, with the configured leases and a holder id unique to this process."""
    settings = parts.settings
    holder = f"{settings.node_id}:{os.getpid()}:{secrets.token_hex(3)}"
    return WorkerHost(build(parts, names), make_leases(settings), holder, ttl=settings.worker_lease_ttl)


def make_monitor_store(settings: Settings) -> MonitorStore:
    url = settings.database_url
    if url.startswith(("postgres://", "postgresql://")):
        from rooms.postgres_monitor import PostgresMonitor

        return PostgresMonitor(url, max_size=2)
    from rooms.sqlite_monitor import SqliteMonitor

    return SqliteMonitor(settings.sqlite_path)
