"""The HTTP JSON API for identity: who am I, units, users, rooms, admin actions.

Every request but development sign-in carries ``Authorization: Bearer TOKEN``.
Every input is validated; a bad one is answered with a 4xx and
``{"error": {"code": ..., "message": ...}}``, never a 500. Routes:

- ``GET /api/me``: the caller, whether they may edit, and their rooms.
- ``GET /api/units``; ``GET /api/users?unit=CODE``; ``GET /api/rooms``;
  ``GET /api/rooms/{room}`` (404 unless the caller's unit is a member).
- Development mode only (no ``TONGPIN_SECRET``; otherwise 404):
  ``GET /api/dev/users`` (the demo people by unit) and
  ``POST /api/dev/signin`` ``{"user": ID}`` answering ``{"token", "exp", "user"}``.
- Admin (``hub.auth.may_manage``): ``POST /api/admin/users/{id}/disable``,
  ``POST /api/admin/users/{id}/enable``, ``PUT /api/admin/users/{id}/roles``
  ``{"roles": [...]}``; each change is stored with its audit row and closes
  the user's sockets on every node within about a second.
  ``GET /api/admin/audit?actor=&action=&after=&limit=`` (admins only).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.auth import Identity, TokenError, may_edit, may_manage
from rooms.directory import (
    AUDIT_ACTIONS,
    AuditEvent,
    Changes,
    InvalidEntry,
    Role,
    Room,
    Unit,
    User,
    valid_unit_code,
    valid_user_id,
)
from rooms.names import valid_name
from rooms.store import StoreUnavailable

if TYPE_CHECKING:
    from hub.access import Access

__all__ = ["ApiError", "api_routes", "error_response", "exception_handlers"]

log = logging.getLogger("tongpin.api")

MAX_BODY = 16 * 1024
MAX_ROLES = 16


class ApiError(Exception):
    """An answer other than success: HTTP status, a stable code, a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


