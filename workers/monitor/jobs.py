"""The monitor's two jobs (``workers.runtime.Job``): ``monitor-fetch`` and ``alert-escalation``.

``monitor-fetch`` ticks every ``TONGPIN_MONITOR_TICK`` seconds. A tick
fetches every enabled source whose ``next_fetch_at`` has come, all at once,
each within its own timeout (``workers.monitor.fetch``), so a slow or dead
source delays no other's alerts. Each body is parsed, each item matched
against the enabled rules, and each match stored as an alert (refused when
it duplicates one, ``rooms.monitor``) and announced live. Then the source's
health is stored: on success the next fetch is one interval later; after a
failure it backs off exponentially, ``interval * 2**failures`` with jitter
(50–100 %), capped at ``TONGPIN_MONITOR_BACKOFF_MAX``.

``alert-escalation`` escalates, once, every high-severity alert still
``new`` after ``TONGPIN_MONITOR_ACK_TIMEOUT`` seconds to the unit on duty
and the ``duty`` channel.

An alert no place keyword routes goes to the unit on duty (the workflow
store's ``on_duty_unit``), else to ``TONGPIN_DUTY_FALLBACK_UNIT``, else to no
unit (city-wide ``alerts`` only).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

import aiohttp

from rooms.monitor import FetchOutcome, MonitorStore, Near, NewAlert, Source
from workers.monitor.dedup import simhash, text_key, url_key
from workers.monitor.feeds import FeedError, Item, parse_feed
from workers.monitor.fetch import FetchError, fetch
from workers.monitor.guard import client_session
from workers.monitor.rules import Match, Matcher

if TYPE_CHECKING:
    from hub.config import Settings
    from rooms.events import Publisher
    from workers.runtime import Duty

__all__ = ["EscalationJob", "FetchJob", "MonitorJob", "backoff", "on_duty"]

log = logging.getLogger("tongpin.monitor")

SOURCES_PER_TICK = 64
SEEN_KEYS = 20_000  # URL keys this job remembers, to skip items it stored or refused already
UNITS_TTL = 60.0


def backoff(failures: int, interval: float, cap: float) -> float:
    """Seconds to wait after the ``failures``-th failure in a row (1, 2, ...)."""
    delay = min(max(cap, interval), interval * 2.0 ** min(failures, 30))
    return delay * random.uniform(0.5, 1.0)


async def on_duty(duty: Duty | None, fallback: str, now: float) -> tuple[str | None, str]:
    """The unit on duty at ``now`` and how it was found: ``duty``, ``fallback`` or ``none``."""
    if duty is not None:
        try:
            unit = await duty(now)
        except Exception:
            log.exception("on-duty lookup failed; using the fallback unit")
            unit = None
        if unit:
            return unit, "duty"
    return (fallback, "fallback") if fallback else (None, "none")


class MonitorJob:
    """What both jobs are built from (``workers.jobs``): the monitor store, the publisher, settings, duty."""

    def __init__(self, monitor: MonitorStore, publisher: Publisher, settings: Settings, duty: Duty | None) -> None:
        self.monitor = monitor
        self.publisher = publisher
        self.settings = settings
        self.duty = duty


class FetchJob(MonitorJob):
    name = "monitor-fetch"

    def __init__(self, monitor: MonitorStore, publisher: Publisher, settings: Settings, duty: Duty | None) -> None:
        super().__init__(monitor, publisher, settings, duty)
        self.interval = settings.monitor_tick
        self.near = Near()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._units: dict[str, str] = {}
        self._units_at = -UNITS_TTL

    async def tick(self, now: float) -> int:
        sources = await self.monitor.due_sources(now, SOURCES_PER_TICK)
        if not sources:
            return 0
        matcher = Matcher(await self.monitor.rules(enabled_only=True, limit=1000), await self._unit_names(now))
        async with client_session(allow_private=self.settings.monitor_allow_private) as session:
            results = await asyncio.gather(
                *(self._source(session, s, matcher) for s in sources), return_exceptions=True
            )
        for result in results:
            if isinstance(result, BaseException):
                raise result  # the others have finished; the runtime counts and logs it
        return sum(r for r in results if isinstance(r, int))

    async def _unit_names(self, now: float) -> dict[str, str]:
        if now - self._units_at >= UNITS_TTL:
            self._units = await self.monitor.unit_names()
            self._units_at = now
        return self._units

    async def _source(self, session: aiohttp.ClientSession, source: Source, matcher: Matcher) -> int:
        """Fetch, match, store and announce one source; return the alerts it produced."""
        s = self.settings
        at = time.time()
        try:
            fetched = await fetch(
                session,
                source.url,
                within=source.timeout,
                max_bytes=s.monitor_max_bytes,
                max_redirects=s.monitor_max_redirects,
                etag=source.etag,
                last_modified=source.last_modified,
            )
            items = [] if fetched.not_modified else parse_feed(fetched.body, fetched.url, fetched.content_type)
        except (FetchError, FeedError) as exc:
            retry = backoff(source.failures + 1, source.interval, s.monitor_backoff_max)
            await self.monitor.record_fetch(source.id, FetchOutcome(at, at + retry, error=str(exc)[:500]))
            log.info("source %s (%s) failed: %s", source.id, source.url, exc)
            return 0
        created = 0
        for item in items:
            match = matcher.match(item.title, item.summary)
            if match is not None and await self._alert(source, item, match):
                created += 1
        outcome = FetchOutcome(
            at, at + source.interval, etag=fetched.etag, last_modified=fetched.last_modified, items=len(items)
        )
        await self.monitor.record_fetch(source.id, outcome)
        return created

    async def _alert(self, source: Source, item: Item, match: Match) -> bool:
        key = url_key(item.url)
        if key in self._seen:
            return False
        now = time.time()
        unit, routed_by = match.unit, "region"
        if unit is None:
            unit, routed_by = await on_duty(self.duty, self.settings.duty_fallback_unit, now)
        alert = NewAlert(
            title=item.title,
            summary=item.summary,
            url=item.url,
            source=source.id,
            rules=match.rules,
            matched=match.matched,
            severity=match.severity,
            unit=unit,
            routed_by=routed_by,
            published_at=item.published_at,
            url_key=key,
            text_key=text_key(item.title, item.summary, now),
            simhash=simhash(item.title, item.summary),
        )
        stored = await self.monitor.insert_alert(alert, self.near, now)
        self._remember(key)
        if stored is None:
            return False
        self.publisher.announce(stored[1])
        return True

    def _remember(self, key: str) -> None:
        self._seen[key] = None
        if len(self._seen) > SEEN_KEYS:
            self._seen.popitem(last=False)


class EscalationJob(MonitorJob):
    name = "alert-escalation"

    def __init__(self, monitor: MonitorStore, publisher: Publisher, settings: Settings, duty: Duty | None) -> None:
        super().__init__(monitor, publisher, settings, duty)
        self.ack_timeout = settings.monitor_ack_timeout
        self.interval = min(5.0, max(0.5, self.ack_timeout / 4))

    async def tick(self, now: float) -> int:
        unit, _ = await on_duty(self.duty, self.settings.duty_fallback_unit, now)
        escalated = await self.monitor.escalate(now - self.ack_timeout, unit, now)
        for alert, events in escalated:
            self.publisher.announce(events)
            log.info("alert %s escalated to %s", alert.id, unit or "the duty desk")
        return len(escalated)
