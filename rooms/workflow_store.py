"""The WorkflowStore seam: planning sessions, drafts, topics, dispatch and duty, stored.

Backends: ``SqliteWorkflowStore`` (embedded default, the store's file) and
``PostgresWorkflowStore`` (cluster). The operations are written once, over
``rooms.sql.Tx`` (``rooms.workflow_sessions``, ``_topics``, ``_tasks``,
``_duty``), and ``WorkflowStore`` is all of them; a backend adds only its
transactions (``rooms.workflow_base.Transactor``) and ``open`` / ``close``.

Guarantees (both backends, ``tests/workflow``):
- **One transaction per change.** A change, its audit row and its live
  events commit together or not at all. The committed events come back in
  ``Change.events``; the caller announces them (``Publisher.announce``) after
  the call returns. Events not announced (a crash) are still delivered by
  every node's store poll.
- **Checked in the transaction.** The state machine (``rooms.workflow``) and
  the roles policy are applied to the rows as read inside the transaction,
  with the rows locked (PostgreSQL) or the database held (SQLite), so two
  concurrent actions on one thing are applied one after the other and the
  second is judged on the first's result.
- **Errors.** ``rooms.workflow.NotFound``, ``Forbidden``, ``Invalid``,
  ``Conflict``, ``IllegalTransition``: nothing was changed. A backend failure
  raises ``rooms.store.StoreUnavailable``.
- **Membership and state reach the hubs.** Creating a session, inviting or
  removing a unit and every state change stamp ``rooms.changed_at``, so each
  hub's revocation poll closes sockets of removed units (4403) and reconnects
  writers of a closed or reopened session (4402) within about a second.
"""

from __future__ import annotations

from rooms.workflow_base import Change, Filters, Recipient, Transactor
from rooms.workflow_duty import DutyOps
from rooms.workflow_sessions import SessionOps
from rooms.workflow_tasks import TaskOps
from rooms.workflow_topics import TopicOps

__all__ = ["Change", "Filters", "Recipient", "Transactor", "WorkflowStore"]


class WorkflowStore(SessionOps, TopicOps, TaskOps, DutyOps):
    """Planning sessions, drafts, topic reports, dispatch and duty (see the module's guarantees).

    Reads take the ``Actor`` and return only what it may see (``NotFound``
    otherwise). Writes return a ``Change`` whose ``events`` the caller
    announces. Ids of topics, tasks and receipts are integers here and
    strings in JSON.
    """

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError
