"""Expected endings of a connection, each with its close code."""

from __future__ import annotations

from schema.close_codes import CloseCode

__all__ = ["Closing"]


class Closing(Exception):
    """End this connection with ``code``; the room and other clients go on."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(f"{int(code)} {reason}")
        self.code = code
        # Close reasons are limited to 123 UTF-8 bytes by RFC 6455.
        self.reason = reason.encode("utf-8")[:120].decode("utf-8", "ignore")
