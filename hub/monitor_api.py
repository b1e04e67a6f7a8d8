"""The HTTP API of the opinion monitor (舆情监测): sources, rules, alerts.

Routes (JSON; ``Authorization: Bearer TOKEN``; errors ``{"error": {"code",
"message"}}``; lists ``?limit=&cursor=`` answer ``{"items", "next"}``):

- ``GET|POST /api/monitor/sources``, ``GET|PATCH|DELETE /api/monitor/sources/{id}``.
  A source is ``{"url", "name"?, "interval"?, "timeout"?, "enabled"?}``; its
  JSON adds its health (``health``, ``last_success_at``, ``last_error``,
  ``failures``, ``next_fetch_at``…).
- ``GET|POST /api/monitor/rules``, ``GET|PATCH|DELETE /api/monitor/rules/{id}``.
  A rule is ``{"name", "any"?, "all"?, "none"?, "regions"? {keyword: unit},
  "use_unit_names"?, "severity"?, "enabled"?}``.
- ``GET /api/alerts?status=&unit=&severity=&after=&before=``,
  ``GET /api/alerts/{id}``, ``POST /api/alerts/{id}/{action}`` with action
  ``acknowledge``, ``assign``, ``resolve`` or ``dismiss``, and an optional
  ``"reason"``. A transition the alert's state does not allow is 409
  ``illegal_transition`` with its ``state`` and the ``allowed`` actions.

``assign`` names a topic (报题) or a dispatch task (派单) of the workflow,
``{"topic": ID}`` or ``{"task": ID}`` (one the caller may see), or creates
one from the alert with the caller's rights: ``{"create": "topic"}`` (the
caller's unit reports the alert's title, summary and link for today) or
``{"create": "task", "deadline_at"?}`` (a task to the alert's unit, due in
two hours by default, its priority from the severity). The workflow's
refusals answer as its API does (403, 404, 422).

Who may do what: monitors, commanders and chief editors manage sources and
rules. Commanders, monitors, chief editors and duty editors see every alert;
everyone else the alerts of their unit (routed or escalated to it). Monitors,
commanders (who dispatch tasks from alerts) and the editing users of the
alert's unit (or of the unit it was escalated to) act on it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.api import ApiError, _client, _identify, _json_object, error_response
from hub.auth import Identity, may_edit
from rooms.channels import CITY_ALERT_ROLES
from rooms.directory import Role, valid_unit_code
from rooms.monitor import (
    SEVERITIES,
    STATUSES,
    TRANSITIONS,
    Actor,
    Alert,
    AlertQuery,
    IllegalTransition,
    MonitorStore,
    Rule,
    Source,
    alert_json,
    new_id,
)
from rooms.workflow import CITY_TZ, Forbidden, Invalid, NotFound
from rooms.workflow import Actor as WorkflowActor
from rooms.workflow_store import Recipient
from workers.monitor.guard import literal_address, refusal
from workers.monitor.text import normalise

if TYPE_CHECKING:
    from hub.state import Hub

__all__ = ["monitor_routes"]

T = TypeVar("T")

MANAGE_ROLES = frozenset({Role.MONITOR, Role.COMMANDER, Role.CHIEF_EDITOR})
ACT_ROLES = frozenset({Role.MONITOR, Role.COMMANDER})  # on any alert
ACTIONS = frozenset(a for moves in TRANSITIONS.values() for a in moves)
MAX_TERMS = 100
MAX_TERM = 50
MAX_REGIONS = 200
MAX_REASON = 2000
CHINA = timezone(timedelta(hours=8))
TASK_PRIORITY = {"low": "normal", "medium": "high", "high": "urgent"}
TASK_DUE = 2 * 3600.0


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _actor(request: Request, who: Identity) -> Actor:
    client = request.client.host if request.client is not None else None
    return Actor(who.sub, who.unit, client, _hub(request).settings.node_id)


async def _manager(request: Request) -> Identity:
    who, _ = await _identify(request)
    if who.roles.isdisjoint(MANAGE_ROLES):
        raise ApiError(403, "forbidden", "sources and rules are for monitors, commanders and chief editors")
    return who


def bad_query(message: str) -> ApiError:
    """A query parameter is wrong: 400, as across the API."""
    return ApiError(400, "invalid", message)


def bad_field(message: str) -> ApiError:
    """A field of the body is wrong (the message starts with its name): 422, as across the API."""
    return ApiError(422, "invalid", message)


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 200:
        raise bad_query("limit: an integer from 1 to 200")
    return int(raw)


def _page(items: list[Any], limit: int, cursor: str) -> JSONResponse:
    return JSONResponse({"items": items, "next": cursor if len(items) == limit else None})


def _only(body: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(body) - known)
    if unknown:
        raise bad_field(f"{unknown[0]}: not a field here; fields: {', '.join(sorted(known))}")


def _number(body: dict[str, Any], name: str, low: float, high: float, default: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise bad_field(f"{name}: a number of seconds from {low:g} to {high:g}")
    return float(value)


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise bad_field(f"{name}: true or false")
    return value


def _string(body: dict[str, Any], name: str, limit: int, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise bad_field(f"{name}: a non-empty string of at most {limit} characters")
    return value.strip()


# -- sources ------------------------------------------------------------------------------

SOURCE_FIELDS = {"url", "name", "interval", "timeout", "enabled"}


def _url(body: dict[str, Any], allow_private: bool) -> str:
    """The feed URL; one naming an internal IP address is refused (422) unless such fetches are allowed.

    Host names are checked when the monitor connects (``workers.monitor.guard``).
    """
    url = _string(body, "url", 2000)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_field("url: an http:// or https:// URL with a host")
    address = literal_address(parts.hostname)
    reason = refusal(address) if address is not None and not allow_private else None
    if reason is not None:
        raise bad_field(f"url: {reason}; the monitor fetches from public addresses only")
    return url


def _source_fields(request: Request, body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    _only(body, SOURCE_FIELDS)
    out: dict[str, Any] = {}
    if "url" in body or not partial:
        out["url"] = _url(body, _hub(request).settings.monitor_allow_private)
    if "name" in body or not partial:
        out["name"] = _string(body, "name", 200, urlsplit(out.get("url", "")).hostname or "")
    if "interval" in body or not partial:
        out["interval"] = _number(body, "interval", 1, 86400, 300)
    if "timeout" in body or not partial:
        out["timeout"] = _number(body, "timeout", 0.5, 60, 10)
    if "enabled" in body or not partial:
        out["enabled"] = _flag(body, "enabled", True)
    return out


async def _list(request: Request, read: Callable[[MonitorStore, str | None, int], Awaitable[list[Any]]]) -> Response:
    """A page of sources or rules (ordered by id; the cursor is the last id)."""
    await _manager(request)
    limit = _limit(request)
    found = await read(_hub(request).monitor, request.query_params.get("cursor"), limit)
    return _page([x.json() for x in found], limit, found[-1].id if found else "")


def _found(kind: str, found: T | None) -> T:
    if found is None:
        raise ApiError(404, "not_found", f"no such {kind}")
    return found


async def _delete(
    request: Request, kind: str, delete: Callable[[MonitorStore], Callable[[str, Actor, float], Awaitable[bool]]]
) -> Response:
    who = await _manager(request)
    if not await delete(_hub(request).monitor)(request.path_params["id"], _actor(request, who), time.time()):
        raise ApiError(404, "not_found", f"no such {kind}")
    return Response(status_code=204)


async def list_sources(request: Request) -> Response:
    return await _list(request, lambda m, after, limit: m.sources(after=after, limit=limit))


async def create_source(request: Request) -> Response:
    who = await _manager(request)
    fields = _source_fields(request, await _json_object(request), partial=False)
    now = time.time()
    source = Source(new_id("src"), created_by=who.sub, created_at=now, updated_at=now, **fields)
    created = await _hub(request).monitor.create_source(source, _actor(request, who))
    return JSONResponse(created.json(), status_code=201)


async def get_source(request: Request) -> Response:
    await _manager(request)
    return JSONResponse(_found("source", await _hub(request).monitor.source(request.path_params["id"])).json())


async def patch_source(request: Request) -> Response:
    who = await _manager(request)
    fields = _source_fields(request, await _json_object(request), partial=True)
    if not fields:
        raise bad_field(f"send at least one of {', '.join(sorted(SOURCE_FIELDS))}")
    updated = await _hub(request).monitor.update_source(
        request.path_params["id"], fields, _actor(request, who), time.time()
    )
    return JSONResponse(_found("source", updated).json())


async def delete_source(request: Request) -> Response:
    return await _delete(request, "source", lambda m: m.delete_source)


# -- rules --------------------------------------------------------------------------------

RULE_FIELDS = {"name", "any", "all", "none", "regions", "use_unit_names", "severity", "enabled"}


def _terms(body: dict[str, Any], name: str) -> tuple[str, ...]:
    value = body.get(name, [])
    if (
        not isinstance(value, list)
        or len(value) > MAX_TERMS
        or not all(isinstance(t, str) and 0 < len(t.strip()) <= MAX_TERM and normalise(t) for t in value)
    ):
        raise bad_field(
            f"{name}: a list of at most {MAX_TERMS} keywords of 1-{MAX_TERM} characters (letters or digits)"
        )
    return tuple(dict.fromkeys(t.strip() for t in value))


async def _regions(request: Request, body: dict[str, Any]) -> dict[str, str]:
    value = body.get("regions", {})
    if not isinstance(value, dict) or len(value) > MAX_REGIONS:
        raise bad_field(f"regions: an object of at most {MAX_REGIONS} place keywords, each naming a unit code")
    units = {u.code for u in await _hub(request).access.directory.units()}
    for keyword, unit in value.items():
        if not 0 < len(keyword.strip()) <= MAX_TERM or not normalise(keyword):
            raise bad_field(f"regions: place keyword {keyword[:60]!r} must have 1-{MAX_TERM} characters")
        if not isinstance(unit, str) or not valid_unit_code(unit) or unit not in units:
            raise bad_field(f"regions: {keyword!r} names no known unit")
    return {k.strip(): v for k, v in value.items()}


async def _rule(request: Request, body: dict[str, Any], base: Rule) -> Rule:
    _only(body, RULE_FIELDS)
    merged = base.json() | body
    severity = merged["severity"]
    if severity not in SEVERITIES:
        raise bad_field(f"severity: one of {', '.join(SEVERITIES)}")
    rule = Rule(
        id=base.id,
        name=_string(merged, "name", 100),
        any_terms=_terms(merged, "any"),
        all_terms=_terms(merged, "all"),
        none_terms=_terms(merged, "none"),
        regions=await _regions(request, merged),
        use_unit_names=_flag(merged, "use_unit_names", True),
        severity=severity,
        enabled=_flag(merged, "enabled", True),
        created_by=base.created_by,
        created_at=base.created_at,
        updated_at=time.time(),
    )
    if not rule.any_terms and not rule.all_terms:
        raise bad_field("any, all: a rule needs at least one keyword in any or all")
    return rule


async def list_rules(request: Request) -> Response:
    return await _list(request, lambda m, after, limit: m.rules(after=after, limit=limit))


async def create_rule(request: Request) -> Response:
    who = await _manager(request)
    body = await _json_object(request)
    now = time.time()
    rule = await _rule(request, body, Rule(new_id("rule"), "", created_by=who.sub, created_at=now))
    created = await _hub(request).monitor.create_rule(rule, _actor(request, who))
    return JSONResponse(created.json(), status_code=201)


async def _rule_or_404(request: Request) -> Rule:
    return _found("rule", await _hub(request).monitor.rule(request.path_params["id"]))


async def get_rule(request: Request) -> Response:
    await _manager(request)
    return JSONResponse((await _rule_or_404(request)).json())


async def patch_rule(request: Request) -> Response:
    who = await _manager(request)
    body = await _json_object(request)
    rule = await _rule(request, body, await _rule_or_404(request))
    updated = await _hub(request).monitor.update_rule(rule, _actor(request, who))
    return JSONResponse(_found("rule", updated).json())


async def delete_rule(request: Request) -> Response:
    return await _delete(request, "rule", lambda m: m.delete_rule)


# -- alerts -------------------------------------------------------------------------------


def sees_all(who: Identity) -> bool:
    return not who.roles.isdisjoint(CITY_ALERT_ROLES)


def _sees(who: Identity, alert: Alert) -> bool:
    return sees_all(who) or who.unit in (alert.unit, alert.escalated_to)


def may_act(who: Identity, alert: Alert) -> bool:
    """Monitors, commanders, and the editing users of the unit the alert is routed or escalated to."""
    if not who.roles.isdisjoint(ACT_ROLES):
        return True
    return who.unit in (alert.unit, alert.escalated_to) and may_edit(who.roles)


def _time(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise bad_query(f"{name}: Unix seconds or YYYY-MM-DD") from None
    return datetime(day.year, day.month, day.day, tzinfo=CHINA).timestamp()


def _choice(request: Request, name: str, choices: tuple[str, ...]) -> str | None:
    raw = request.query_params.get(name)
    if raw is not None and raw not in choices:
        raise bad_query(f"{name}: one of {', '.join(choices)}")
    return raw


async def list_alerts(request: Request) -> Response:
    who, _ = await _identify(request)
    unit = request.query_params.get("unit")
    if unit is not None and not valid_unit_code(unit):
        raise bad_query("unit: a unit code such as humen")
    if not sees_all(who):
        if unit not in (None, who.unit):
            raise ApiError(403, "forbidden", "you may see the alerts of your own unit only")
        unit = who.unit
    cursor = request.query_params.get("cursor")
    if cursor is not None and not cursor.isdigit():
        raise bad_query("cursor: the next value of a previous page")
    limit = _limit(request)
    query = AlertQuery(
        status=_choice(request, "status", STATUSES),
        unit=unit,
        severity=_choice(request, "severity", SEVERITIES),
        after=_time(request, "after"),
        before=_time(request, "before"),
        below_seq=int(cursor) if cursor is not None else None,
        limit=limit,
    )
    found = await _hub(request).monitor.alerts(query)
    return _page([alert_json(a) for a in found], limit, str(found[-1].seq) if found else "")


async def _visible_alert(request: Request, who: Identity) -> Alert:
    alert = await _hub(request).monitor.alert(request.path_params["id"])
    if alert is None or not _sees(who, alert):
        raise ApiError(404, "not_found", "no such alert, or it is not your unit's")
    return alert


async def get_alert(request: Request) -> Response:
    who, _ = await _identify(request)
    return JSONResponse(alert_json(await _visible_alert(request, who)))


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object sent, or an empty one when nothing was sent."""
    if not request.headers.get("content-type") and request.headers.get("content-length", "0") == "0":
        return {}
    return await _json_object(request)


