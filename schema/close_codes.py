"""Every WebSocket close code Tongpin sends: the one table.

``reconnect`` is the advice to clients: True means reconnect (with backoff)
and resync; False means a reconnect would fail the same way until something
changes (the user signs in again, the input is fixed, an operator acts).
``docs/CLOSE_CODES.md`` is generated from this table by
``python -m schema.close_codes`` and a test keeps the two equal.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

__all__ = ["CLOSE_CODES", "CloseCode", "CloseInfo", "markdown_table"]


class CloseCode(enum.IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_FRAME = 4000
    BAD_UPDATE = 4001
    UNKNOWN_MESSAGE = 4002
    BAD_NAME = 4004
    ALREADY_AUTHENTICATED = 4005
    NOT_AUTHENTICATED = 4006
    SLOW_CONSUMER = 4008
    BEHIND = 4009
    AUTH_EXPIRED = 4401
    RIGHTS_CHANGED = 4402
    FORBIDDEN = 4403
    AUTH_TIMEOUT = 4408
    AUTH_TOO_LARGE = 4413
    RATE_LIMITED = 4429
    TOO_MANY_CONNECTIONS = 4430
    TOO_MANY_DRAFTS = 4431


class CloseInfo(NamedTuple):
    code: CloseCode
    reconnect: bool
    meaning: str


CLOSE_CODES: tuple[CloseInfo, ...] = (
    CloseInfo(CloseCode.NORMAL, False, "The connection finished normally."),
    CloseInfo(CloseCode.GOING_AWAY, True, "The hub is stopping accepting this socket (sent by clients too)."),
    CloseInfo(CloseCode.PROTOCOL_ERROR, False, "WebSocket framing violated RFC 6455."),
    CloseInfo(
        CloseCode.MESSAGE_TOO_BIG,
        False,
        "A frame exceeded the frame size limit (`TONGPIN_MAX_FRAME`). Do not resend it.",
    ),
    CloseInfo(CloseCode.INTERNAL_ERROR, True, "An unexpected error in the hub; reconnect with backoff."),
    CloseInfo(
        CloseCode.SERVICE_RESTART,
        True,
        "The hub is shutting down or restarting; every stored update is flushed first. Reconnect.",
    ),
    CloseInfo(
        CloseCode.TRY_AGAIN_LATER,
        True,
        "The store is behind (backlog full) or a draft could not be loaded. Reconnect with backoff; "
        "unsent edits stay in the client and sync then.",
    ),
    CloseInfo(CloseCode.BAD_FRAME, False, "A frame could not be decoded (garbage, truncated varUint, bad length)."),
    CloseInfo(CloseCode.BAD_UPDATE, False, "A well-formed frame carried a Yjs update that does not decode."),
    CloseInfo(CloseCode.UNKNOWN_MESSAGE, False, "A message type or sync step this endpoint does not know."),
    CloseInfo(
        CloseCode.BAD_NAME,
        False,
        "The room or draft name is not allowed (see `rooms.names`).",
    ),
    CloseInfo(
        CloseCode.ALREADY_AUTHENTICATED,
        False,
        "A multi-document socket sent a second token for a document that is authenticating or open.",
    ),
    CloseInfo(
        CloseCode.NOT_AUTHENTICATED,
        False,
        "A multi-document socket sent a message for a document before its token (the token comes first).",
    ),
    CloseInfo(
        CloseCode.SLOW_CONSUMER,
        True,
        "The client did not read fast enough and its outbound queue overflowed. Reconnect; the sync "
        "handshake brings it up to date.",
    ),
    CloseInfo(
        CloseCode.BEHIND,
        True,
        "`/live`: the client did not read fast enough and its bounded queue of events overflowed. Reconnect "
        "and resubscribe with each channel's last epoch and offset: the missed events are sent again, in "
        "order (or `recovered: false` says to reload from the API).",
    ),
    CloseInfo(
        CloseCode.AUTH_EXPIRED,
        False,
        "Authenticate again: the token expired during the connection. Get a new token (sign in again), "
        "then reconnect with it.",
    ),
    CloseInfo(
        CloseCode.RIGHTS_CHANGED,
        True,
        "The user's roles or unit, or the planning session's member units, changed. Reconnect; the new "
        "rights apply (the reconnect may then be refused with 4403).",
    ),
    CloseInfo(
        CloseCode.FORBIDDEN,
        False,
        "Not allowed: the user is disabled or unknown, or the user's unit is not a member of this "
        "planning session (or the session does not exist).",
    ),
    CloseInfo(
        CloseCode.AUTH_TIMEOUT,
        True,
        "A socket that authenticates in-band did not do so before its deadline. Reconnect and send the token first.",
    ),
    CloseInfo(
        CloseCode.AUTH_TOO_LARGE,
        False,
        "A socket that authenticates in-band sent more bytes or messages than allowed before authenticating.",
    ),
    CloseInfo(
        CloseCode.RATE_LIMITED,
        True,
        "Too many messages or bytes per second from this connection or this user, or too many connects "
        "per second by this user. Reconnect after a backoff of a few seconds.",
    ),
    CloseInfo(
        CloseCode.TOO_MANY_CONNECTIONS,
        True,
        "This user already has the most open connections allowed on this hub node. Close some, then "
        "reconnect with backoff.",
    ),
    CloseInfo(
        CloseCode.TOO_MANY_DRAFTS,
        False,
        "A connection of a multi-document dialect opened more drafts than one connection may hold.",
    ),
)

assert {info.code for info in CLOSE_CODES} == set(CloseCode), "every close code needs a table row"


def markdown_table() -> str:
    rows = ["| code | name | reconnect | meaning |", "|---|---|---|---|"]
    for info in CLOSE_CODES:
        rows.append(f"| {int(info.code)} | `{info.code.name}` | {'yes' if info.reconnect else 'no'} | {info.meaning} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print("# Close codes\n\nGenerated from `schema/close_codes.py`; do not edit by hand.\n")
    print(markdown_table(), end="")
