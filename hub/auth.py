"""Who is connecting and what they may do: tokens, roles, rooms, origins.

Tokens are JWTs signed with HS256 and nothing else: ``alg: none`` and every
other algorithm are refused. Claims: ``sub`` (user id), ``name``, ``unit``,
``roles``, ``exp`` (required), ``iat``. The token authenticates ``sub``; the
rights that apply are the directory's current ones for that user (its unit,
roles, disabled flag), so a role change or a disable takes effect without
waiting for old tokens to expire. The other claims are for clients.

The secret is ``TONGPIN_SECRET`` (at least 32 bytes). Without it the hub runs
in development mode: a secret is generated on first run into
``DATA_DIR/secret.key`` (mode 0600), and development sign-in is on.

Tokens travel in ``?token=`` on websocket URLs, because that is what browser
websocket clients can send; ``RedactTokens`` keeps them out of every log line.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt

from rooms.directory import Role, Room, User, valid_unit_code, valid_user_id
from rooms.workflow import SESSION_EDITABLE, WRITER_ROLES

__all__ = [
    "ALGORITHM",
    "EDIT_ROLES",
    "Identity",
    "RedactTokens",
    "Secret",
    "TokenError",
    "Tokens",
    "can_open_room",
    "install_log_redaction",
    "may_edit",
    "may_edit_room",
    "may_manage",
    "origin_allowed",
    "resolve_secret",
]

log = logging.getLogger("tongpin.auth")

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32
MAX_TOKEN_CHARS = 4096  # refused unread above this: a token is a few hundred bytes
SECRET_FILE = "secret.key"

# Roles that may change a draft (the workflow's "writers"). Everyone else
# (viewer, monitor, admin) gets a read-only connection: they receive updates
# and awareness, and their updates are refused with the y-protocols
# permission-denied message.
EDIT_ROLES = WRITER_ROLES
KNOWN_ROLES = frozenset(Role)


class TokenError(Exception):
    """A token that does not authenticate anyone. ``code`` is for clients."""

    def __init__(self, code: str, message: str, *, sub: str | None = None) -> None:
        super().__init__(message)
        self.code = code  # token_missing, token_invalid, token_expired
        self.sub = sub  # set only when the signature was good (an expired token)


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated user with the rights that apply now.

    ``anonymous`` is set only on hubs started with ``--auth off``.
    """

    sub: str
    name: str
    unit: str
    roles: frozenset[str]
    exp: float
    anonymous: bool = False

    @classmethod
    def of(cls, user: User, exp: float) -> Identity:
        return cls(user.id, user.name, user.unit, user.roles, exp)

    @property
    def may_edit(self) -> bool:
        return may_edit(self.roles)


def may_edit(roles: Iterable[str]) -> bool:
    return not EDIT_ROLES.isdisjoint(roles)


def can_open_room(identity: Identity, room: Room | None) -> bool:
    """May ``identity`` open the drafts and channels of ``room``?

    Only users of the owner unit or a member unit may; a room that does not
    exist is refused like one the user may not open (its existence is not
    revealed). Hubs with ``--auth off`` let anonymous identities in anywhere.
    """
    if identity.anonymous:
        return True
    return room is not None and room.has_unit(identity.unit)


def may_edit_room(identity: Identity, room: Room | None) -> bool:
    """May ``identity`` change the drafts of ``room`` (a member, checked apart)?

    Its roles must allow editing, and the planning session must be scheduled
    or open: drafts of a closed or archived session are read-only for
    everyone (``rooms.workflow``). Anonymous identities have no room looked up.
    """
    return identity.may_edit and (room is None or room.status in SESSION_EDITABLE)


def may_manage(actor: Identity, target: User) -> bool:
    """May ``actor`` disable, enable or change the roles of ``target``?

    An admin may manage anyone but themself; a chief editor the users of
    their own unit who are not admins.
    """
    if actor.sub == target.id:
        return False
    if Role.ADMIN in actor.roles:
        return True
    return Role.CHIEF_EDITOR in actor.roles and actor.unit == target.unit and Role.ADMIN not in target.roles


# -- tokens -------------------------------------------------------------------


class Tokens:
    """Issues and checks HS256 tokens with one secret."""

    def __init__(self, secret: bytes) -> None:
        assert len(secret) >= MIN_SECRET_BYTES, "token secret too short"
        self._secret = secret

    def issue(self, user: User, ttl: float, *, now: float | None = None) -> str:
        now = time.time() if now is None else now
        claims = {
            "sub": user.id,
            "name": user.name,
            "unit": user.unit,
            "roles": sorted(user.roles),
            "iat": int(now),
            "exp": int(now + ttl),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str | None) -> Identity:
        """The identity a token claims, if its signature and ``exp`` hold."""
        if not token:
            raise TokenError("token_missing", "no token: pass ?token= (websocket) or Authorization: Bearer (HTTP)")
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenError("token_invalid", "token too long")
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError as exc:
            sub = self._expired_sub(token)
            raise TokenError("token_expired", "token expired: authenticate again", sub=sub) from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError("token_invalid", f"token refused: {exc}") from exc
        return _identity(claims)

    def _expired_sub(self, token: str) -> str | None:
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], options={"verify_exp": False})
        except jwt.InvalidTokenError:
            return None
        sub = claims.get("sub")
        return sub if isinstance(sub, str) and valid_user_id(sub) else None


