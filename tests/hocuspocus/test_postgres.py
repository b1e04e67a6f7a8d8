"""Sync status means stored on the PostgreSQL store too (real PostgreSQL, a fresh schema)."""

from __future__ import annotations

import pytest

from rooms.postgres_store import PostgresStore
from rooms.registry import build_doc
from rooms.store import DraftKey
from tests.cluster.services import postgres_schema
from tests.conftest import HubFactory
from tests.hocuspocus.conftest import ROOM, HocusFactory
from tests.integration.helpers import doc_text

pytestmark = [pytest.mark.node, pytest.mark.postgres]


async def stored_text(url: str, draft: str) -> str:
    store = PostgresStore(url, migrate=False)
    await store.open()
    try:
        return doc_text(build_doc(await store.load(DraftKey(ROOM, draft))))
    finally:
        await store.close()


async def test_sync_status_follows_the_postgres_commit(
    postgres_url: str, hub_factory: HubFactory, hp_clients: HocusFactory
) -> None:
    async with postgres_schema(postgres_url) as url:
        hub = hub_factory(env={"TONGPIN_DATABASE_URL": url})
        client = await hp_clients("pg")
        await client.socket(f"ws://127.0.0.1:{hub.port}/hocuspocus")
        docs = [f"{ROOM}/pg-a", f"{ROOM}/pg-b"]
        for doc in docs:
            await client.open(doc, "any")  # authentication is off on this hub
            await client.wait_doc("synced", doc)
        for i in range(3):
            for doc in docs:
                before = await client.doc_text(doc)
                await client.insert_into(doc, len(before), f"第{i}段")
                await client.wait_doc("unsynced", doc, 0)
                assert await stored_text(url, doc.split("/")[1]) == before + f"第{i}段"
        hub.stop()
