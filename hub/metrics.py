"""Prometheus text exposition of the hub's counters and gauges."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.state import Hub

__all__ = ["render"]


def _line(name: str, kind: str, help_: str, value: float, labels: str) -> Iterable[str]:
    yield f"# HELP {name} {help_}"
    yield f"# TYPE {name} {kind}"
    yield f"{name}{{{labels}}} {value}"


def render(hub: Hub) -> str:
    labels = f'node="{hub.settings.node_id}"'
    registry = hub.registry
    store_latency = getattr(hub.store, "latency", None)
    rows: list[tuple[str, str, str, float]] = [
        ("tongpin_connections", "gauge", "Open document connections.", len(hub.connections)),
        ("tongpin_connections_total", "counter", "Document connections accepted.", hub.counters.connections_total),
        ("tongpin_rooms", "gauge", "Rooms with at least one loaded draft.", len({k.room for k in registry.open})),
        ("tongpin_documents_loaded", "gauge", "Drafts loaded in memory.", len(registry.open)),
        ("tongpin_document_loads_total", "counter", "Draft loads from the store.", registry.loads),
        ("tongpin_document_unloads_total", "counter", "Draft unloads.", registry.unloads),
        ("tongpin_document_load_failures_total", "counter", "Draft loads that failed.", registry.load_failures),
        ("tongpin_updates_total", "counter", "Client updates applied.", hub.counters.updates_total),
        ("tongpin_updates_per_second", "gauge", "Client updates applied per second, last 10 s.", hub.rate()),
        ("tongpin_deliveries_total", "counter", "Frames handed to client sockets.", hub.counters.deliveries_total),
        ("tongpin_queue_overflows_total", "counter", "Clients closed as slow consumers.", hub.counters.overflows_total),
        ("tongpin_protocol_errors_total", "counter", "Connections closed for bad input.", hub.counters.bad_input_total),
        ("tongpin_journal_backlog", "gauge", "Updates waiting for the store.", hub.journal.backlog),
        ("tongpin_journal_batches_total", "counter", "Store commits made by the journal.", hub.journal.batches),
        ("tongpin_store_degraded", "gauge", "1 while the store refuses writes.", int(hub.journal.degraded)),
        ("tongpin_compactions_total", "counter", "Snapshots written by compaction.", hub.compactor.runs),
        ("tongpin_compaction_backlog", "gauge", "Drafts waiting for compaction.", hub.compactor.backlog),
        ("tongpin_uptime_seconds", "gauge", "Seconds since the hub started.", time.monotonic() - hub.started),
    ]
    rows += hub.cluster.metric_rows()
    rows += hub.access.metric_rows()
    rows += hub.live.metric_rows()
    rows += hub.review.metric_rows()
    rows += hub.hocuspocus.metric_rows()
    if store_latency is not None:
        rows += [
            ("tongpin_store_seconds_count", "counter", "Store calls.", store_latency.count),
            ("tongpin_store_seconds_sum", "counter", "Seconds spent in store calls.", store_latency.total),
            ("tongpin_store_seconds_max", "gauge", "Slowest store call, seconds.", store_latency.max),
        ]
    out: list[str] = []
    for name, kind, help_, value in rows:
        out.extend(_line(name, kind, help_, value, labels))
    if hub.workers is not None:
        out.extend(hub.workers.metric_lines(labels))  # one series per job
    return "\n".join(out) + "\n"
