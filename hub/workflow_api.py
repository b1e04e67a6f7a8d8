"""The planning workflow's HTTP JSON API: sessions and drafts, topics, dispatch, duty.

Routes (``schema/openapi.json``; rules and states in ``docs/WORKFLOW.md``):

- ``GET|POST /api/sessions``; ``GET|PATCH /api/sessions/{id}``;
  ``POST /api/sessions/{id}/members``; ``DELETE /api/sessions/{id}/members/{unit}``;
  ``POST /api/sessions/{id}/{open|close|reopen|archive}``;
  ``GET|POST /api/sessions/{id}/drafts``; ``GET|PATCH /api/sessions/{id}/drafts/{name}``.
- ``GET|POST /api/topics``; ``GET /api/topics/{id}``;
  ``POST /api/topics/{id}/{approve|return|merge|reject|resubmit|withdraw}``.
- ``GET|POST /api/tasks``; ``GET /api/tasks/{id}``;
  ``POST /api/tasks/{id}/{reassign|cancel|complete}``;
  ``POST /api/tasks/{id}/receipts/{rid}/{read|acknowledge|accept|decline}``.
- ``GET /api/duty``; ``PUT /api/duty/rotation``.

Every request carries ``Authorization: Bearer TOKEN`` (``hub.api``). Answers
are the entity's JSON (``201`` for a creation); lists are ``{"items",
"next"}``. Errors are ``{"error": {"code", "message"}}``: 400/422 ``invalid``
(the field is named), 403 ``forbidden``, 404 ``not_found``, 409 ``conflict``,
and 409 ``illegal_transition`` with ``state`` and ``allowed``. Each change is
stored with its audit row and events in one transaction (``rooms.workflow_store``);
the events are announced once it has committed.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.api import ApiError, _client, _identify, _json_object, error_response
from rooms.directory import Changes, Room, valid_unit_code, valid_user_id
from rooms.names import valid_name
from rooms.workflow import (
    CITY_TZ,
    PERIODS,
    RECEIPT,
    SESSION,
    TASK,
    TOPIC,
    Actor,
    Conflict,
    Forbidden,
    IllegalTransition,
    Invalid,
    Machine,
    NotFound,
    Page,
    PlanningSession,
)
from rooms.workflow_store import Change, Filters, Recipient, WorkflowStore
from rooms.workflow_tasks import BOXES
from rooms.workflow_topics import check_date

if TYPE_CHECKING:
    from hub.config import Settings
    from hub.state import Hub

__all__ = ["make_workflow_store", "workflow_routes"]

MAX_TITLE = 200
MAX_TEXT = 4000
MAX_LIST = 50
MAX_ID_DIGITS = 18  # below 2**63 in every backend
LATEST = 1e11  # times are Unix seconds up to the year 5138

Handler = Callable[[Request], Awaitable[Response]]


def make_workflow_store(settings: Settings) -> WorkflowStore:
    url = settings.database_url
    if url.startswith(("postgres://", "postgresql://")):
        from rooms.postgres_workflow import PostgresWorkflowStore

        return PostgresWorkflowStore(url, node=settings.node_id)
    from rooms.sqlite_workflow import SqliteWorkflowStore

    return SqliteWorkflowStore(settings.sqlite_path, node=settings.node_id)


# -- errors: the workflow's, as answers ------------------------------------------------


def _endpoint(fn: Handler) -> Handler:
    @functools.wraps(fn)
    async def answer(request: Request) -> Response:
        try:
            return await fn(request)
        except IllegalTransition as exc:
            body = {"code": "illegal_transition", "message": str(exc), "state": exc.state, "allowed": exc.allowed}
            return JSONResponse({"error": body}, status_code=409)
        except Invalid as exc:
            return error_response(422, "invalid", str(exc))
        except Forbidden as exc:
            return error_response(403, "forbidden", str(exc))
        except NotFound as exc:
            return error_response(404, "not_found", str(exc))
        except Conflict as exc:
            return error_response(409, "conflict", str(exc))

    return answer


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _workflow(request: Request) -> WorkflowStore:
    workflow: WorkflowStore = _hub(request).workflow
    return workflow


async def _actor(request: Request) -> Actor:
    _, user = await _identify(request)
    kinds = {u.code: u.kind for u in await _hub(request).live.lookup.units()}
    return Actor(user.id, user.unit, kinds.get(user.unit, ""), user.roles, _client(request))


def _done(request: Request, change: Change[Any]) -> None:
    """After the commit: announce the events; a changed session takes effect on this node's sockets now."""
    hub = _hub(request)
    if change.events:
        hub.live.publisher.announce(change.events)
    if isinstance(change.value, PlanningSession):
        s = change.value
        room = Room(s.id, s.title, s.owner_unit, s.member_units, s.status)
        hub.access.sessions.apply(Changes([], [room], time.time()))


