"""Migration 0004 on a database made before it: the planning sessions there become open, keep their
creation time, and take part in the workflow; on both backends."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import pytest

from rooms.directory import Directory
from rooms.postgres_directory import PostgresDirectory
from rooms.postgres_workflow import PostgresWorkflowStore
from rooms.seed import units
from rooms.sqlite_directory import SqliteDirectory
from rooms.sqlite_workflow import SqliteWorkflowStore
from rooms.workflow import Actor
from rooms.workflow_store import WorkflowStore
from schema.migrations import migrations
from tests.cluster.services import postgres_schema

BEFORE = 3  # the schema version before the workflow
CHIEF = Actor("dgdaily-chief", "dgdaily", "city_outlet", frozenset({"chief_editor"}))


async def check(store: WorkflowStore, directory: Directory) -> None:
    """Open the store (it migrates), check the old session, and that the directory sees it open."""
    await store.open()
    try:
        session = await store.session(CHIEF, "old-plan")
        assert session.status == "open" and session.created_by is None
        assert session.member_units == frozenset({"humen"}) and session.created_at > 1e9
        draft = await store.create_draft(CHIEF, "old-plan", title="稿", lead_unit="humen")
        assert (await store.session(CHIEF, "old-plan")).drafts_count == 1 and draft.value.lead_unit == "humen"
        await directory.open()
        try:
            room = await directory.room("old-plan")
        finally:
            await directory.close()
        assert room is not None and room.status == "open"
    finally:
        await store.close()


async def test_sqlite_sessions_made_before_the_workflow(tmp_path: Path) -> None:
    path = tmp_path / "tongpin.sqlite3"
    db = sqlite3.connect(path)
    for version, name, sql in migrations("sqlite")[:BEFORE]:
        db.executescript(sql)
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)"
        )
        db.execute("INSERT INTO schema_migrations VALUES (?, ?, datetime('now'))", (version, name))
    db.executemany("INSERT INTO units VALUES (?, ?, ?, ?, ?)", [tuple(u) for u in units()])
    db.execute("INSERT INTO rooms (id, title, owner_unit) VALUES ('old-plan', '旧策划', 'dgdaily')")
    db.execute("INSERT INTO room_members VALUES ('old-plan', 'humen')")
    db.commit()
    db.close()
    await check(SqliteWorkflowStore(path), SqliteDirectory(path))


@pytest.mark.postgres
async def test_postgres_sessions_made_before_the_workflow() -> None:
    async with postgres_schema() as url:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TIMESTAMPTZ)"
            )
            for version, name, sql in migrations("postgres")[:BEFORE]:
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2, now())", version, name)
            await conn.executemany("INSERT INTO units VALUES ($1, $2, $3, $4, $5)", [tuple(u) for u in units()])
            await conn.execute("INSERT INTO rooms (id, title, owner_unit) VALUES ('old-plan', '旧策划', 'dgdaily')")
            await conn.execute("INSERT INTO room_members VALUES ('old-plan', 'humen')")
        finally:
            await conn.close()
        await check(PostgresWorkflowStore(url), PostgresDirectory(url))