async def _assignment(request: Request, alert: Alert, body: dict[str, Any]) -> dict[str, str]:
    """The topic or task an alert is assigned to: named and checked, or created now in the workflow."""
    _only(body, {"reason", "topic", "task", "create", "deadline_at"})
    named = [k for k in ("topic", "task", "create") if k in body]
    if len(named) != 1:
        raise bad_field("topic, task, create: assign names one topic or one task, or creates one")
    kind = named[0]
    if kind != "create":
        _only(body, {"reason", kind})
        ref = body[kind]
        if not isinstance(ref, str) or not ref.isdigit() or len(ref) > 18:
            raise bad_field(f"{kind}: the id of a {kind}, in digits")
    hub = _hub(request)
    _, user = await _identify(request)
    kinds = {u.code: u.kind for u in await hub.live.lookup.units()}
    actor = WorkflowActor(user.id, user.unit, kinds.get(user.unit, ""), user.roles, _client(request))
    if kind == "topic":
        await hub.workflow.topic(actor, int(ref))  # NotFound unless the caller may see it
        return {"topic": ref}
    if kind == "task":
        await hub.workflow.task(actor, int(ref))
        return {"task": ref}
    if body["create"] == "topic":
        today = datetime.now(CITY_TZ).date().isoformat()
        change: Any = await hub.workflow.submit_topic(
            actor, title=alert.title[:200], angle=(alert.summary or alert.title)[:4000], proposed_date=today,
            platforms=[], links=[alert.url],
        )  # fmt: skip
        made = {"topic": str(change.value.id)}
    elif body["create"] == "task":
        unit = alert.escalated_to or alert.unit
        if unit is None:
            raise bad_field("create: this alert has no unit to send a task to")
        deadline = _number(body, "deadline_at", time.time(), 1e11, time.time() + TASK_DUE)
        change = await hub.workflow.create_task(
            actor, title=f"舆情：{alert.title}"[:200], body=f"{alert.summary}\n{alert.url}"[:4000],
            priority=TASK_PRIORITY[alert.severity], deadline_at=deadline, recipients=[Recipient("unit", unit)],
        )  # fmt: skip
        made = {"task": str(change.value.id)}
    else:
        raise bad_field("create: topic or task")
    hub.live.publisher.announce(change.events)
    return made


