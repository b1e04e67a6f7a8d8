"""The review desk of one node: takes review steps, pins versions, keeps published drafts read-only.

``ReviewDesk`` applies the rules of ``rooms.review`` to people's requests:
it reads where the review stands, checks the transition and the role,
pins the document when the step pins, and stores the step with its events
and audit row (``rooms.review_store``), then announces the events.

**Pins.** A pin is the document's state as one Yjs update plus its plain
text (``rooms.doc_text``). The state comes from the live draft when it is
open on this node (``Registry.open``), else from the store (snapshot and
log).

**Reopening.** An edit after a pin reopens the step. Two ways notice it:

- at decision time (the guarantee): ``pass`` and ``publish`` compare the
  current document with the pin (``adds_to``: would integrating the
  document into the pinned one change it? deletions count too). If it
  changed, the review is marked stale (``review.reopened``) and the
  decision is refused with 409 ``pin_stale``;
- as it happens (a notification): the first client update a node
  integrates into a draft whose fresh pin it knows (``on_client_update``)
  makes it compare and, if changed, mark the review stale at once.

**Read-only after publishing.** ``is_read_only`` is the registry's question
when it loads a draft. When a draft is published, the publishing node sets
``Draft.read_only`` on its open draft at once; every other node hears the
``draft.published`` event through the live broker (``on_events``), checks
the store and sets it on its own open draft within milliseconds; and a poll
of the store every ``POLL_INTERVAL`` seconds (``ReviewStore.changes``) does
the same for a node that missed the event (broker down). A publish announced
while a draft is loading makes the load read the store again, so no load
can open a published draft writable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from pycrdt import Doc

from rooms.doc_text import document_text
from rooms.draft import Draft
from rooms.events import Event, Publisher
from rooms.registry import Registry, build_doc
from rooms.review import (
    IN_REVIEW,
    NEEDS_FRESH_PIN,
    PINS,
    TRANSITIONS,
    Action,
    DraftReview,
    NewVersion,
    Status,
    Step,
    StepConflict,
    VersionKind,
    allowed,
    may,
    may_see,
)
from rooms.review_store import Applied, ReviewStore
from rooms.store import DraftKey, Store, StoreUnavailable

if TYPE_CHECKING:
    from hub.auth import Identity
    from hub.config import Settings
    from rooms.directory import Room

__all__ = ["POLL_INTERVAL", "Refused", "ReviewDesk", "adds_to", "make_review_store"]

log = logging.getLogger("tongpin.review")

POLL_INTERVAL = 1.0  # a node that missed a publish event makes the draft read-only within this
POLL_OVERLAP = 5.0  # seconds a poll looks back, for commits stamped before they landed
HINT_TTL = 60.0  # seconds a heard publish makes a loading draft check the store again


def make_review_store(settings: Settings) -> ReviewStore:
    url = settings.database_url
    if url.startswith(("postgres://", "postgresql://")):
        from rooms.postgres_review import PostgresReviewStore

        return PostgresReviewStore(url)
    from rooms.sqlite_review import SqliteReviewStore

    return SqliteReviewStore(settings.sqlite_path)


def adds_to(base: bytes, state: bytes) -> bool:
    """Whether integrating ``state`` into the document ``base`` changes it (deletions included)."""
    doc: Doc[Any] = Doc()
    doc.apply_update(base)
    changed: list[bytes] = []
    sub = doc.observe(lambda event: changed.append(event.update))
    doc.apply_update(state)
    doc.unobserve(sub)
    return bool(changed)


class Refused(Exception):
    """A request the desk refuses: HTTP status, a stable code, a message, and the review it saw."""

    def __init__(self, status: int, code: str, message: str, review: DraftReview | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.review = review


class ReviewDesk:
    def __init__(self, store: ReviewStore, docs: Store, publisher: Publisher, *, node_id: str = "") -> None:
        self.store = store
        self.docs = docs
        self.publisher = publisher
        self.node_id = node_id
        self.registry: Registry | None = None  # set by the hub once the registry exists
        self._watch: dict[DraftKey, int] = {}  # open drafts with a fresh pin -> the pin
        self._checking: dict[DraftKey, asyncio.Task[None]] = {}  # reopen checks under way
        self._refreshing: dict[DraftKey, asyncio.Task[None]] = {}  # re-reads after an event
        self._hints: dict[DraftKey, float] = {}  # publishes heard, for drafts loading meanwhile
        self._task: asyncio.Task[None] | None = None
        self.reopened = 0
        self.frozen = 0  # open drafts made read-only on this node

    # -- lifecycle --------------------------------------------------------

    async def start(self) -> None:
        await self.store.open()
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="review poll")

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._checking.values(), *self._refreshing.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.store.close()

    # -- reading ------------------------------------------------------------

    async def review(self, key: DraftKey, who: Identity, room: Room | None) -> DraftReview:
        """The draft's review, if ``who`` may see it (404 otherwise, not revealing it exists)."""
        found = await self.store.draft(key)
        if found is None or room is None or not may_see(roles=who.roles, unit=who.unit, room=room):
            raise Refused(404, "not_found", "no such draft, or you may not see it")
        return found

    def permitted(self, review: DraftReview, who: Identity, room: Room) -> list[str]:
        """The actions ``who`` may take now."""
        return [
            action
            for action in allowed(review.status, stale=review.stale)
            if self._may(Action(action), review, who, room)
        ]

    @staticmethod
    def _may(action: Action, review: DraftReview, who: Identity, room: Room) -> bool:
        return may(
            action,
            review.status,
            roles=who.roles,
            unit=who.unit,
            may_edit=who.may_edit,
            room=room,
            lead_unit=review.lead_unit,
        )

    async def current_state(self, key: DraftKey) -> bytes:
        """The document now: this node's open draft, else the store."""
        draft = self.registry.open.get(key) if self.registry is not None else None
        if draft is not None:
            return draft.doc.get_update()
        stored = await self.docs.load(key)
        return await asyncio.to_thread(lambda: build_doc(stored).get_update())

    async def current_text(self, key: DraftKey) -> str:
        return await asyncio.to_thread(document_text, await self.current_state(key))

    # -- acting -------------------------------------------------------------

    async def act(
        self,
        key: DraftKey,
        action: Action,
        who: Identity,
        room: Room | None,
        *,
        comment: str = "",
        expect_pin: int | None = None,
        client: str | None = None,
    ) -> Applied:
        """Take one review step for ``who``; ``Refused`` says why not."""
        review = await self.review(key, who, room)
        assert room is not None  # review() refuses without one
        to = TRANSITIONS.get((review.status, action))
        if to is None or action is Action.REOPEN:
            raise Refused(409, "illegal_transition", f"a draft that is {review.status} cannot {action}", review)
        if not self._may(action, review, who, room):
            raise Refused(403, "forbidden", f"you may not {action} a draft that is {review.status}", review)
        if expect_pin is not None and expect_pin != review.pin:
            raise Refused(409, "pin_changed", f"the draft was pinned again: the current pin is {review.pin}", review)
        state: bytes | None = None
        if action in NEEDS_FRESH_PIN:
            state = await self._fresh_state(review)
        version = None
        if action in PINS:
            state = state if state is not None else await self.current_state(key)
            text = await asyncio.to_thread(document_text, state)
            kind = VersionKind.PUBLISHED if action is Action.PUBLISH else VersionKind.PIN
            version = NewVersion(kind, state, text)
        step = Step(
            key,
            action,
            review.status,
            review.pin,
            to,
            version,
            time.time(),
            who.sub,
            who.unit,
            client,
            comment,
            self.node_id,
        )
        try:
            applied = await self.store.apply(step)
        except StepConflict as conflict:
            if conflict.current is None:
                raise Refused(404, "not_found", "no such draft") from None
            now = conflict.current.status
            raise Refused(
                409, "conflict", f"the review changed meanwhile (now {now}); reload", conflict.current
            ) from None
        self._applied(applied)
        return applied

    async def _fresh_state(self, review: DraftReview) -> bytes:
        """The document now, if it is what the current pin holds; else mark it reopened and refuse."""
        stale = Refused(
            409,
            "pin_stale",
            "the draft changed after it was pinned: pin it again (POST .../pin) and review the new pin",
            review,
        )
        if review.stale or review.pin is None:
            raise stale
        state = await self.current_state(review.key)
        pin = await self.store.version(review.key, review.pin)
        if pin is not None and pin.state is not None and not await asyncio.to_thread(adds_to, pin.state, state):
            return state
        reopened = await self._reopen(review)
        stale.review = reopened or review
        raise stale

    async def _reopen(self, review: DraftReview) -> DraftReview | None:
        """Mark the review stale (event ``review.reopened``); None if it had moved on."""
        step = Step(
            review.key,
            Action.REOPEN,
            review.status,
            review.pin,
            review.status,
            None,
            time.time(),
            None,
            comment="the draft changed after it was pinned",
            node=self.node_id,
        )
        try:
            applied = await self.store.apply(step)
        except StepConflict as conflict:
            return conflict.current
        self.reopened += 1
        self._applied(applied)
        return applied.review

    def _applied(self, applied: Applied) -> None:
        self.publisher.announce(applied.events)
        self._note(applied.review)

    # -- what this node holds -------------------------------------------------

    async def is_read_only(self, key: DraftKey) -> bool:
        """The registry's question while loading ``key``: is it published?"""
        review = await self.store.draft(key)
        if review is not None and review.status is not Status.PUBLISHED and key in self._hints:
            review = await self.store.draft(key)  # a publish was heard during the read: read again
        if review is None:
            return False
        if review.status in IN_REVIEW and review.pin is not None and not review.stale:
            self._watch.setdefault(key, review.pin)
        return review.status is Status.PUBLISHED

    def _note(self, review: DraftReview) -> None:
        """Bring what this node holds for the draft in line with ``review``."""
        key = review.key
        draft = self.registry.open.get(key) if self.registry is not None else None
        if review.status is Status.PUBLISHED:
            self._watch.pop(key, None)
            self._freeze(draft)
        elif draft is not None and review.status in IN_REVIEW and review.pin is not None and not review.stale:
            self._watch[key] = review.pin
        else:
            self._watch.pop(key, None)

    def _freeze(self, draft: Draft | None) -> None:
        if draft is not None and not draft.read_only:
            draft.read_only = True
            self.frozen += 1
            log.info("%s is published: read-only on this node", draft.key)

    def on_client_update(self, draft: Draft) -> None:
        """A client update integrated here: the first one after a known fresh pin may reopen the step."""
        pin = self._watch.pop(draft.key, None)
        if pin is None or draft.key in self._checking:
            return
        self._spawn(self._checking, draft.key, self._check_reopen(draft.key, pin))

    async def _check_reopen(self, key: DraftKey, pin: int) -> None:
        review = await self.store.draft(key)
        if review is None or review.pin != pin or review.stale or review.status not in IN_REVIEW:
            return
        version = await self.store.version(key, pin)
        state = await self.current_state(key)
        if (
            version is not None
            and version.state is not None
            and not await asyncio.to_thread(adds_to, version.state, state)
        ):
            self._watch[key] = pin  # nothing new after all (the update was already pinned)
            return
        await self._reopen(review)

    def on_events(self, events: Sequence[Event]) -> None:
        """Live events from any node: review steps of drafts open here are re-read from the store."""
        for event in events:
            if not event.channel.startswith("room:") or not (
                event.type.startswith("review.") or event.type == "draft.published"
            ):
                continue
            try:
                data = orjson.loads(event.data)
                key = DraftKey(str(data["session"]), str(data["draft"]))
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue
            if event.type == "draft.published":
                self._hints[key] = time.monotonic()
            if self.registry is not None and key in self.registry.open and key not in self._refreshing:
                self._spawn(self._refreshing, key, self._refresh(key))

    async def _refresh(self, key: DraftKey) -> None:
        review = await self.store.draft(key)
        if review is not None:
            self._note(review)

    def _spawn(self, tasks: dict[DraftKey, asyncio.Task[None]], key: DraftKey, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(self._guarded(key, job), name=f"review {key}")
        tasks[key] = task
        task.add_done_callback(lambda t: tasks.pop(key, None) if tasks.get(key) is t else None)

    @staticmethod
    async def _guarded(key: DraftKey, job: Coroutine[Any, Any, None]) -> None:
        try:
            await job
        except StoreUnavailable as exc:  # the decision-time check and the poll cover this
            log.warning("review of %s: store unavailable: %s", key, exc)
        except Exception:
            log.exception("review of %s failed", key)

    async def _poll(self) -> None:
        since: float | None = None
        while True:
            try:
                changes = await self.store.changes(None if since is None else since - POLL_OVERLAP)
                for review in changes.reviews:
                    self._note(review)
                since = changes.now
            except StoreUnavailable as exc:
                log.warning("review poll: store unavailable: %s", exc)
            except Exception:  # whatever it was, the poll that keeps drafts read-only goes on
                log.exception("review poll failed")
            now = time.monotonic()
            self._hints = {k: t for k, t in self._hints.items() if now - t < HINT_TTL}
            if self.registry is not None:
                self._watch = {k: p for k, p in self._watch.items() if k in self.registry.open}
            await asyncio.sleep(POLL_INTERVAL)

    def metric_rows(self) -> list[tuple[str, str, str, float]]:
        return [
            ("tongpin_review_reopened_total", "counter", "Review steps reopened by a later edit.", self.reopened),
            ("tongpin_review_frozen_total", "counter", "Open drafts made read-only here on publishing.", self.frozen),
            ("tongpin_review_watched_drafts", "gauge", "Open drafts here with a fresh pin.", len(self._watch)),
        ]
