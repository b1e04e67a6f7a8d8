"""The HTTP API of review (三审), versions and assessment (考核).

Under ``/api/sessions/{session}/drafts/{name}``:

- ``GET .../review``: where the review stands, the actions its state allows
  and those the caller may take, and the history.
- ``POST .../submit``, ``POST .../pin``, ``POST .../publish`` ``{"comment"?}``;
  ``POST .../review`` ``{"decision": "pass"|"return"|"reject", "comment",
  "pin"?}`` (a comment is required to return or reject; ``pin``: the version
  the reviewer read, refused with 409 ``pin_changed`` if it is not current).
  Each answers the review as ``GET .../review`` does.
- ``GET .../versions``; ``GET .../versions/{v}`` (with its text);
  ``GET .../diff?from=V&to=W`` (``current``: the document now);
  ``POST .../versions/{v}/restore`` ``{"title"?, "name"?}``: a new draft in the
  same session whose document starts as version ``v``.

``GET /api/stats?from=&to=&unit=`` and ``GET /api/stats.csv`` (the same rows,
UTF-8 with a byte-order mark so spreadsheet programs read Chinese unit names).

Errors are ``{"error": {"code", "message"}}`` (400: the query or path; 422:
a field of the body, named in the message); a refused transition is 409
``illegal_transition`` (or ``pin_stale``, ``pin_changed``, ``conflict``) with
the draft's ``state`` and the actions it ``allowed``. See docs/REVIEW.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.api import ApiError, _identify, _json_object, error_response
from hub.review import Refused, ReviewDesk
from rooms.assessment import UnitStats, city_day, summarise
from rooms.directory import Role, valid_unit_code
from rooms.doc_text import line_diff
from rooms.draft import Origin
from rooms.names import valid_name
from rooms.review import Action, DraftReview, Version, allowed, level_of
from rooms.store import DraftKey
from rooms.workflow import Actor, Conflict, Forbidden, IllegalTransition, Invalid, NotFound, WorkflowError

if TYPE_CHECKING:
    from hub.auth import Identity
    from hub.state import Hub
    from rooms.directory import Room

__all__ = ["review_routes"]

MAX_COMMENT = 2000
MAX_TITLE = 200
MAX_STATS_DAYS = 366
DEFAULT_STATS_DAYS = 30
STATS_ALL_UNITS = frozenset({Role.COMMANDER, Role.CHIEF_EDITOR})
CSV_COLUMNS = (
    "unit",
    "name",
    "from",
    "to",
    "tasks_received",
    "tasks_on_time",
    "on_time_rate",
    "ack_median_seconds",
    "topics_submitted",
    "topics_adopted",
    "drafts_published",
    "review_median_seconds",
)
DECISIONS = {"pass": Action.PASS, "return": Action.RETURN, "reject": Action.REJECT}


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _client(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


def refused_response(refused: Refused) -> JSONResponse:
    error: dict[str, Any] = {"code": refused.code, "message": refused.message}
    if refused.status == 409 and refused.review is not None:
        error["state"] = refused.review.status.value
        error["allowed"] = allowed(refused.review.status, stale=refused.review.stale)
    return JSONResponse({"error": error}, status_code=refused.status)


async def _draft(request: Request) -> tuple[Hub, Identity, DraftKey, Room | None]:
    hub = _hub(request)
    who, _ = await _identify(request)
    session, name = request.path_params["session"], request.path_params["name"]
    if not valid_name(session):
        raise ApiError(400, "invalid", "session: 1-64 of A-Z a-z 0-9 _ -")
    if not valid_name(name):
        raise ApiError(400, "invalid", "draft: 1-64 of A-Z a-z 0-9 _ -")
    room = await hub.access.sessions.lookup_room(session)
    return hub, who, DraftKey(session, name), room


def _comment(body: dict[str, Any], *, required: bool) -> str:
    raw = body.get("comment", "")
    if not isinstance(raw, str) or len(raw) > MAX_COMMENT:
        raise ApiError(422, "invalid", f"comment: text of at most {MAX_COMMENT} characters")
    if required and not raw.strip():
        raise ApiError(422, "invalid", "comment: say why (required to return or reject)")
    return raw.strip()


def _version_id(raw: object, what: str, status: int = 400) -> int:
    if not isinstance(raw, str) or not raw.isdigit() or len(raw) > 18:
        raise ApiError(status, "invalid", f"{what}: a version id")
    return int(raw)


def review_json(desk: ReviewDesk, review: DraftReview, who: Identity, room: Room) -> dict[str, Any]:
    return {
        "session": review.key.room,
        "draft": review.key.draft,
        "title": review.title,
        "lead_unit": review.lead_unit,
        "review": {
            "status": review.status.value,
            "level": level_of(review.status),
            "pin": None if review.pin is None else str(review.pin),
            "stale": review.stale,
            "changed_at": review.changed_at or None,
        },
        "allowed": allowed(review.status, stale=review.stale),
        "permitted": desk.permitted(review, who, room),
    }


def version_json(version: Version) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(version.id),
        "kind": version.kind.value,
        "status": version.status.value,
        "level": version.level,
        "created_at": version.created_at,
        "created_by": version.created_by,
    }
    if version.state is not None:
        out["text"] = version.text
    return out


# -- review -----------------------------------------------------------------------


async def get_review(request: Request) -> Response:
    hub, who, key, room = await _draft(request)
    desk = hub.review
    review = await desk.review(key, who, room)
    assert room is not None
    body = review_json(desk, review, who, room)
    body["history"] = [
        {
            "at": h.at,
            "actor": h.actor,
            "action": h.action,
            "from": h.from_status.value,
            "to": h.to_status.value,
            "level": h.level,
            "version": None if h.version is None else str(h.version),
            "comment": h.comment,
        }
        for h in await desk.store.history(key)
    ]
    return JSONResponse(body)


async def _act(request: Request, action: Action, comment: str, expect_pin: int | None = None) -> Response:
    hub, who, key, room = await _draft(request)
    applied = await hub.review.act(
        key, action, who, room, comment=comment, expect_pin=expect_pin, client=_client(request)
    )
    assert room is not None
    body = review_json(hub.review, applied.review, who, room)
    body["version"] = None if applied.version is None else str(applied.version)
    return JSONResponse(body)


async def submit(request: Request) -> Response:
    body = await _json_object(request)
    return await _act(request, Action.SUBMIT, _comment(body, required=False))


async def pin(request: Request) -> Response:
    body = await _json_object(request)
    return await _act(request, Action.PIN, _comment(body, required=False))


async def publish(request: Request) -> Response:
    body = await _json_object(request)
    return await _act(request, Action.PUBLISH, _comment(body, required=False))


async def decide(request: Request) -> Response:
    body = await _json_object(request)
    raw = body.get("decision")
    decision = DECISIONS.get(raw) if isinstance(raw, str) else None
    if decision is None:
        raise ApiError(422, "invalid", "decision: pass, return or reject")
    comment = _comment(body, required=decision is not Action.PASS)
    expect = None if body.get("pin") is None else _version_id(body.get("pin"), "pin", 422)
    return await _act(request, decision, comment, expect)


# -- versions -------------------------------------------------------------------------


async def versions(request: Request) -> Response:
    hub, who, key, room = await _draft(request)
    await hub.review.review(key, who, room)
    found = await hub.review.store.versions(key)
    return JSONResponse({"items": [version_json(v) for v in found], "next": None})


async def _version(hub: Hub, key: DraftKey, raw: str, what: str) -> Version:
    found = await hub.review.store.version(key, _version_id(raw, what))
    if found is None:
        raise ApiError(404, "not_found", f"{what}: no such version of this draft")
    return found


async def version(request: Request) -> Response:
    hub, who, key, room = await _draft(request)
    await hub.review.review(key, who, room)
    return JSONResponse(version_json(await _version(hub, key, request.path_params["version"], "version")))


async def diff(request: Request) -> Response:
    hub, who, key, room = await _draft(request)
    await hub.review.review(key, who, room)
    texts: list[str] = []
    for what in ("from", "to"):
        raw = request.query_params.get(what)
        if raw is None:
            raise ApiError(400, "invalid", f"{what}: a version id, or current")
        if raw == "current":
            texts.append(await hub.review.current_text(key))
        else:
            texts.append((await _version(hub, key, raw, what)).text)
    old_name, new_name = request.query_params["from"], request.query_params["to"]
    body = {"from": old_name, "to": new_name, **line_diff(texts[0], texts[1], old_name=old_name, new_name=new_name)}
    return JSONResponse(body)


async def restore(request: Request) -> Response:
    """A new draft in the same session, led by the same unit, whose document starts as the version."""
    hub, who, key, room = await _draft(request)
    review = await hub.review.review(key, who, room)
    source = await _version(hub, key, request.path_params["version"], "version")
    body = await _json_object(request)
    title = body.get("title", f"{review.title} (v{source.id})"[:MAX_TITLE])
    if not isinstance(title, str) or not 1 <= len(title.strip()) <= MAX_TITLE:
        raise ApiError(422, "invalid", f"title: 1 to {MAX_TITLE} characters")
    name = body.get("name")
    if name is not None and not (isinstance(name, str) and valid_name(name)):
        raise ApiError(422, "invalid", "name: 1-64 of A-Z a-z 0-9 _ -")
    kinds = {u.code: u.kind for u in await hub.live.lookup.units()}
    actor = Actor(who.sub, who.unit, kinds.get(who.unit, ""), who.roles, _client(request))
    try:
        change = await hub.workflow.create_draft(
            actor, key.room, title=title.strip(), lead_unit=review.lead_unit, name=name
        )
    except WorkflowError as exc:
        return _workflow_refusal(exc)
    hub.live.publisher.announce(change.events)
    created = DraftKey(key.room, change.value.name)
    assert source.state is not None
    await hub.store.append([(created, source.state)])
    opened = hub.registry.open.get(created)
    if opened is not None:  # someone opened the path before it was a draft: bring them the content
        opened.apply_remote_update(source.state, Origin.LOAD)
    answer = change.value.to_json()
    answer["restored_from"] = {"session": key.room, "draft": key.draft, "version": str(source.id)}
    return JSONResponse(answer, status_code=201)


def _workflow_refusal(exc: WorkflowError) -> JSONResponse:
    """The workflow store's refusal to create the draft, answered as its own API answers it."""
    if isinstance(exc, IllegalTransition):
        body = {"code": "illegal_transition", "message": str(exc), "state": exc.state, "allowed": exc.allowed}
        return JSONResponse({"error": body}, status_code=409)
    status, code = {
        Invalid: (422, "invalid"),
        Forbidden: (403, "forbidden"),
        NotFound: (404, "not_found"),
        Conflict: (409, "conflict"),
    }.get(type(exc), (400, "invalid"))
    return error_response(status, code, str(exc))