# -- exception handlers: every failure answers JSON ------------------------------


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    response = error_response(exc.status_code, code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _unavailable(request: Request, exc: Exception) -> Response:
    log.warning("directory unavailable: %s", exc)
    return error_response(503, "unavailable", "the directory is unavailable; try again")


async def _internal(request: Request, exc: Exception) -> Response:
    return error_response(500, "internal", "internal error")


def exception_handlers() -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    return {
        ApiError: _api_error,
        HTTPException: _http_error,
        StoreUnavailable: _unavailable,
        Exception: _internal,
    }


# -- helpers ----------------------------------------------------------------------


def _hub(request: Request) -> Access:
    access: Access = request.app.state.hub.access
    return access


def _client(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


async def _identify(request: Request) -> tuple[Identity, User]:
    hub = _hub(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise ApiError(401, "token_missing", "send Authorization: Bearer TOKEN")
    if scheme.lower() != "bearer":
        raise ApiError(401, "token_invalid", "use the Bearer scheme")
    try:
        claimed = hub.tokens.verify(token.strip())
    except TokenError as refused:
        raise ApiError(401, refused.code, str(refused)) from None
    user = await hub.sessions.lookup_user(claimed.sub)
    if user is None:
        raise ApiError(401, "unknown_user", "no such user")
    if user.disabled:
        raise ApiError(403, "user_disabled", "this user is disabled")
    return Identity.of(user, claimed.exp), user


async def _json_object(request: Request) -> dict[str, Any]:
    ctype = request.headers.get("content-type", "")
    if ctype.split(";", 1)[0].strip().lower() != "application/json":
        raise ApiError(415, "unsupported_media_type", "send Content-Type: application/json")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise ApiError(413, "payload_too_large", f"bodies are at most {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise ApiError(413, "payload_too_large", f"bodies are at most {MAX_BODY} bytes")
    try:
        value = orjson.loads(bytes(body))
    except orjson.JSONDecodeError:
        raise ApiError(400, "bad_json", "the body is not JSON") from None
    if not isinstance(value, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    return value


def _user_id(raw: object, what: str = "user") -> str:
    if not isinstance(raw, str) or not valid_user_id(raw):
        raise ApiError(400, "bad_user_id", f"{what}: 1-64 of a-z 0-9 _ . -, starting with a letter or digit")
    return raw


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(400, "bad_parameter", f"{name} must be an integer from {low} to {high}")
    return int(raw)


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "unit": user.unit,
        "roles": sorted(user.roles),
        "disabled": user.disabled,
        "may_edit": may_edit(user.roles),
    }


def unit_json(unit: Unit) -> dict[str, Any]:
    return unit._asdict()


def room_json(room: Room) -> dict[str, Any]:
    return {
        "id": room.id,
        "title": room.title,
        "owner_unit": room.owner_unit,
        "member_units": sorted(room.member_units),
    }


# -- routes ------------------------------------------------------------------------


async def me(request: Request) -> Response:
    identity, user = await _identify(request)
    rooms = await _hub(request).directory.rooms(user.unit)
    return JSONResponse(
        {
            "user": user_json(user),
            "token_exp": int(identity.exp),
            "rooms": [room_json(r) for r in rooms],
        }
    )


async def units(request: Request) -> Response:
    await _identify(request)
    return JSONResponse({"units": [unit_json(u) for u in await _hub(request).directory.units()]})


async def users(request: Request) -> Response:
    _, me_ = await _identify(request)
    unit = request.query_params.get("unit", me_.unit)
    if not valid_unit_code(unit):
        raise ApiError(400, "bad_unit", "unit: a unit code such as dgdaily or humen")
    directory = _hub(request).directory
    found = await directory.users(unit)
    if not found and unit not in {u.code for u in await directory.units()}:
        raise ApiError(404, "not_found", "no such unit")
    return JSONResponse({"users": [user_json(u) for u in found]})


async def rooms(request: Request) -> Response:
    _, user = await _identify(request)
    return JSONResponse({"rooms": [room_json(r) for r in await _hub(request).directory.rooms(user.unit)]})


async def room(request: Request) -> Response:
    _, user = await _identify(request)
    room_id = request.path_params["room"]
    if not valid_name(room_id):
        raise ApiError(400, "bad_room", "room names: 1-64 of A-Z a-z 0-9 _ -")
    found = await _hub(request).directory.room(room_id)
    if found is None or not found.has_unit(user.unit):
        raise ApiError(404, "not_found", "no such planning session, or your unit is not a member")
    return JSONResponse({"room": room_json(found)})


def _dev_only(request: Request) -> Access:
    hub = _hub(request)
    if not hub.dev_mode:
        raise ApiError(404, "not_found", "development sign-in is off (TONGPIN_SECRET is set)")
    return hub


async def dev_users(request: Request) -> Response:
    hub = _dev_only(request)
    by_unit: dict[str, list[dict[str, Any]]] = {}
    for user in await hub.directory.users():
        if not user.disabled:
            by_unit.setdefault(user.unit, []).append(user_json(user))
    return JSONResponse(
        {"units": [unit_json(u) | {"users": by_unit.get(u.code, [])} for u in await hub.directory.units()]}
    )


async def dev_signin(request: Request) -> Response:
    hub = _dev_only(request)
    body = await _json_object(request)
    user_id = _user_id(body.get("user"))
    user = await hub.directory.user(user_id)
    if user is None:
        raise ApiError(404, "not_found", "no such user")
    if user.disabled:
        raise ApiError(403, "user_disabled", "this user is disabled")
    ttl = hub.settings.token_ttl
    token = hub.tokens.issue(user, ttl)
    hub.audit.record("signin", actor=user.id, unit=user.unit, client=_client(request), target=user.id)
    return JSONResponse({"token": token, "exp": int(time.time() + ttl), "user": user_json(user)})


async def _managed(request: Request) -> tuple[Access, Identity, User]:
    hub = _hub(request)
    actor, _ = await _identify(request)
    target_id = _user_id(request.path_params["user"])
    target = await hub.directory.user(target_id)
    if target is None:
        raise ApiError(404, "not_found", "no such user")
    if not may_manage(actor, target):
        raise ApiError(403, "forbidden", "you may not manage this user")
    return hub, actor, target


def _change_event(request: Request, actor: Identity, action: str, target: User, detail: dict[str, Any]) -> AuditEvent:
    node = _hub(request).settings.node_id
    return AuditEvent(action, time.time(), actor.sub, actor.unit, _client(request), target.id, detail, node)


def _changed(hub: Access, user: User) -> None:
    # This node acts at once; the others within one poll interval.
    hub.sessions.apply(Changes([user], [], time.time()))


async def disable(request: Request) -> Response:
    hub, actor, target = await _managed(request)
    event = _change_event(request, actor, "disable", target, {})
    user = await hub.directory.set_disabled(target.id, True, event)
    if user is None:
        raise ApiError(404, "not_found", "no such user")
    _changed(hub, user)
    return JSONResponse({"user": user_json(user)})


async def enable(request: Request) -> Response:
    hub, actor, target = await _managed(request)
    event = _change_event(request, actor, "enable", target, {})
    user = await hub.directory.set_disabled(target.id, False, event)
    if user is None:
        raise ApiError(404, "not_found", "no such user")
    _changed(hub, user)
    return JSONResponse({"user": user_json(user)})


async def set_roles(request: Request) -> Response:
    hub, actor, target = await _managed(request)
    body = await _json_object(request)
    raw = body.get("roles")
    known = {r.value for r in Role}
    if (
        not isinstance(raw, list)
        or not 1 <= len(raw) <= MAX_ROLES
        or not all(isinstance(r, str) and r in known for r in raw)
    ):
        raise ApiError(400, "bad_roles", f"roles: a list of 1 to {MAX_ROLES} of {', '.join(sorted(known))}")
    roles = frozenset(raw)
    if Role.ADMIN in roles and Role.ADMIN not in actor.roles:
        raise ApiError(403, "forbidden", "only an admin may grant the admin role")
    detail = {"before": sorted(target.roles), "after": sorted(roles)}
    event = _change_event(request, actor, "role_change", target, detail)
    try:
        user = await hub.directory.set_roles(target.id, roles, event)
    except InvalidEntry as exc:
        raise ApiError(400, "invalid", str(exc)) from None
    if user is None:
        raise ApiError(404, "not_found", "no such user")
    _changed(hub, user)
    return JSONResponse({"user": user_json(user)})


async def audit_trail(request: Request) -> Response:
    hub = _hub(request)
    actor, _ = await _identify(request)
    if Role.ADMIN not in actor.roles:
        raise ApiError(403, "forbidden", "the audit trail is for admins")
    who = request.query_params.get("actor")
    if who is not None:
        _user_id(who, "actor")
    action = request.query_params.get("action")
    if action is not None and action not in AUDIT_ACTIONS:
        raise ApiError(400, "bad_parameter", f"action: one of {', '.join(AUDIT_ACTIONS)}")
    after = _int_param(request, "after", 0, 0, 2**62)
    limit = _int_param(request, "limit", 100, 1, 1000)
    records = await hub.directory.audit_trail(actor=who, action=action, after_id=after, limit=limit)
    return JSONResponse(
        {
            "events": [
                {
                    "id": r.id,
                    "at": r.event.at,
                    "action": r.event.action,
                    "actor": r.event.actor,
                    "unit": r.event.unit,
                    "client": r.event.client,
                    "target": r.event.target,
                    "detail": dict(r.event.detail),
                    "node": r.event.node,
                }
                for r in records
            ]
        }
    )


def api_routes() -> list[Route]:
    return [
        Route("/api/me", me),
        Route("/api/units", units),
        Route("/api/users", users),
        Route("/api/rooms", rooms),
        Route("/api/rooms/{room}", room),
        Route("/api/dev/users", dev_users),
        Route("/api/dev/signin", dev_signin, methods=["POST"]),
        Route("/api/admin/users/{user}/disable", disable, methods=["POST"]),
        Route("/api/admin/users/{user}/enable", enable, methods=["POST"]),
        Route("/api/admin/users/{user}/roles", set_roles, methods=["PUT"]),
        Route("/api/admin/audit", audit_trail),
    ]
