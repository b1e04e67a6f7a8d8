"""The ReviewStore contract on both backends: conditional, atomic steps with events and audit rows."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rooms.postgres_directory import PostgresDirectory
from rooms.postgres_review import PostgresReviewStore
from rooms.postgres_store import PostgresStore
from rooms.review import Action, NewVersion, Status, Step, StepConflict, VersionKind
from rooms.review_store import ReviewStore
from rooms.seed import seed
from rooms.sqlite_directory import SqliteDirectory
from rooms.sqlite_review import SqliteReviewStore
from rooms.sqlite_store import SqliteStore
from rooms.store import DraftKey
from tests.cluster.services import postgres_schema

pytestmark = pytest.mark.timeout(60)

KEY = DraftKey("typhoon-drill", "d1")


@contextlib.asynccontextmanager
async def review_store(kind: str, tmp_path: Path) -> AsyncIterator[ReviewStore]:
    """A migrated, seeded database with one draft (``KEY``, led by humen), and its review store."""
    async with contextlib.AsyncExitStack() as stack:
        if kind == "sqlite":
            path = tmp_path / "db.sqlite3"
            docs, directory, store = SqliteStore(path), SqliteDirectory(path), SqliteReviewStore(path)
        else:
            url = await stack.enter_async_context(postgres_schema())
            docs, directory, store = PostgresStore(url), PostgresDirectory(url), PostgresReviewStore(url)
        for part in (docs, directory, store):
            await part.open()
            stack.push_async_callback(part.close)
        await seed(directory, demo=True)
        sql = "INSERT INTO drafts (session, name, title, lead_unit, created_by, created_at) VALUES "
        if isinstance(store, SqliteReviewStore):
            await store._write(lambda db: db.execute(sql + "(?, ?, '稿', 'humen', 'x', 0)", KEY))
        else:
            await store._run(lambda conn: conn.execute(sql + "($1, $2, '稿', 'humen', 'x', 0)", *KEY))
        yield store


def step(action: Action, expect: Status, to: Status, pin: int | None, *, text: str | None = None) -> Step:
    version = None if text is None else NewVersion(VersionKind.PIN, b"\x00\x00", text)
    return Step(KEY, action, expect, pin, to, version, time.time(), "someone", "dgdaily", None, "意见", "node-a")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_steps_are_conditional_and_carry_their_events(tmp_path: Path, kind: str) -> None:
    async with review_store(kind, tmp_path) as store:
        before = await store.changes(None)
        assert before.reviews == [] and (await store.draft(KEY)).status is Status.EDITING  # type: ignore[union-attr]
        assert await store.draft(DraftKey("typhoon-drill", "nope")) is None

        submitted = await store.apply(step(Action.SUBMIT, Status.EDITING, Status.SUBMITTED, None, text="第一版"))
        assert submitted.review.status is Status.SUBMITTED and submitted.review.pin == submitted.version
        assert sorted(e.channel for e in submitted.events) == ["room:typhoon-drill", "unit:humen"]
        assert {e.type for e in submitted.events} == {"review.submitted"}

        with pytest.raises(StepConflict) as stale:  # decided against a state that is gone
            await store.apply(step(Action.SUBMIT, Status.EDITING, Status.SUBMITTED, None, text="again"))
        assert stale.value.current is not None and stale.value.current.status is Status.SUBMITTED

        reopened = await store.apply(step(Action.REOPEN, Status.SUBMITTED, Status.SUBMITTED, submitted.version))
        assert reopened.review.stale and reopened.review.pin == submitted.version and reopened.version is None
        with pytest.raises(StepConflict):  # pass needs a fresh pin
            await store.apply(step(Action.PASS, Status.SUBMITTED, Status.LEVEL_2, submitted.version, text="x"))
        with pytest.raises(StepConflict):  # reopened once is enough
            await store.apply(step(Action.REOPEN, Status.SUBMITTED, Status.SUBMITTED, submitted.version))
        pinned = await store.apply(step(Action.PIN, Status.SUBMITTED, Status.SUBMITTED, submitted.version, text="二"))
        assert not pinned.review.stale and pinned.review.pin == pinned.version != submitted.version
        returned = await store.apply(step(Action.RETURN, Status.SUBMITTED, Status.EDITING, pinned.version))
        assert returned.review.pin is None and returned.review.status is Status.EDITING

        versions = await store.versions(KEY)
        assert [(v.id, v.text, v.state) for v in versions] == [
            (submitted.version, "第一版", None),
            (pinned.version, "二", None),
        ]
        one = await store.version(KEY, submitted.version or 0)
        assert one is not None and one.state == b"\x00\x00" and one.level == 1
        assert await store.version(DraftKey("typhoon-drill", "other"), submitted.version or 0) is None
        history = await store.history(KEY)
        assert [(h.action, h.from_status, h.to_status) for h in history] == [
            ("submit", Status.EDITING, Status.SUBMITTED),
            ("reopen", Status.SUBMITTED, Status.SUBMITTED),
            ("pin", Status.SUBMITTED, Status.SUBMITTED),
            ("return", Status.SUBMITTED, Status.EDITING),
        ]
        changed = await store.changes(before.now - 5)
        assert [(r.key, r.status) for r in changed.reviews] == [(KEY, Status.EDITING)]


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_concurrent_decisions_on_one_state_apply_once(tmp_path: Path, kind: str) -> None:
    async with review_store(kind, tmp_path) as store:
        submitted = await store.apply(step(Action.SUBMIT, Status.EDITING, Status.SUBMITTED, None, text="稿"))
        decisions = [
            step(Action.PASS, Status.SUBMITTED, Status.LEVEL_2, submitted.version, text="过"),
            step(Action.REJECT, Status.SUBMITTED, Status.REJECTED, submitted.version),
            step(Action.RETURN, Status.SUBMITTED, Status.EDITING, submitted.version),
        ] * 3
        results = await asyncio.gather(*(store.apply(s) for s in decisions), return_exceptions=True)
        applied = [r for r in results if not isinstance(r, BaseException)]
        assert len(applied) == 1 and all(isinstance(r, StepConflict) for r in results if r not in applied)
        assert len(await store.history(KEY)) == 2