def _identity(claims: dict[str, Any]) -> Identity:
    sub, name, unit = claims.get("sub"), claims.get("name", ""), claims.get("unit", "")
    roles, exp = claims.get("roles", []), claims.get("exp")
    if not isinstance(sub, str) or not valid_user_id(sub):
        raise TokenError("token_invalid", "token subject is not a user id")
    if not isinstance(name, str) or not isinstance(unit, str) or (unit and not valid_unit_code(unit)):
        raise TokenError("token_invalid", "token name or unit malformed")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles) or len(roles) > 32:
        raise TokenError("token_invalid", "token roles malformed")
    if not isinstance(exp, int | float):
        raise TokenError("token_invalid", "token exp malformed")
    return Identity(sub, name[:64], unit, frozenset(roles) & KNOWN_ROLES, float(exp))


# -- the secret ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Secret:
    value: bytes
    generated: bool  # True: development mode (no TONGPIN_SECRET)


def resolve_secret(env_secret: str, data_dir: Path) -> Secret:
    """``TONGPIN_SECRET`` if set, else the data directory's generated one."""
    if env_secret:
        value = env_secret.encode("utf-8")
        if len(value) < MIN_SECRET_BYTES:
            raise SystemExit(f"tongpin: TONGPIN_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        return Secret(value, generated=False)
    return Secret(_data_dir_secret(data_dir / SECRET_FILE), generated=True)


def _data_dir_secret(path: Path) -> bytes:
    """Read the development secret, generating it on first use.

    The new secret is written whole to a private temporary file and then
    linked into place, which fails if the file exists: nodes starting at the
    same moment on one data directory agree on one secret and never read a
    half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        value = secrets.token_urlsafe(48).encode("ascii")
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(value + b"\n")
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, path)
            log.info("generated a development token secret in %s", path)
            return value
        except FileExistsError:
            pass  # another process won the race; use its secret
        finally:
            os.unlink(tmp)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("%s is readable by others (mode %o); making it 0600", path, mode)
        path.chmod(0o600)
    value = path.read_bytes().strip()
    if len(value) < MIN_SECRET_BYTES:
        raise SystemExit(f"tongpin: {path} holds no usable secret; delete it to generate a new one") from None
    return value


# -- origins ------------------------------------------------------------------


def origin_allowed(origin: str | None, host: str | None, allowed: frozenset[str]) -> bool:
    """Check a websocket upgrade's ``Origin`` against the allow-list.

    - No ``Origin`` header: allowed. Browsers always send one on websocket
      upgrades, so its absence means a non-browser client (a script, a
      server, a load generator), which could send any Origin it liked; the
      check exists to stop other web pages from using a browser's session,
      and the token is the real gate.
    - ``*`` in the list allows every origin.
    - Otherwise the origin (``scheme://host[:port]``, compared lowercased)
      must be listed, or be the hub's own origin (its host:port equals the
      request's ``Host`` header).
    """
    if origin is None:
        return True
    if "*" in allowed:
        return True
    origin = origin.strip().lower()
    if origin in allowed:
        return True
    if host is None or origin == "null":
        return False
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    return netloc != "" and netloc == host.strip().lower()


def parse_origins(text: str) -> frozenset[str]:
    return frozenset(o.strip().lower().rstrip("/") for o in text.split(",") if o.strip())


# -- logs ---------------------------------------------------------------------

_TOKEN_IN_TEXT = re.compile(r"(token=)[^&\s\"']+", re.IGNORECASE)
_BEARER = re.compile(r"(bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


class RedactTokens(logging.Filter):
    """Replace token values in a log record's message with ``[redacted]``.

    uvicorn logs websocket handshakes with the full path and query string
    (``"WebSocket /yjs/r/d?token=..." [accepted]``) on ``uvicorn.error``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler
            return True
        if "token=" in message.lower() or "bearer" in message.lower():
            record.msg = _BEARER.sub(r"\1[redacted]", _TOKEN_IN_TEXT.sub(r"\1[redacted]", message))
            record.args = None
        return True


_REDACT = RedactTokens()


def install_log_redaction() -> None:
    """Attach the filter to every logger that may print a request line. Idempotent."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "websockets", "websockets.server", "tongpin"):
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)
    for handler in logging.getLogger().handlers:
        if _REDACT not in handler.filters:
            handler.addFilter(_REDACT)
