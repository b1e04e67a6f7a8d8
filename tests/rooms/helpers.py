"""In-memory peers for the fast tier: they collect what a draft sends them."""

from __future__ import annotations

from pycrdt import Doc, Text

from rooms import codec
from rooms.draft import Outgoing


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