def _json(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(value, status_code=status)


def _answer(request: Request, change: Change[Any], status: int = 200) -> JSONResponse:
    """The changed thing's JSON, once its events are announced (``_done``)."""
    _done(request, change)
    return _json(change.value.to_json(), status)


def _page(page: Page[Any]) -> JSONResponse:
    return _json({"items": [item.to_json() for item in page.items], "next": page.next})


# -- input ------------------------------------------------------------------------------


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object sent; ``{}`` for an action sent without a body."""
    headers = request.headers
    if headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers:
        return {}  # no body at all
    return await _json_object(request)


class Fields:
    """Reads a request body's fields, each checked; ``Invalid`` names the field at fault."""

    def __init__(self, body: dict[str, Any], allowed: Sequence[str]) -> None:
        unknown = sorted(set(body) - set(allowed))
        if unknown:
            raise Invalid(unknown[0], f"not a field here (fields: {', '.join(allowed)})")
        self.body = body

    def has(self, name: str) -> bool:
        return name in self.body

    def text(self, name: str, *, limit: int = MAX_TITLE, required: bool = True) -> str:
        value = self.body.get(name)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
            raise Invalid(name, f"a text of {'1' if required else '0'} to {limit} characters")
        return value.strip()

    def name(self, name: str, what: str = "1-64 of A-Z a-z 0-9 _ -, starting with a letter or digit") -> str | None:
        """An optional id of a session or draft (``rooms.names.valid_name``)."""
        value = self.body.get(name)
        if value is not None and not (isinstance(value, str) and valid_name(value)):
            raise Invalid(name, what)
        return value

    def present(self, readers: dict[str, Callable[[str], Any]]) -> dict[str, Any]:
        """The fields sent of ``readers`` (name → reader), each read and checked: a patch."""
        return {name: read(name) for name, read in readers.items() if self.has(name)}

    def optional_text(self, name: str, *, limit: int = MAX_TITLE) -> str | None:
        return None if self.body.get(name) is None else self.text(name, limit=limit)

    def time(self, name: str, *, required: bool = False) -> float | None:
        value = self.body.get(name)
        if value is None and not required:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= LATEST:
            raise Invalid(name, "a time in Unix seconds")
        return float(value)

    def date(self, name: str) -> str:
        value = self.body.get(name)
        return check_date(name, value if isinstance(value, str) else "")

    def texts(self, name: str, *, limit: int = MAX_TITLE, most: int = MAX_LIST) -> list[str]:
        value = self.body.get(name, [])
        if (
            not isinstance(value, list)
            or len(value) > most
            or not all(isinstance(v, str) and 0 < len(v) <= limit for v in value)
        ):
            raise Invalid(name, f"a list of at most {most} texts of 1 to {limit} characters")
        return list(value)

    def units(self, name: str, *, most: int = 64) -> list[str]:
        value = self.body.get(name, [])
        if not isinstance(value, list) or len(value) > most or not all(_is_unit(v) for v in value):
            raise Invalid(name, f"a list of at most {most} unit codes")
        return list(value)

    def unit(self, name: str) -> str:
        value = self.body.get(name)
        if not _is_unit(value):
            raise Invalid(name, "a unit code such as dgdaily or humen")
        assert isinstance(value, str)
        return value

    def ident(self, name: str) -> int:
        value = self.body.get(name)
        number = _number(value if isinstance(value, str) else str(value) if isinstance(value, int) else "")
        if number is None:
            raise Invalid(name, "an id")
        return number

    def recipient(self, name: str, value: object = None) -> Recipient:
        value = self.body.get(name) if value is None else value
        if isinstance(value, dict) and len(value) == 1:
            ((kind, ident),) = value.items()
            if kind == "unit" and _is_unit(ident):
                return Recipient("unit", ident)
            if kind == "user" and isinstance(ident, str) and valid_user_id(ident):
                return Recipient("user", ident)
        raise Invalid(name, 'a recipient: {"unit": CODE} or {"user": ID}')

    def recipients(self, name: str) -> list[Recipient]:
        value = self.body.get(name)
        if not isinstance(value, list) or not value:
            raise Invalid(name, 'a list of recipients: {"unit": CODE} or {"user": ID}')
        return [self.recipient(name, item) for item in value]


def _is_unit(value: object) -> bool:
    return isinstance(value, str) and valid_unit_code(value)


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS else None


def _path_id(request: Request, name: str) -> int:
    number = _number(request.path_params[name])
    if number is None:
        raise NotFound(f"no such {name}")
    return number


def _path_name(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    if not valid_name(value):
        raise NotFound(f"no such {name}")
    return value


def _moment(name: str, raw: str) -> float:
    """Unix seconds, or the start of a YYYY-MM-DD day in the city's time zone."""
    if "-" in raw:
        day = dt.date.fromisoformat(check_date(name, raw))
        return dt.datetime(day.year, day.month, day.day, tzinfo=CITY_TZ).timestamp()
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= LATEST:
        raise Invalid(name, "Unix seconds or YYYY-MM-DD")
    return value


def _filters(request: Request, machine: Machine | None) -> Filters:
    """``limit``, ``cursor``, ``status``, ``unit``, ``after``, ``before``: 400 ``invalid`` when wrong."""
    query = request.query_params
    try:
        raw_limit = query.get("limit", "50")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 200:
            raise Invalid("limit", "an integer from 1 to 200")
        status: tuple[str, ...] = ()
        if "status" in query:
            if machine is None:
                raise Invalid("status", "this list has no states")
            status = tuple(query["status"].split(","))
            if not set(status) <= set(machine.states):
                raise Invalid("status", f"any of {', '.join(machine.states)}, comma-separated")
        unit = query.get("unit")
        if unit is not None and not valid_unit_code(unit):
            raise Invalid("unit", "a unit code")
        cursor = query.get("cursor")
        if cursor is not None and not 0 < len(cursor) <= 400:
            raise Invalid("cursor", "not a cursor of this list")
        after = _moment("after", query["after"]) if "after" in query else None
        before = _moment("before", query["before"]) if "before" in query else None
    except Invalid as exc:
        raise ApiError(400, "invalid", str(exc)) from None
    return Filters(status, unit, after, before, int(raw_limit), cursor)


def _getter(read: Callable[[Request, Actor], Awaitable[Any]]) -> Handler:
    """A handler answering one thing's JSON, as the caller may see it."""

    @_endpoint
    async def get(request: Request) -> Response:
        return _json((await read(request, await _actor(request))).to_json())

    return get


def _lister(machine: Machine | None, read: Callable[[Request, Actor, Filters], Awaitable[Page[Any]]]) -> Handler:
    """A list's handler: the caller, the query's filters (``machine``: the states of ``status``), a page."""

    @_endpoint
    async def listed(request: Request) -> Response:
        actor = await _actor(request)
        filters = _filters(request, machine)
        try:
            return _page(await read(request, actor, filters))
        except Invalid as exc:  # a cursor that is not one
            raise ApiError(400, "invalid", str(exc)) from None

    return listed


# -- sessions and drafts -------------------------------------------------------------------


list_sessions = _lister(SESSION, lambda request, actor, filters: _workflow(request).sessions(actor, filters))


@_endpoint
async def create_session(request: Request) -> Response:
    actor = await _actor(request)
    f = Fields(await _body(request), ("title", "member_units", "starts_at", "ends_at", "id"))
    session_id = f.name("id")
    change = await _workflow(request).create_session(
        actor,
        title=f.text("title"),
        member_units=f.units("member_units"),
        starts_at=f.time("starts_at"),
        ends_at=f.time("ends_at"),
        session_id=session_id,
    )
    return _answer(request, change, 201)


get_session = _getter(lambda request, actor: _workflow(request).session(actor, _path_name(request, "session")))


@_endpoint
async def patch_session(request: Request) -> Response:
    actor = await _actor(request)
    f = Fields(await _body(request), ("title", "starts_at", "ends_at"))
    patch = f.present({"title": f.text, "starts_at": f.time, "ends_at": f.time})
    change = await _workflow(request).update_session(actor, _path_name(request, "session"), patch)
    return _answer(request, change)


@_endpoint
async def invite(request: Request) -> Response:
    actor = await _actor(request)
    f = Fields(await _body(request), ("units",))
    units = f.units("units")
    if not units:
        raise Invalid("units", "name at least one unit")
    change = await _workflow(request).invite(actor, _path_name(request, "session"), units)
    return _answer(request, change)


@_endpoint
async def remove_member(request: Request) -> Response:
    actor = await _actor(request)
    unit = request.path_params["unit"]
    if not valid_unit_code(unit):
        raise NotFound("no such unit")
    change = await _workflow(request).remove_member(actor, _path_name(request, "session"), unit)
    return _answer(request, change)


def _session_action(action: str) -> Handler:
    @_endpoint
    async def act(request: Request) -> Response:
        actor = await _actor(request)
        f = Fields(await _body(request), ("reason",))
        reason = f.text("reason", limit=MAX_TEXT, required=False)
        session = _path_name(request, "session")
        change = await _workflow(request).session_action(actor, session, action, reason=reason)
        return _answer(request, change)

    return act


list_drafts = _lister(
    None, lambda request, actor, filters: _workflow(request).drafts(actor, _path_name(request, "session"), filters)
)


@_endpoint
async def create_draft(request: Request) -> Response:
    actor = await _actor(request)
    f = Fields(await _body(request), ("title", "lead_unit", "name"))
    name = f.name("name")
    change = await _workflow(request).create_draft(
        actor,
        _path_name(request, "session"),
        title=f.text("title"),
        lead_unit=f.unit("lead_unit") if f.has("lead_unit") else actor.unit,
        name=name,
    )
    return _answer(request, change, 201)


get_draft = _getter(
    lambda request, actor: _workflow(request).draft(actor, _path_name(request, "session"), _path_name(request, "name"))
)


@_endpoint
async def patch_draft(request: Request) -> Response:
    actor = await _actor(request)
    f = Fields(await _body(request), ("title", "lead_unit"))
    patch = f.present({"title": f.text, "lead_unit": f.unit})
    change = await _workflow(request).update_draft(
        actor, _path_name(request, "session"), _path_name(request, "name"), patch
    )
    return _answer(request, change)


# -- topics -----------------------------------------------------------------------------------

TOPIC_FIELDS = ("title", "angle", "proposed_date", "platforms", "links")


def _topic_readers(f: Fields) -> dict[str, Callable[[str], Any]]:
    """How each topic field is read (``TOPIC_FIELDS``), for a submission and a resubmission's edits."""
    return {
        "title": f.text,
        "angle": functools.partial(f.text, limit=MAX_TEXT, required=False),
        "proposed_date": f.date,
        "platforms": functools.partial(f.texts, limit=40, most=20),
        "links": functools.partial(f.texts, limit=2000, most=20),
    }


list_topics = _lister(TOPIC, lambda request, actor, filters: _workflow(request).topics(actor, filters))


@_endpoint
async def submit_topic(request: Request) -> Response:
    actor = await _actor(request)
    f = Fields(await _body(request), TOPIC_FIELDS)
    change = await _workflow(request).submit_topic(
        actor, **{name: read(name) for name, read in _topic_readers(f).items()}
    )
    return _answer(request, change, 201)


get_topic = _getter(lambda request, actor: _workflow(request).topic(actor, _path_id(request, "topic")))


TOPIC_ACTION_FIELDS = {
    "approve": ("reason", "session", "draft_title"),
    "return": ("reason",),
    "merge": ("reason", "into"),
    "reject": ("reason",),
    "resubmit": ("reason", *TOPIC_FIELDS),
    "withdraw": ("reason",),
}


def _topic_action(action: str) -> Handler:
    @_endpoint
    async def act(request: Request) -> Response:
        actor = await _actor(request)
        f = Fields(await _body(request), TOPIC_ACTION_FIELDS[action])
        session = f.name("session", "a planning session id")
        change = await _workflow(request).topic_action(
            actor,
            _path_id(request, "topic"),
            action,
            reason=f.text("reason", limit=MAX_TEXT, required=False),
            session=session,
            draft_title=f.optional_text("draft_title"),
            into=f.ident("into") if f.has("into") else None,
            edits=f.present(_topic_readers(f)) if action == "resubmit" else None,
        )
        return _answer(request, change)

    return act


# -- dispatch ------------------------------------------------------------------------------------


async def _tasks(request: Request, actor: Actor, filters: Filters) -> Page[Any]:
    box = request.query_params.get("box", "inbox")
    if box not in BOXES:
        raise ApiError(400, "invalid", f"box: one of {', '.join(BOXES)}")
    return await _workflow(request).tasks(actor, box, filters)


list_tasks = _lister(TASK, _tasks)


@_endpoint
async def create_task(request: Request) -> Response:
    actor = await _actor(request)
    f = Fields(await _body(request), ("title", "body", "priority", "deadline_at", "recipients", "session"))
    session = f.name("session", "a planning session id")
    priority = f.body.get("priority", "normal")
    deadline = f.time("deadline_at", required=True)
    assert deadline is not None
    change = await _workflow(request).create_task(
        actor,
        title=f.text("title"),
        body=f.text("body", limit=MAX_TEXT, required=False),
        priority=priority if isinstance(priority, str) else "",
        deadline_at=deadline,
        recipients=f.recipients("recipients"),
        session=session,
    )
    return _answer(request, change, 201)


get_task = _getter(lambda request, actor: _workflow(request).task(actor, _path_id(request, "task")))


TASK_ACTION_FIELDS = {"reassign": ("receipt", "to", "reason"), "cancel": ("reason",), "complete": ("reason",)}


def _task_action(action: str) -> Handler:
    @_endpoint
    async def act(request: Request) -> Response:
        actor = await _actor(request)
        f = Fields(await _body(request), TASK_ACTION_FIELDS[action])
        change = await _workflow(request).task_action(
            actor,
            _path_id(request, "task"),
            action,
            reason=f.text("reason", limit=MAX_TEXT, required=False),
            receipt=f.ident("receipt") if f.has("receipt") else None,
            to=f.recipient("to") if f.has("to") else None,
        )
        return _answer(request, change)

    return act


def _receipt_action(action: str) -> Handler:
    @_endpoint
    async def act(request: Request) -> Response:
        actor = await _actor(request)
        f = Fields(await _body(request), ("reason",))
        change = await _workflow(request).receipt_action(
            actor,
            _path_id(request, "task"),
            _path_id(request, "receipt"),
            action,
            reason=f.text("reason", limit=MAX_TEXT, required=False),
        )
        return _answer(request, change)

    return act


# -- duty --------------------------------------------------------------------------------------------


@_endpoint
async def get_duty(request: Request) -> Response:
    await _actor(request)
    workflow = _workflow(request)
    return _json((await workflow.duty(workflow.clock())).to_json())


def _default_anchor(period: str, now: float) -> float:
    """Midnight today (daily) or Monday midnight this week (weekly), in the city's time zone."""
    day = dt.datetime.fromtimestamp(now, CITY_TZ).date()
    if period == "weekly":
        day -= dt.timedelta(days=day.weekday())
    return dt.datetime(day.year, day.month, day.day, tzinfo=CITY_TZ).timestamp()


@_endpoint
async def put_rotation(request: Request) -> Response:
    actor = await _actor(request)
    f = Fields(await _body(request), ("units", "period", "anchor_at"))
    period = f.body.get("period", "weekly")
    if not isinstance(period, str) or period not in PERIODS:
        raise Invalid("period", f"one of {', '.join(PERIODS)}")
    workflow = _workflow(request)
    anchor = f.time("anchor_at")
    change = await workflow.put_rotation(
        actor,
        units=f.units("units"),
        period=period,
        anchor_at=anchor if anchor is not None else _default_anchor(period, workflow.clock()),
    )
    return _answer(request, change)


def workflow_routes() -> list[Route]:
    routes = [
        Route("/api/sessions", list_sessions, methods=["GET"]),
        Route("/api/sessions", create_session, methods=["POST"]),
        Route("/api/sessions/{session}", get_session, methods=["GET"]),
        Route("/api/sessions/{session}", patch_session, methods=["PATCH"]),
        Route("/api/sessions/{session}/members", invite, methods=["POST"]),
        Route("/api/sessions/{session}/members/{unit}", remove_member, methods=["DELETE"]),
        *(Route(f"/api/sessions/{{session}}/{a}", _session_action(a), methods=["POST"]) for a in SESSION.actions),
        Route("/api/sessions/{session}/drafts", list_drafts, methods=["GET"]),
        Route("/api/sessions/{session}/drafts", create_draft, methods=["POST"]),
        Route("/api/sessions/{session}/drafts/{name}", get_draft, methods=["GET"]),
        Route("/api/sessions/{session}/drafts/{name}", patch_draft, methods=["PATCH"]),
        Route("/api/topics", list_topics, methods=["GET"]),
        Route("/api/topics", submit_topic, methods=["POST"]),
        Route("/api/topics/{topic}", get_topic, methods=["GET"]),
        *(Route(f"/api/topics/{{topic}}/{a}", _topic_action(a), methods=["POST"]) for a in TOPIC.actions),
        Route("/api/tasks", list_tasks, methods=["GET"]),
        Route("/api/tasks", create_task, methods=["POST"]),
        Route("/api/tasks/{task}", get_task, methods=["GET"]),
        *(Route(f"/api/tasks/{{task}}/{a}", _task_action(a), methods=["POST"]) for a in TASK.actions),
        *(
            Route(f"/api/tasks/{{task}}/receipts/{{receipt}}/{a}", _receipt_action(a), methods=["POST"])
            for a in RECEIPT.actions
            if a != "reassign"
        ),
        Route("/api/duty", get_duty, methods=["GET"]),
        Route("/api/duty/rotation", put_rotation, methods=["PUT"]),
    ]
    return routes
