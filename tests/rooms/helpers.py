"""In-memory peers for the fast tier: they collect what a draft sends them; a journal on a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pycrdt import Doc, Text

from rooms import codec
from rooms.draft import Outgoing
from rooms.journal import Journal
from rooms.sqlite_store import SqliteStore


@asynccontextmanager
async def sqlite_journal(path: Path) -> AsyncIterator[Journal]:
    """A started ``Journal`` on a SQLite store at ``path``; stopped and closed on exit."""
    store = SqliteStore(path)
    await store.open()
    journal = Journal(store)
    journal.start()
    try:
        yield journal
    finally:
        await journal.stop(5)
        await store.close()


class MemoryPeer:
    """A draft's view of a connection, recording every message sent to it."""

    def __init__(self, *, read_only: bool = False) -> None:
        self.read_only = read_only
        self.sent: list[bytes] = []
        self.stored = 0

    def send(self, out: Outgoing) -> None:
        assert out.wire.endswith(out.payload)
        self.sent.append(out.payload)

    def on_stored(self, count: int) -> None:
        self.stored += count

    def messages(self) -> list[codec.Message]:
        return [m for frame in self.sent for m in codec.decode_messages(frame)]


def text_update(text: str, client_id: int = 1) -> bytes:
    doc: Doc[Text] = Doc(client_id=client_id)
    doc.get("t", type=Text).insert(0, text)
    return doc.get_update()
