"""The event catalogue (``schema/events.schema.json``) and the code agree, both ways, and it checks what it says.

Which types the code publishes is read from the source itself: every string
literal of a system namespace in ``rooms/``, ``hub/`` and ``workers/``, and
every f-string such as ``f"topic.{PAST_TENSE[action]}"`` expanded with the
values of the table it indexes. An f-string of a system namespace built any
other way fails the test, so no published type escapes the scan; at run time
the publishing paths refuse a type the catalogue lacks (``schema.events.require``).
The data of real events is checked by the ``/live`` test client
(``tests.live.helpers.LiveWS``) in every test that receives them.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import rooms.review as review
import rooms.workflow_sessions
import rooms.workflow_tasks
import rooms.workflow_topics
from rooms.events import Publication
from rooms.monitor import EVENT_OF, TRANSITIONS, Alert, alert_publications, escalation_channels
from rooms.sql import Queued
from rooms.store import DraftKey
from rooms.workflow import SESSION, TASK, TOPIC
from schema import events
from schema.events import CATALOGUE, EVENT_TYPES, NAMESPACES, InvalidEvent, UnknownEvent

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_TYPE = re.compile(r"([a-z]+)\.[a-z_]+")
EVENT_DOCS = ("WORKFLOW", "REVIEW", "MONITOR")
OPENAPI = json.loads((ROOT / "schema" / "openapi.json").read_text(encoding="utf-8"))


def published_by_the_code() -> dict[str, list[str]]:
    """Every system event type named in the hub's code → where."""
    found: dict[str, list[str]] = {}
    unresolved = []
    for path in sorted(p for top in ("rooms", "hub", "workers") for p in (ROOT / top).rglob("*.py")):
        where = str(path.relative_to(ROOT))
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = SYSTEM_TYPE.fullmatch(node.value)
                if match and match.group(1) in NAMESPACES:
                    found.setdefault(node.value, []).append(f"{where}:{node.lineno}")
            elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
                head = str(node.values[0].value)
                if not (re.fullmatch(r"[a-z]+\.", head) and head[:-1] in NAMESPACES):
                    continue
                tail = node.values[1:]
                if (
                    len(tail) == 1
                    and isinstance(tail[0], ast.FormattedValue)
                    and isinstance(tail[0].value, ast.Subscript)
                    and isinstance(tail[0].value.value, ast.Name)
                ):
                    table = getattr(importlib.import_module(module), tail[0].value.value.id)
                    for value in table.values():
                        found.setdefault(head + value, []).append(f"{where}:{node.lineno}")
                else:
                    unresolved.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
    assert not unresolved, f"event types built in a way this scan cannot read (use a literal or a table): {unresolved}"
    return found


def test_the_code_publishes_exactly_the_catalogued_types() -> None:
    found = published_by_the_code()
    unknown = {t: found[t] for t in sorted(set(found) - EVENT_TYPES)}
    assert not unknown, f"published but not in schema/events.schema.json: {unknown}"
    assert not EVENT_TYPES - set(found), f"catalogued but never published: {sorted(EVENT_TYPES - set(found))}"


def test_every_state_machine_action_has_its_event() -> None:
    """The tables the f-strings read name every action of their machine, so no action goes unannounced."""
    assert set(rooms.workflow_sessions.PAST_TENSE) == set(SESSION.actions)
    assert set(rooms.workflow_topics.PAST_TENSE) == {"submit", *TOPIC.actions}
    assert set(rooms.workflow_tasks.PAST_TENSE) == set(TASK.actions)
    receipt_actions = CATALOGUE["$defs"]["receipt.updated"]["properties"]["action"]["enum"]
    assert receipt_actions == list(rooms.workflow_tasks.RECEIPT_ACTIONS)
    assert {action for _, action in review.TRANSITIONS} == set(review.Action)
    assert set(EVENT_OF) == {action for moves in TRANSITIONS.values() for action in moves}


def test_the_catalogue_is_a_well_formed_schema() -> None:
    Draft202012Validator.check_schema(CATALOGUE)
    assert {t.partition(".")[0] for t in EVENT_TYPES} == NAMESPACES
    for name, definition in CATALOGUE["$defs"].items():
        is_event = "x-channels" in definition
        assert is_event == bool(SYSTEM_TYPE.fullmatch(name)), f"{name}: event types, and only they, have a dot"
        if is_event:
            assert isinstance(definition["description"], str) and "\n" not in definition["description"], name
            assert definition["x-channels"], name
            assert definition["unevaluatedProperties"] is False, f"{name}: every key of the data is defined"
    for ref in references(CATALOGUE):
        document, _, pointer = ref.partition("#")
        target: Any = {"": CATALOGUE, "openapi.json": OPENAPI}[document]
        for part in pointer.strip("/").split("/"):
            assert isinstance(target, dict) and part in target, f"{ref} does not resolve"
            target = target[part]


def references(node: Any) -> list[str]:
    """Every ``$ref`` under ``node``."""
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in references(value)]
    if isinstance(node, list):
        return [r for value in node for r in references(value)]
    return []


def test_the_alert_of_events_is_the_alert_of_the_api_without_its_history() -> None:
    api, mirrored = OPENAPI["components"]["schemas"]["Alert"], CATALOGUE["$defs"]["Alert"]
    assert mirrored["properties"] == {k: v for k, v in api["properties"].items() if k != "history"}
    assert set(api["required"]) - {"history"} <= set(mirrored["required"])


