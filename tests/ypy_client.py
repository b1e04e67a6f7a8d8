"""A minimal y-websocket client on pycrdt, for tests and the load generator.

It speaks the same protocol as the npm ``y-websocket`` provider: it sends
sync step 1 on open, answers the server's step 1 with step 2, applies
updates, and sends its own document changes as sync updates, in order,
through one writer. Edits made while disconnected stay in the document and
reach the hub in the step 2 that answers its step 1 after a reconnect.

Test helpers on top: waits with a timeout on the client's own events
(``wait_for``), text edits in code points (pycrdt's ``Text`` offsets are
UTF-8 bytes), the awareness states it has seen, the ``stored`` signal
(``?stored=1``) with the own clock at each sent update, and the close code.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import orjson
from pycrdt import Doc, Text, TransactionEvent
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from rooms import codec
from rooms.awareness import AwarenessEntry, decode_awareness, encode_awareness

__all__ = ["YClient", "decode_state_vector"]


def decode_state_vector(sv: bytes) -> dict[int, int]:
    """A lib0 state vector as ``{client id: clock}``."""
    dec = codec.Decoder(sv)
    out = {}
    for _ in range(dec.var_uint()):
        client = dec.var_uint()
        out[client] = dec.var_uint()
    if not dec.at_end():
        raise codec.DecodeError("trailing bytes after the state vector")
    return out


class YClient:
    def __init__(self, url: str, doc: Doc[Any] | None = None, *, text_name: str = "t") -> None:
        self.url = url
        self.doc: Doc[Any] = doc if doc is not None else Doc()
        self.text_name = text_name
        self.ws: ClientConnection | None = None
        self.synced = asyncio.Event()
        self.changed = asyncio.Event()
        self.closed = asyncio.Event()
        self.stored = 0  # this connection's updates the hub reported durable
        # The own clock after each update sent on this connection (None: an edit
        # made on ``doc`` directly, whose clock is unknown; the clock cannot be
        # read inside the transaction observer).
        self.sent: list[int | None] = []
        self.denied: list[str] = []
        self.awareness: list[bytes] = []  # every awareness payload received, as is
        self.peers: dict[int, AwarenessEntry] = {}  # newest awareness entry per client id
        self.first_step2: bytes | None = None  # the first sync step 2 of this connection
        self.close_code: int | None = None
        self.close_reason = ""
        self.on_message: Callable[[codec.Message], None] | None = None
        self._activity = asyncio.Event()
        self._out: asyncio.Queue[bytes | None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._applying = False
        self._awareness_clock = 0
        self._sub = self.doc.observe(self._local_change)

    def __repr__(self) -> str:
        return f"<YClient {self.url.split('?')[0]} id={self.client_id}>"

    # -- document ---------------------------------------------------------

    @property
    def text(self) -> Text:
        text: Text = self.doc.get(self.text_name, type=Text)
        return text

    def content(self) -> str:
        return str(self.text)

    def insert(self, index: int, value: str) -> None:
        """Insert ``value`` at code point ``index``."""
        self.text.insert(self._offset(index), value)
        self._note_clock()

    def delete(self, index: int, length: int) -> None:
        """Delete ``length`` code points from code point ``index``."""
        start = self._offset(index)
        del self.text[start : self._offset(index + length)]
        self._note_clock()

    def _note_clock(self) -> None:
        if self.sent and self.sent[-1] is None:
            self.sent[-1] = self.own_clock()

    def _offset(self, index: int) -> int:
        current = self.content()
        if not 0 <= index <= len(current):
            raise IndexError(f"position {index} outside a text of {len(current)} code points")
        return len(current[:index].encode("utf-8"))

    def state_vector(self) -> dict[int, int]:
        return decode_state_vector(self.doc.get_state())

    @property
    def client_id(self) -> int:
        return int(self.doc.client_id)

    def own_clock(self) -> int:
        return self.state_vector().get(self.client_id, 0)

    def _local_change(self, event: TransactionEvent) -> None:
        self.changed.set()
        self._activity.set()
        if self._applying:
            return
        self._send_update(codec.sync_update(event.update), None)

    def _send_update(self, frame: bytes, clock: int | None) -> None:
        if self._out is not None and self.ws is not None:
            self.sent.append(clock)
            self._out.put_nowait(frame)

    # -- connection -------------------------------------------------------

    async def connect(self, url: str | None = None) -> YClient:
        """Open a connection (again); the document and its edits are kept."""
        if self.ws is not None:
            raise RuntimeError("already connected")
        if url is not None:
            self.url = url
        self.synced.clear()
        self.closed.clear()
        self.close_code = None
        self.close_reason = ""
        self.stored = 0
        self.sent = []
        self.first_step2 = None
        self.peers.clear()
        self.ws = await connect(self.url, max_size=None, open_timeout=10)
        self._out = asyncio.Queue()
        self._out.put_nowait(codec.sync_step1(self.doc.get_state()))
        loop = asyncio.get_running_loop()
        self._writer = loop.create_task(self._write(self.ws, self._out))
        self._reader = loop.create_task(self._read(self.ws))
        return self

    async def _write(self, ws: ClientConnection, out: asyncio.Queue[bytes | None]) -> None:
        while (frame := await out.get()) is not None:
            try:
                await ws.send(frame)
            except ConnectionClosed:
                return

    async def send_raw(self, frame: bytes | str) -> None:
        """Send a frame as is, in order with the document's own updates."""
        assert self._out is not None, "not connected"
        if isinstance(frame, str):
            assert self.ws is not None
            await self.ws.send(frame)
            return
        self._out.put_nowait(frame)

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                assert isinstance(frame, bytes), "the hub sends binary frames only"
                for msg in _decode_client(frame):
                    self._handle(msg)
                self._activity.set()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = ws.close_code
            self.close_reason = ws.close_reason or ""
            self.closed.set()
            self._activity.set()

    def _handle(self, msg: codec.Message) -> None:
        if self.on_message is not None:
            self.on_message(msg)
        if msg.type == codec.MessageType.SYNC:
            if msg.step == codec.SyncStep.STEP1:
                self._send_update(codec.sync_step2(self.doc.get_update(msg.payload)), self.own_clock())
            else:
                if msg.step == codec.SyncStep.STEP2 and self.first_step2 is None:
                    self.first_step2 = msg.payload
                self._applying = True
                try:
                    self.doc.apply_update(msg.payload)
                finally:
                    self._applying = False
                if msg.step == codec.SyncStep.STEP2:
                    self.synced.set()
        elif msg.type == codec.MessageType.AWARENESS:
            self.awareness.append(msg.payload)
            for entry in decode_awareness(msg.payload):
                current = self.peers.get(entry.client_id)
                if (
                    current is None
                    or entry.clock > current.clock
                    or (entry.clock == current.clock and entry.state == "null")
                ):
                    self.peers[entry.client_id] = entry
        elif msg.type == codec.MessageType.AUTH:
            self.denied.append(msg.payload.decode())
        elif msg.type == codec.MessageType.STORED:
            self.stored = msg.step

    def present(self) -> set[int]:
        """Client ids whose awareness state this client holds (not removed)."""
        return {cid for cid, e in self.peers.items() if e.state != "null"}

    async def set_awareness(self, state: object) -> None:
        self._awareness_clock += 1
        entry = AwarenessEntry(self.client_id, self._awareness_clock, orjson.dumps(state).decode())
        await self.send_raw(codec.awareness_message(encode_awareness([entry])))

    # -- waiting ----------------------------------------------------------

    async def wait_for(self, condition: Callable[[], object], what: str, within: float = 10.0) -> None:
        """Wait until ``condition()`` holds, re-checked after every message and local change."""
        try:
            async with asyncio.timeout(within):
                while not condition():
                    self._activity.clear()
                    await self._activity.wait()
        except TimeoutError:
            raise AssertionError(
                f"timed out after {within}s waiting for {what}; text={self.content()!r} "
                f"stored={self.stored}/{len(self.sent)} close={self.close_code}"
            ) from None

    async def wait_synced(self, within: float = 10.0) -> None:
        await self.wait_for(self.synced.is_set, "sync step 2", within)

    async def wait_text(self, expected: str, within: float = 10.0) -> None:
        await self.wait_for(lambda: self.content() == expected, f"text {expected!r}", within)

    async def wait_all_stored(self, within: float = 10.0) -> None:
        """Until every update sent on this connection is reported stored (needs ``?stored=1``)."""
        await self.wait_for(lambda: self.stored >= len(self.sent), "all updates stored", within)

    async def wait_closed(self, within: float = 10.0) -> int | None:
        await self.wait_for(self.closed.is_set, "the hub to close the connection", within)
        return self.close_code

    async def close(self) -> None:
        ws, self.ws = self.ws, None
        if self._out is not None:
            self._out.put_nowait(None)
            self._out = None
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer
            self._writer = None
        if ws is not None:
            await ws.close()
        if self._reader is not None:
            await self._reader
            self._reader = None

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (a dead network)."""
        if self.ws is not None:
            self.ws.transport.abort()


def _decode_client(frame: bytes) -> list[codec.Message]:
    """Decode server frames, including the opt-in ``stored`` message."""
    dec = codec.Decoder(frame)
    if dec.var_uint() == codec.MessageType.STORED:
        return [codec.Message(codec.MessageType.STORED, dec.var_uint(), b"")]
    return list(codec.decode_messages(frame))