async def act(request: Request) -> Response:
    who, _ = await _identify(request)
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise ApiError(404, "not_found", f"alert actions: {', '.join(sorted(ACTIONS))}")
    alert = await _visible_alert(request, who)
    if not may_act(who, alert):
        raise ApiError(403, "forbidden", "monitors, commanders and the editors of the alert's unit act on it")
    body = await _body(request)
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise bad_field(f"reason: a string of at most {MAX_REASON} characters")
    hub = _hub(request)
    try:
        if action not in TRANSITIONS[alert.status]:  # before anything is created for an assign
            raise IllegalTransition(alert.status, action)
        if action == "assign":
            refs = await _assignment(request, alert, body)
        else:
            _only(body, {"reason"})
            refs = {}
        done = await hub.monitor.transition(
            alert.id, action, _actor(request, who), time.time(), reason=reason, refs=refs
        )
    except IllegalTransition as refused:
        error = {"code": "illegal_transition", "message": str(refused), "state": refused.state}
        return JSONResponse({"error": error | {"allowed": refused.allowed}}, status_code=409)
    except Invalid as exc:
        return error_response(422, "invalid", str(exc))
    except Forbidden as exc:
        return error_response(403, "forbidden", str(exc))
    except NotFound as exc:
        raise bad_field(f"{'topic' if 'topic' in body else 'task'}: {exc}") from None
    if done is None:
        raise ApiError(404, "not_found", "no such alert")
    updated, events = done
    hub.live.publisher.announce(events)
    return JSONResponse(alert_json(updated))


def monitor_routes() -> list[Route]:
    return [
        Route("/api/monitor/sources", list_sources, methods=["GET"]),
        Route("/api/monitor/sources", create_source, methods=["POST"]),
        Route("/api/monitor/sources/{id}", get_source, methods=["GET"]),
        Route("/api/monitor/sources/{id}", patch_source, methods=["PATCH"]),
        Route("/api/monitor/sources/{id}", delete_source, methods=["DELETE"]),
        Route("/api/monitor/rules", list_rules, methods=["GET"]),
        Route("/api/monitor/rules", create_rule, methods=["POST"]),
        Route("/api/monitor/rules/{id}", get_rule, methods=["GET"]),
        Route("/api/monitor/rules/{id}", patch_rule, methods=["PATCH"]),
        Route("/api/monitor/rules/{id}", delete_rule, methods=["DELETE"]),
        Route("/api/alerts", list_alerts, methods=["GET"]),
        Route("/api/alerts/{id}", get_alert, methods=["GET"]),
        Route("/api/alerts/{id}/{action}", act, methods=["POST"]),
    ]