def test_validate_names_what_does_not_fit() -> None:
    duty = {"duty": {"current": None, "next": None, "rotation": None}, "actor": "dgdaily-chief"}
    events.validate("duty.rotation", duty, channel="city")
    cases = [
        ({"duty": duty["duty"]}, "'actor' is a required property"),
        ({**duty, "actor": 7}, "at actor: 7 is not of type 'string'"),
        ({**duty, "colour": "red"}, "'colour' was unexpected"),
        ({**duty, "duty": {"current": None, "next": None}}, "at duty: 'rotation' is a required property"),
    ]
    for data, message in cases:
        with pytest.raises(InvalidEvent, match=re.escape(message)):
            events.validate("duty.rotation", data)
    with pytest.raises(InvalidEvent, match="does not go to unit:humen"):
        events.validate("duty.rotation", duty, channel="unit:humen")
    with pytest.raises(UnknownEvent, match=re.escape("'duty.roster' is not a system event type")):
        events.validate("duty.roster", duty)
    assert events.is_system("duty.roster") and not events.is_system("scenario.mark")


def test_the_workflow_stores_refuse_an_uncatalogued_system_event() -> None:
    queued = Queued()
    with pytest.raises(UnknownEvent):
        queued.publish([Publication.of(["duty"], "duty.roster", {})])
    assert queued.publications == []
    Publication.of(["duty"], "duty.roster", {})  # what trusted services publish is theirs to name


def test_every_review_step_publishes_what_the_catalogue_says() -> None:
    key = DraftKey("haizhan", "d-1")
    for (status, action), target in review.TRANSITIONS.items():
        reopen = action is review.Action.REOPEN
        step = review.Step(key, action, status, 3, target, None, 1.7e9, None if reopen else "dgdaily-review1")
        draft = review.DraftReview(key, "虎门海战博物馆重新开放", "humen", status, 3, False, 1.7e9)
        pin = None if target in (review.Status.EDITING, review.Status.REJECTED) else 4
        for publication in review.publications(step, draft, pin):
            for channel in publication.channels:
                events.validate(publication.type, json.loads(publication.data), channel=channel)


def test_every_alert_event_is_what_the_catalogue_says() -> None:
    alert = Alert(
        "长安隧道山体塌方", "交通管制", "https://news.example/1", "dg-news", ("塌方",), ("塌方",), "high", "changan",
        "region", "new", None, None, 1.7e9, 1.7e9, 1.7e9, None, None, (), id="al-1", seq=1,
    )  # fmt: skip
    escalated = dataclasses.replace(alert, escalated_at=1.7e9 + 600, escalated_to="dgdaily")
    by_jobs = escalation_channels("dgdaily")
    cases = [(alert, "alert.new", None, []), (escalated, "alert.escalated", None, by_jobs)]
    for moves in TRANSITIONS.values():
        for action, status in moves.items():
            after = dataclasses.replace(escalated, status=status, topic="7" if action == "assign" else None)
            cases.append((after, EVENT_OF[action], "humen-editor", by_jobs))
    for subject, type_, actor, extra in cases:
        for publication in alert_publications(subject, type_, actor=actor, extra=extra):
            data = json.loads(publication.data)
            assert data["actor"] == actor and "history" not in data
            for channel in publication.channels:
                events.validate(publication.type, data, channel=channel)
    # Who acted is required: a person for people's actions, nobody for the jobs'; nothing else is added.
    dismissed = dataclasses.replace(alert, status="dismissed")
    acted = json.loads(alert_publications(dismissed, "alert.dismissed", actor="humen-editor")[0].data)
    new = json.loads(alert_publications(alert, "alert.new", actor=None)[0].data)
    refused = [
        ("alert.dismissed", {k: v for k, v in acted.items() if k != "actor"}, "'actor' is a required property"),
        ("alert.dismissed", {**acted, "actor": None}, "at actor: None is not of type 'string'"),
        ("alert.new", {**new, "actor": "humen-editor"}, "at actor: 'humen-editor' is not of type 'null'"),
        ("alert.new", {**new, "history": []}, "'history' was unexpected"),
    ]
    for type_, data, message in refused:
        with pytest.raises(InvalidEvent, match=re.escape(message)):
            events.validate(type_, data)


def test_the_docs_name_the_catalogued_types_and_no_others() -> None:
    named: set[str] = set()
    for doc in EVENT_DOCS:
        text = (ROOT / "docs" / f"{doc}.md").read_text(encoding="utf-8")
        in_doc = {t for t in re.findall(r"`([a-z]+\.[a-z_]+)`", text) if t.partition(".")[0] in NAMESPACES}
        assert in_doc <= EVENT_TYPES, f"docs/{doc}.md names events the catalogue lacks: {sorted(in_doc - EVENT_TYPES)}"
        named |= in_doc
    assert named == EVENT_TYPES, f"no event table names {sorted(EVENT_TYPES - named)}"
    assert "schema/events.schema.json" in (ROOT / "docs" / "LIVE.md").read_text(encoding="utf-8")


def test_the_web_client_listens_only_for_catalogued_types() -> None:
    named = {
        t
        for path in (ROOT / "clients" / "web" / "src").glob("*.ts")
        for t in re.findall(r"""['"]([a-z]+\.[a-z_]+)['"]""", path.read_text(encoding="utf-8"))
        if t.partition(".")[0] in NAMESPACES
    }
    assert named, "the web client names system events"
    assert named <= EVENT_TYPES, f"clients/web/src names events the catalogue lacks: {sorted(named - EVENT_TYPES)}"
