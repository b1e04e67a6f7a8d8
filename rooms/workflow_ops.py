"""Every workflow operation, in one class the backends inherit (``rooms.workflow_store.WorkflowStore``)."""

from __future__ import annotations

from rooms.workflow_duty import DutyOps
from rooms.workflow_sessions import SessionOps
from rooms.workflow_tasks import TaskOps
from rooms.workflow_topics import TopicOps

__all__ = ["WorkflowOps"]


class WorkflowOps(SessionOps, TopicOps, TaskOps, DutyOps):
    """Sessions and drafts, topics, dispatch and duty over ``_transact`` / ``_read``."""
