"""Admission of websocket clients, in two steps.

1. ``upgrade``, before the socket is accepted: the ``Origin`` header against
   the allow-list, then the ``?token=``. This is CPU work only (an HMAC), no
   I/O and no await: an unauthenticated upgrade is answered at once with an
   HTTP error (JSON body, see ``docs/SECURITY.md``) and never becomes a
   socket, so it costs no websocket state, no task and no bytes read after
   the request. 403 ``origin_not_allowed``; 401 ``token_missing``,
   ``token_invalid``, ``token_expired``.
2. ``open``, after the accept, for an authenticated user: the directory's
   record (disabled or unknown users: 4403), membership of the planning
   session (4403), then per-user limits (4429 connects per second, 4430
   connections). These end with a close code so a browser can tell why: it
   never sees the HTTP status of a refused upgrade.
"""

from __future__ import annotations

import itertools
import logging
import math

from starlette.websockets import WebSocket

from hub.api import error_response
from hub.audit import AuditTrail
from hub.auth import Identity, TokenError, Tokens, can_open_room, origin_allowed
from hub.limits import RefusalLimit
from hub.sessions import Session, Sessions
from rooms.errors import Closing
from rooms.store import DraftKey, StoreUnavailable
from schema.close_codes import CloseCode

__all__ = ["Gate", "client_address"]

log = logging.getLogger("tongpin.gate")

ANONYMOUS_EXP = float("inf")
ANONYMOUS_ROLES = frozenset({"editor"})


def client_address(ws: WebSocket) -> str | None:
    return ws.client.host if ws.client is not None else None


class Gate:
    def __init__(
        self,
        *,
        tokens: Tokens,
        sessions: Sessions,
        audit: AuditTrail,
        allowed_origins: frozenset[str],
        auth_off: bool = False,
        refusals: RefusalLimit | None = None,
    ) -> None:
        self.tokens = tokens
        self.sessions = sessions
        self.audit = audit
        self.allowed_origins = allowed_origins
        self.auth_off = auth_off
        self.refusals = refusals if refusals is not None else RefusalLimit(0, 0.0)
        self.refused_upgrades = 0
        self.blocked_upgrades = 0  # answered 429 while their address was blocked
        self._anonymous = itertools.count(1)

    async def upgrade(self, ws: WebSocket) -> Identity | None:
        """The identity of an upgrade request, or None after refusing it."""
        if not await self.check_origin(ws):
            return None
        if self.auth_off:
            return self.anonymous()
        try:
            return self.tokens.verify(ws.query_params.get("token"))
        except TokenError as refused:
            await self._deny(ws, 401, refused.code, str(refused), actor=refused.sub)
            return None

    async def check_origin(self, ws: WebSocket) -> bool:
        """The ``Origin`` check alone (dialects that authenticate in-band); False after refusing.

        First of all, an address blocked for its refusals is answered 429.
        """
        wait = self.refusals.blocked(client_address(ws))
        if wait:
            self.blocked_upgrades += 1
            response = error_response(429, "too_many_refusals", "too many refused upgrades from this address")
            response.headers["Retry-After"] = str(math.ceil(wait))
            await ws.send_denial_response(response)
            return False
        headers = ws.headers
        if origin_allowed(headers.get("origin"), headers.get("host"), self.allowed_origins):
            return True
        await self._deny(ws, 403, "origin_not_allowed", "this origin may not open websockets here")
        return False

    def anonymous(self) -> Identity:
        """A new anonymous editor, on hubs run with authentication off."""
        assert self.auth_off, "anonymous identities exist only with authentication off"
        n = next(self._anonymous)
        return Identity(f"anonymous-{n}", "anonymous", "", ANONYMOUS_ROLES, ANONYMOUS_EXP, anonymous=True)

    async def _deny(self, ws: WebSocket, status: int, code: str, message: str, *, actor: str | None = None) -> None:
        self.refused_upgrades += 1
        client = client_address(ws)
        self.audit.record(
            "refuse", actor=actor, client=client, target=_target(ws), detail={"reason": code, "status": status}
        )
        if self.refusals.refused(client):
            log.warning("%s blocked for %g s: %d refused upgrades", client, self.refusals.cooldown, self.refusals.limit)
            detail = {"reason": "too_many_refusals", "status": 429, "cooldown": self.refusals.cooldown}
            self.audit.record("refuse", client=client, target=_target(ws), detail=detail)
        await ws.send_denial_response(error_response(status, code, message))

    async def open(self, identity: Identity, key: DraftKey, client: str | None) -> Session:
        """Admit an authenticated identity to a draft, or raise ``Closing``."""
        return await self._admit(identity, key, client, str(key), room_check=True)

    async def open_socket(self, identity: Identity, key: DraftKey, client: str | None, target: str) -> Session:
        """Admit to a socket that opens no draft (``/live``): the user's own record only."""
        return await self._admit(identity, key, client, target, room_check=False)

    async def _admit(
        self, identity: Identity, key: DraftKey, client: str | None, target: str, *, room_check: bool
    ) -> Session:
        current = identity
        try:
            if identity.anonymous:
                return self.sessions.admit(identity, None, key, client)
            try:
                user = await self.sessions.lookup_user(identity.sub)
                room = await self.sessions.lookup_room(key.room) if room_check and user is not None else None
            except StoreUnavailable as exc:
                log.warning("directory unavailable while admitting %s: %s", identity.sub, exc)
                raise Closing(CloseCode.TRY_AGAIN_LATER, "directory unavailable; try again") from exc
            if user is None:
                raise Closing(CloseCode.FORBIDDEN, "unknown user")
            current = Identity.of(user, identity.exp)
            if user.disabled:
                raise Closing(CloseCode.FORBIDDEN, "user disabled")
            if not room_check:
                return self.sessions.admit(current, user, key, client)
            if not can_open_room(current, room):
                raise Closing(CloseCode.FORBIDDEN, "not a member of this planning session")
            return self.sessions.admit(current, user, key, client, room)
        except Closing as refused:
            self.refused(current, client, target, refused.reason, refused.code)
            raise

    def refused(self, identity: Identity, client: str | None, target: str, reason: str, code: int) -> None:
        """Record that an accepted socket of ``identity`` is being closed unserved."""
        self.sessions.refused += 1
        self.audit.record(
            "refuse",
            actor=None if identity.anonymous else identity.sub,
            unit=identity.unit or None,
            client=client,
            target=target[:200],
            detail={"reason": reason, "code": int(code)},
        )


def _target(ws: WebSocket) -> str:
    """The path a refused upgrade asked for, without its query (the token)."""
    raw = ws.scope.get("raw_path") or b""
    return raw.decode("ascii", "replace")[:200]
