"""A minimal y-websocket client on pycrdt, for tests and the load generator.

It speaks the same protocol as the npm ``y-websocket`` provider: it sends
sync step 1 on open, answers the server's step 1 with step 2, applies
updates, and sends its own document changes as sync updates.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from pycrdt import Doc, TransactionEvent
from websockets.asyncio.client import ClientConnection, connect

from rooms import codec

__all__ = ["YClient"]


class YClient:
    def __init__(self, url: str, doc: Doc | None = None) -> None:
        self.url = url
        self.doc: Doc = doc if doc is not None else Doc()
        self.ws: ClientConnection | None = None
        self.synced = asyncio.Event()
        self.changed = asyncio.Event()
        self.stored = 0
        self.denied: list[str] = []
        self.awareness: list[bytes] = []
        self._reader: asyncio.Task[None] | None = None
        self._applying = False
        self._sub = self.doc.observe(self._local_change)
        self.on_message: Callable[[codec.Message], None] | None = None

    def _local_change(self, event: TransactionEvent) -> None:
        self.changed.set()
        if self._applying or self.ws is None:
            return
        asyncio.get_running_loop().create_task(self._send(codec.sync_update(event.update)))

    async def _send(self, payload: bytes) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.send(payload)

    async def connect(self) -> YClient:
        self.synced.clear()
        self.ws = await connect(self.url, max_size=None)
        await self.ws.send(codec.sync_step1(self.doc.get_state()))
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.ws is not None
        ws = self.ws
        try:
            async for frame in ws:
                assert isinstance(frame, bytes)
                for msg in _decode_client(frame):
                    self._handle(msg)
        except Exception:
            pass

    def _handle(self, msg: codec.Message) -> None:
        if self.on_message is not None:
            self.on_message(msg)
        if msg.type == codec.MessageType.SYNC:
            if msg.step == codec.SyncStep.STEP1:
                update = self.doc.get_update(msg.payload)
                asyncio.get_running_loop().create_task(self._send(codec.sync_step2(update)))
            else:
                self._applying = True
                try:
                    self.doc.apply_update(msg.payload)
                finally:
                    self._applying = False
                if msg.step == codec.SyncStep.STEP2:
                    self.synced.set()
        elif msg.type == codec.MessageType.AWARENESS:
            self.awareness.append(msg.payload)
        elif msg.type == codec.MessageType.AUTH:
            self.denied.append(msg.payload.decode())
        elif msg.type == codec.MessageType.STORED:
            self.stored = msg.step

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None
        if self._reader is not None:
            await self._reader
            self._reader = None


def _decode_client(frame: bytes) -> list[codec.Message]:
    """Decode server frames, including the opt-in ``stored`` message."""
    dec = codec.Decoder(frame)
    if dec.var_uint() == codec.MessageType.STORED:
        return [codec.Message(codec.MessageType.STORED, dec.var_uint(), b"")]
    return list(codec.decode_messages(frame))
