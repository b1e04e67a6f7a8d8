"""Server-side view of a draft's awareness (presence, carets, selections).

The hub does not interpret awareness; it remembers the newest state of each
Yjs client id, which connection owns it, and relays changes. When a
connection closes, all of its client ids are marked gone in one message to
everyone, so no ghost carets remain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from rooms.codec import DecodeError, Decoder, encode_var_string, encode_var_uint

__all__ = ["AwarenessEntry", "AwarenessStates", "decode_awareness", "encode_awareness"]

MAX_AWARENESS_CLIENTS = 64  # ids one message may carry; a real client sends 1


@dataclass(slots=True)
class AwarenessEntry:
    client_id: int
    clock: int
    state: str  # JSON text as the client sent it; "null" means gone


def decode_awareness(payload: bytes) -> list[AwarenessEntry]:
    """Decode an awareness update; the JSON of each state must parse."""
    dec = Decoder(payload)
    n = dec.var_uint()
    if n > MAX_AWARENESS_CLIENTS:
        raise DecodeError(f"awareness update names {n} clients")
    entries = []
    for _ in range(n):
        client_id = dec.var_uint()
        clock = dec.var_uint()
        state = dec.var_string()
        try:
            orjson.loads(state)
        except orjson.JSONDecodeError as exc:
            raise DecodeError("awareness state is not JSON") from exc
        entries.append(AwarenessEntry(client_id, clock, state))
    if not dec.at_end():
        raise DecodeError("trailing bytes after awareness update")
    return entries


def encode_awareness(entries: Iterable[AwarenessEntry]) -> bytes:
    entries = list(entries)
    parts = [encode_var_uint(len(entries))]
    for e in entries:
        parts.append(encode_var_uint(e.client_id))
        parts.append(encode_var_uint(e.clock))
        parts.append(encode_var_string(e.state))
    return b"".join(parts)


class AwarenessStates:
    """Newest awareness state per client id, and which owner set it."""

    __slots__ = ("_by_owner", "_entries", "_owner")

    def __init__(self) -> None:
        self._entries: dict[int, AwarenessEntry] = {}
        self._owner: dict[int, object] = {}
        self._by_owner: dict[object, set[int]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def apply(self, owner: object, entries: list[AwarenessEntry]) -> list[AwarenessEntry]:
        """Merge entries from ``owner``; return those that changed something.

        Like y-protocols, a state is taken when its clock is newer, or equal
        with a null state (a removal).
        """
        changed = []
        for e in entries:
            cur = self._entries.get(e.client_id)
            if cur is not None and (e.clock < cur.clock or (e.clock == cur.clock and e.state != "null")):
                continue
            prev_owner = self._owner.get(e.client_id)
            if prev_owner is not None and prev_owner != owner:
                self._by_owner.get(prev_owner, set()).discard(e.client_id)
            if e.state == "null":
                # Keep the clock so a late, older state cannot resurrect it.
                self._entries[e.client_id] = e
                self._owner.pop(e.client_id, None)
                self._by_owner.get(owner, set()).discard(e.client_id)
            else:
                self._entries[e.client_id] = e
                self._owner[e.client_id] = owner
                self._by_owner.setdefault(owner, set()).add(e.client_id)
            changed.append(e)
        return changed

    def remove_owner(self, owner: object) -> list[AwarenessEntry]:
        """Mark every client id of ``owner`` gone; return the removal entries."""
        gone = []
        for client_id in sorted(self._by_owner.pop(owner, ())):
            cur = self._entries[client_id]
            # The same clock, as y-protocols servers do: receivers accept a null state
            # at an equal clock, and the client's next state (clock + 1) is then new
            # to everyone. A higher clock would hide that next state.
            removal = AwarenessEntry(client_id, cur.clock, "null")
            self._entries[client_id] = removal
            self._owner.pop(client_id, None)
            gone.append(removal)
        return gone

    def live(self) -> list[AwarenessEntry]:
        """Every client currently present (state not null)."""
        return [e for e in self._entries.values() if e.state != "null"]

    def owned_by(self, owner: object) -> set[int]:
        return set(self._by_owner.get(owner, ()))
