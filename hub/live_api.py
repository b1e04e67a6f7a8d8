"""``POST /live/publish``: trusted services publish live events over HTTP.

Request::

    POST /live/publish
    Authorization: Bearer <one of TONGPIN_LIVE_PUBLISH_KEYS>
    Idempotency-Key: <1-128 visible ASCII characters, unique per request>
    {"events": [{"channels": ["unit:humen", "duty"], "type": "dispatch.assigned", "data": {...}}, ...]}

Every event of one request is committed in one transaction, then announced.
Answer: 201 ``{"duplicate": false, "events": [{"channel", "epoch", "offset"}, ...]}``
(one entry per event and channel, in request order). A retry with the same
key and body publishes nothing and answers 200 with the first answer's
positions and ``"duplicate": true``; the same key with another body is 409
``idempotency_conflict``. Keys are remembered 24 hours and are scoped to the
publishing key, so two services never collide.

The types are the service's own: a type of the system's catalogue
(``schema/events.schema.json``: ``topic.approved``, ``alert.new``...) is
published by the hub alone, when the thing happens, so it is refused
(422 ``bad_event``) rather than let a client believe a forged one.

Errors are JSON ``{"error": {"code", "message"}}``: 401 ``unauthorized``,
403 ``publishing_off`` (no keys configured), 400 ``bad_request``/
``idempotency_key``, 413 ``too_large``, 422 ``bad_event``, 503
``store_unavailable``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.api import error_response
from rooms.event_store import IdempotencyConflict, IdempotencyKey, digest_of
from rooms.events import BadPublication, Publication
from rooms.store import StoreUnavailable
from schema.events import EVENT_TYPES

if TYPE_CHECKING:
    from hub.live import Live

__all__ = ["MAX_BODY", "MAX_EVENTS", "live_routes", "publish_keys"]

MAX_BODY = 1024 * 1024
MAX_EVENTS = 500
MIN_KEY_CHARS = 32
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,128}")


def publish_keys(text: str) -> list[bytes]:
    """The configured publishing keys (``hub.live`` reads them once, at start; a short one stops it)."""
    keys = [k.strip().encode() for k in text.split(",") if k.strip()]
    for key in keys:
        if len(key) < MIN_KEY_CHARS:
            raise SystemExit(f"tongpin: each TONGPIN_LIVE_PUBLISH_KEYS key needs at least {MIN_KEY_CHARS} characters")
    return keys


def _caller(request: Request, keys: list[bytes]) -> str | None:
    """A stable id of the calling service's key, or None if it has none of ours."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return None
    offered = given.strip().encode()
    match = None
    for key in keys:  # compare with every key, so timing says nothing about which
        if hmac.compare_digest(offered, key):
            match = key
    return None if match is None else hashlib.sha256(match).hexdigest()[:16]


async def publish(request: Request) -> Response:
    live: Live = request.app.state.hub.live
    keys = live.publish_keys
    if not keys:
        return error_response(403, "publishing_off", "HTTP publishing is off: set TONGPIN_LIVE_PUBLISH_KEYS")
    caller = _caller(request, keys)
    if caller is None:
        return error_response(401, "unauthorized", "Authorization: Bearer <publish key> is required")
    idem = request.headers.get("idempotency-key", "")
    if IDEMPOTENCY_KEY.fullmatch(idem) is None:
        return error_response(400, "idempotency_key", "an Idempotency-Key header of 1-128 visible ASCII characters")
    body = await _body(request)
    if isinstance(body, Response):
        return body
    events = body.get("events")
    if set(body) != {"events"} or not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
        return error_response(400, "bad_request", f'the body is {{"events": [1 to {MAX_EVENTS} events]}}')
    publications = []
    for i, event in enumerate(events):
        try:
            publications.append(_publication(event))
        except BadPublication as exc:
            return error_response(422, "bad_event", f"events[{i}]: {exc}")
    key = IdempotencyKey(f"{caller}:{idem}", digest_of(publications))
    try:
        result = await live.publisher.publish_many(publications, key=key)
    except IdempotencyConflict:
        return error_response(409, "idempotency_conflict", "this Idempotency-Key was used for another request")
    except StoreUnavailable:
        return error_response(503, "store_unavailable", "the store is unavailable; retry with the same key")
    answer = {
        "duplicate": result.duplicate,
        "events": [{"channel": c, "epoch": e, "offset": o} for c, e, o in result.positions],
    }
    return JSONResponse(answer, status_code=200 if result.duplicate else 201)


async def _body(request: Request) -> dict[str, Any] | Response:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        return error_response(413, "too_large", f"the body is at most {MAX_BODY} bytes")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            return error_response(413, "too_large", f"the body is at most {MAX_BODY} bytes")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return error_response(400, "bad_request", "the body is not JSON")
    if not isinstance(body, dict):
        return error_response(400, "bad_request", "the body is a JSON object")
    return body


def _publication(event: object) -> Publication:
    if not isinstance(event, dict) or set(event) - {"channels", "type", "data"} or "channels" not in event:
        raise BadPublication('an event is {"channels": [...], "type": "...", "data": ...}')
    channels = event["channels"]
    if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
        raise BadPublication("channels is a list of channel names")
    kind = event.get("type", "")
    if isinstance(kind, str) and kind in EVENT_TYPES:
        # A forged system event would reach clients as the real thing (a topic "approved" that is not).
        raise BadPublication(f"{kind} is published by the hub itself, see schema/events.schema.json")
    return Publication.of(channels, kind, event.get("data"))


def live_routes() -> list[Route]:
    return [Route("/live/publish", publish, methods=["POST"])]
