"""Every review transition and refusal over HTTP, on both backends, table-driven.

Each case takes a fresh draft to a state (``helpers.WALK``) and tries one
action as one user. A legal step answers the new state and stores, in the
same transaction, its live events on ``room:{session}`` and
``unit:{lead unit}`` and its audit row; an illegal one answers 409
``illegal_transition`` with the state and the actions it allows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rooms.review import TRANSITIONS, Action, Status, allowed
from tests.live.helpers import InProcessNode, hub_in_process
from tests.review.helpers import AUTHOR, CHIEF, REVIEWERS, WALK, Desk, backend, desk_for

pytestmark = pytest.mark.timeout(120)

# Who takes each action in each state when it is legal (so no case fails on the role).
LEVEL = {"editing": 0, "submitted": 1, "level_2": 2, "level_3": 3, "approved": 3, "published": 0, "rejected": 0}
EVENT = {
    "submit": "review.submitted",
    "pin": "review.pinned",
    "pass": "review.passed",
    "return": "review.returned",
    "reject": "review.rejected",
    "publish": "draft.published",
}
ACTIONS = ("submit", "pin", "pass", "return", "reject", "publish")


def actor_for(state: str, action: str) -> str:
    if action == "submit":
        return AUTHOR
    if action == "publish":
        return CHIEF
    if action == "pin" and state != "approved":
        return AUTHOR
    return REVIEWERS[max(1, LEVEL[state])]


def request_for(action: str) -> tuple[str, dict[str, Any]]:
    if action in ("pass", "return", "reject"):
        return "review", {"decision": action, "comment": f"{action}: 意见"}
    return action, {}


# (state, action, user, HTTP status, error code): refusals by role, visibility and input.
REFUSALS = [
    ("submitted", "pass", AUTHOR, 403, "forbidden"),
    ("submitted", "pass", REVIEWERS[2], 403, "forbidden"),
    ("submitted", "pass", CHIEF, 403, "forbidden"),
    ("level_2", "pass", REVIEWERS[1], 403, "forbidden"),
    ("level_2", "return", REVIEWERS[3], 403, "forbidden"),
    ("level_3", "reject", REVIEWERS[2], 403, "forbidden"),
    ("approved", "publish", REVIEWERS[3], 403, "forbidden"),
    ("approved", "pin", AUTHOR, 403, "forbidden"),
    ("editing", "submit", "humen-viewer", 403, "forbidden"),
    ("editing", "submit", "dgrtv-editor", 403, "forbidden"),  # a member unit, neither lead nor owner
    ("editing", "submit", "wanjiang-editor", 404, "not_found"),  # not a unit of the session
    ("submitted", "pass", "dgrtv-review2", 403, "forbidden"),
]


async def events_of(node: InProcessNode, channel: str) -> list[tuple[str, dict[str, Any]]]:
    import orjson

    history = await node.hub.live.store.read(channel, 0, 10_000)
    return [(e.type, orjson.loads(e.data)) for e in history.events]


async def check_legal(node: InProcessNode, desk: Desk, state: str, action: str) -> list[str]:
    path = await desk.new_draft()
    await desk.walk(path, state)
    tail, body = request_for(action)
    user = actor_for(state, action)
    response = await desk.step(path, user, tail, body)
    target = TRANSITIONS[(Status(state), Action(action))].value
    if response.status_code != 200:
        return [f"{state} --{action}--> {target} as {user}: {response.status_code} {response.text}"]
    answer = response.json()
    problems = []
    if answer["review"]["status"] != target:
        problems.append(f"{state} --{action}--> answered {answer['review']['status']}, not {target}")
    expected = "review.approved" if (action, target) == ("pass", "approved") else EVENT[action]
    session, name = path.split("/")
    for channel in (f"room:{session}", "unit:humen"):
        mine = [(t, d) for t, d in await events_of(node, channel) if d.get("draft") == name]
        if not mine or mine[-1][0] != expected or mine[-1][1]["status"] != target or mine[-1][1]["actor"] != user:
            problems.append(f"{state} --{action}-->: {channel} holds {mine[-1:] or 'nothing'}, not {expected}")
    audit = await node.hub.access.directory.audit_trail(action="publish" if action == "publish" else "review")
    rows = [r.event for r in audit if r.event.target == path and r.event.detail.get("action") == action]
    if not rows or rows[-1].actor != user or rows[-1].detail["to"] != target:
        problems.append(f"{state} --{action}-->: no audit row by {user}")
    if action in ("submit", "pin", "pass", "publish") and answer["version"] is None:
        problems.append(f"{state} --{action}-->: no version pinned")
    return problems


async def check_illegal(desk: Desk, state: str, action: str) -> list[str]:
    path = await desk.new_draft()
    await desk.walk(path, state)
    tail, body = request_for(action)
    response = await desk.step(path, actor_for(state, action), tail, body)
    error = response.json().get("error", {}) if response.status_code == 409 else {}
    want = allowed(Status(state))
    if (error.get("code"), error.get("state"), error.get("allowed")) != ("illegal_transition", state, want):
        return [f"{state} --{action}--> should be 409 illegal_transition allowed={want}: {response.text}"]
    return []


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
async def test_every_transition_and_refusal(tmp_path: Path, store: str) -> None:
    async with backend(store) as overrides, hub_in_process(tmp_path, **overrides) as node, desk_for(node.http) as desk:
        problems: list[str] = []
        for state in WALK:
            for action in ACTIONS:
                if (Status(state), Action(action)) in TRANSITIONS:
                    problems += await check_legal(node, desk, state, action)
                else:
                    problems += await check_illegal(desk, state, action)
        for state, action, user, status, code in REFUSALS:
            path = await desk.new_draft()
            await desk.walk(path, state)
            tail, body = request_for(action)
            response = await desk.step(path, user, tail, body)
            if response.status_code != status or response.json()["error"]["code"] != code:
                problems.append(f"{state} {action} as {user}: want {status} {code}, got {response.text}")
            after = await desk.get(path, "review")
            if after["review"]["status"] != state:
                problems.append(f"{state} {action} as {user} was refused but moved the draft")
        assert not problems, "\n".join(problems)


async def test_a_level_3_decision_by_the_chief_editor_and_the_history(tmp_path: Path) -> None:
    async with hub_in_process(tmp_path, workers="none") as node, desk_for(node.http) as desk:
        path = await desk.new_draft()
        await desk.walk(path, "level_3")
        seen = await desk.get(path, "review", user=CHIEF)
        assert seen["permitted"] == ["pin", "pass", "return", "reject"]
        assert (await desk.step(path, CHIEF, "review", {"decision": "pass"})).status_code == 200
        review = await desk.get(path, "review")
        assert review["review"] == review["review"] | {"status": "approved", "level": 3, "stale": False}
        assert review["allowed"] == ["pin", "return", "reject", "publish"] and review["permitted"] == []
        steps = [(h["action"], h["from"], h["to"], h["level"], h["actor"]) for h in review["history"]]
        assert steps == [
            ("submit", "editing", "submitted", 0, AUTHOR),
            ("pass", "submitted", "level_2", 1, REVIEWERS[1]),
            ("pass", "level_2", "level_3", 2, REVIEWERS[2]),
            ("pass", "level_3", "approved", 3, CHIEF),
        ]
        assert [h["comment"] for h in review["history"]][1:3] == ["一审通过", "二审通过"]


async def test_bad_input_is_refused_clearly(tmp_path: Path) -> None:
    async with hub_in_process(tmp_path, workers="none") as node, desk_for(node.http) as desk:
        path = await desk.new_draft()
        await desk.walk(path, "submitted")
        session, name = path.split("/")
        review = f"/api/sessions/{session}/drafts/{name}/review"
        cases = [
            ({"decision": "return"}, 422, "comment"),  # a reason is required
            ({"decision": "reject", "comment": "   "}, 422, "comment"),
            ({"decision": "approve", "comment": "x"}, 422, "decision"),
            ({"decision": "pass", "comment": "x" * 2001}, 422, "comment"),
            ({"decision": "pass", "pin": "v1"}, 422, "pin"),
            ({"decision": "pass", "pin": "999"}, 409, "pin_changed"),
        ]
        for body, status, word in cases:
            response = await desk.call(REVIEWERS[1], "POST", review, json=body)
            assert response.status_code == status and word in response.text, (body, response.text)
        as_json = {"content-type": "application/json"}
        for raw in (b"{", b"[]", b"\xff"):
            response = await desk.call(REVIEWERS[1], "POST", review, content=raw, headers=as_json)
            assert response.status_code == 400 and response.json()["error"]["code"] == "bad_json", raw
        assert (await desk.call(REVIEWERS[1], "POST", review, data={"a": "b"})).status_code == 415
        assert (await desk.http.post(review, json={"decision": "pass"})).status_code == 401
        missing = await desk.call(AUTHOR, "GET", f"/api/sessions/{session}/drafts/nope/review")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        bad = await desk.call(AUTHOR, "GET", f"/api/sessions/{session}/drafts/a..b/review")
        assert bad.status_code == 400 and "draft" in bad.json()["error"]["message"]
        assert (await desk.get(path, "review"))["review"]["status"] == "submitted"
        current = (await desk.get(path, "review"))["review"]["pin"]
        ok = await desk.call(REVIEWERS[1], "POST", review, json={"decision": "pass", "pin": current})
        assert ok.status_code == 200, ok.text