# -- assessment -------------------------------------------------------------------------


def _date(request: Request, name: str, default: dt.date) -> dt.date:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        if len(raw) == 10:
            return dt.date.fromisoformat(raw)
    except ValueError:
        pass
    raise ApiError(400, "invalid", f"{name}: a date as YYYY-MM-DD")


async def _stats(request: Request) -> tuple[dt.date, dt.date, list[tuple[UnitStats, str]], float | None]:
    """(from, to, [(stats, unit name)], newest computation time) for the query."""
    hub = _hub(request)
    who, _ = await _identify(request)
    last = _date(request, "to", city_day(time.time()))
    first = _date(request, "from", last - dt.timedelta(days=DEFAULT_STATS_DAYS - 1))
    if first > last or (last - first).days >= MAX_STATS_DAYS:
        raise ApiError(400, "invalid", f"from, to: from on or before to, at most {MAX_STATS_DAYS} days")
    units = await hub.access.directory.units()
    names = {u.code: u.name_zh for u in units}
    unit = request.query_params.get("unit")
    every = not who.roles.isdisjoint(STATS_ALL_UNITS)
    if unit is not None and (not valid_unit_code(unit) or unit not in names):
        raise ApiError(400, "invalid", "unit: a unit code such as dgdaily or humen")
    if unit is None and not every:
        unit = who.unit
    if unit is not None and unit != who.unit and not every:
        raise ApiError(403, "forbidden", "only commanders and chief editors see other units' statistics")
    days = await hub.assessment.days(first, last)
    chosen = [unit] if unit is not None else [u.code for u in units]
    stats = summarise(days, chosen)
    computed = max((d.computed_at for d in days), default=None)
    return first, last, [(s, names.get(s.unit, s.unit)) for s in stats], computed


