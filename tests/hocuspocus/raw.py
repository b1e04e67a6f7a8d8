"""A bare ``/hocuspocus`` client for what no provider sends, built on the hub's own codecs."""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from rooms import codec
from rooms import hocuspocus_codec as hp


class HubMessage(NamedTuple):
    address: str
    type: int
    rest: bytes  # what follows the type


def parse(frame: bytes) -> HubMessage:
    dec = codec.Decoder(frame)
    address = dec.var_string()
    kind = dec.var_uint()
    return HubMessage(address, kind, frame[dec.pos :])


def token(address: str, value: str, version: str | None = "raw-test") -> bytes:
    out = hp.prefix(address) + bytes((hp.HocusType.AUTH, hp.AuthType.TOKEN)) + codec.encode_var_string(value)
    return out + (codec.encode_var_string(version) if version is not None else b"")


def message(address: str, y_message: bytes) -> bytes:
    """A y-protocols message (``rooms.codec``) for ``address``."""
    return hp.prefix(address) + y_message


def stateless(address: str, payload: str) -> bytes:
    return hp.stateless(hp.prefix(address), payload.encode("utf-8"))


class RawHocus:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.received: list[bytes] = []

    @classmethod
    async def open(cls, url: str, **kw: Any) -> RawHocus:
        return cls(await connect(url, max_size=None, open_timeout=10, **kw))

    async def send(self, frame: bytes | str) -> None:
        await self.ws.send(frame)

    async def next(self, within: float = 10.0) -> bytes:
        async with asyncio.timeout(within):
            frame = await self.ws.recv()
        assert isinstance(frame, bytes), "the hub sends binary frames only"
        self.received.append(frame)
        return frame

    async def until(self, address: str, kind: int, within: float = 10.0) -> HubMessage:
        """Read until a message of ``kind`` for ``address`` arrives."""
        async with asyncio.timeout(within):
            while True:
                frame = await self.next(within)
                if len(frame) > 1:
                    msg = parse(frame)
                    if msg.address == address and msg.type == kind:
                        return msg

    async def closed(self, within: float = 10.0) -> tuple[int | None, str]:
        """Read (and keep) whatever comes until the hub closes; the close code and reason."""
        try:
            async with asyncio.timeout(within):
                async for frame in self.ws:
                    if isinstance(frame, bytes):
                        self.received.append(frame)
        except ConnectionClosed:
            pass
        except TimeoutError:
            raise AssertionError(f"the hub did not close the socket within {within}s") from None
        return self.ws.close_code, self.ws.close_reason or ""

    async def close(self) -> None:
        await self.ws.close()