async def stats(request: Request) -> Response:
    first, last, rows, computed = await _stats(request)
    items = [{**s.to_json(), "name": name} for s, name in rows]
    return JSONResponse(
        {"from": first.isoformat(), "to": last.isoformat(), "computed_at": computed, "items": items, "next": None}
    )


async def stats_csv(request: Request) -> Response:
    first, last, rows, _ = await _stats(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for s, name in rows:
        body = s.to_json()
        body.update({"name": name, "from": first.isoformat(), "to": last.isoformat()})
        writer.writerow(["" if body[c] is None else body[c] for c in CSV_COLUMNS])
    filename = f"tongpin-stats-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(
        "\ufeff" + out.getvalue(),  # the byte-order mark tells spreadsheet programs it is UTF-8
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def review_routes() -> list[Route]:
    base = "/api/sessions/{session}/drafts/{name}"
    return [
        Route(f"{base}/review", get_review),
        Route(f"{base}/review", decide, methods=["POST"]),
        Route(f"{base}/submit", submit, methods=["POST"]),
        Route(f"{base}/pin", pin, methods=["POST"]),
        Route(f"{base}/publish", publish, methods=["POST"]),
        Route(f"{base}/versions", versions),
        Route(f"{base}/versions/{{version}}", version),
        Route(f"{base}/diff", diff),
        Route(f"{base}/versions/{{version}}/restore", restore, methods=["POST"]),
        Route("/api/stats", stats),
        Route("/api/stats.csv", stats_csv),
    ]


def review_exception_handlers() -> dict[Any, Any]:
    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        return refused_response(exc)

    return {Refused: handle}
