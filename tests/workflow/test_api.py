"""The workflow HTTP API on a real hub served in this process: answers, refusals and bad input (never a 500)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.live.helpers import hub_in_process
from tests.workflow.client import Api

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    data: Path = tmp_path_factory.mktemp("api-hub")
    async with hub_in_process(data) as node:
        client = Api(node.http)
        try:
            yield client
        finally:
            await client.close()


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return body["error"]


async def test_a_planning_session_from_creation_to_archive(api: Api) -> None:
    created = await api.ok(
        "POST", "/api/sessions", "dgdaily-editor", 201,
        json={"title": "春运联合报道", "member_units": ["humen", "changan"], "starts_at": 1.9e9, "id": "spring"},
    )  # fmt: skip
    assert created["status"] == "scheduled" and created["owner_unit"] == "dgdaily" and created["drafts_count"] == 0
    draft = await api.ok("POST", "/api/sessions/spring/drafts", "humen-reporter", 201, json={"title": "虎门站"})
    assert draft["lead_unit"] == "humen" and draft["path"] == f"spring/{draft['name']}"
    assert draft["review"] == {"status": "editing", "level": 0}
    patched = await api.ok("PATCH", "/api/sessions/spring", "dgdaily-editor", json={"title": "春运", "ends_at": None})
    assert patched["title"] == "春运" and patched["drafts_count"] == 1
    assert (await api.ok("POST", "/api/sessions/spring/members", "dgdaily-editor", json={"units": ["shatian"]}))[
        "member_units"
    ] == ["changan", "humen", "shatian"]
    removed = await api.ok("DELETE", "/api/sessions/spring/members/shatian", "dgdaily-editor")
    assert removed["member_units"] == ["changan", "humen"]
    for action, status in [("open", "open"), ("close", "closed")]:
        assert (await api.ok("POST", f"/api/sessions/spring/{action}", "dgdaily-editor"))["status"] == status
    refused = await api.call("POST", "/api/sessions/spring/drafts", "humen-reporter", json={"title": "迟到"})
    assert refused.status_code == 409
    assert error_of(refused) | {} == {
        "code": "illegal_transition",
        "message": error_of(refused)["message"],
        "state": "closed",
        "allowed": ["reopen", "archive"],
    }
    again = await api.call("POST", "/api/sessions/spring/close", "dgdaily-editor", json={"reason": "重复"})
    assert again.status_code == 409 and error_of(again)["allowed"] == ["reopen", "archive"]
    archived = await api.ok("POST", "/api/sessions/spring/archive", "dgdaily-editor", json={"reason": "结束"})
    assert archived["status"] == "archived"
    listed = await api.ok("GET", "/api/sessions?status=archived", "humen-viewer")
    assert [s["id"] for s in listed["items"]] == ["spring"] and listed["next"] is None
    drafts = await api.ok("GET", "/api/sessions/spring/drafts", "changan-viewer")
    assert [d["name"] for d in drafts["items"]] == [draft["name"]]
    assert (await api.ok("GET", f"/api/sessions/spring/drafts/{draft['name']}", "humen-viewer")) == draft


async def test_topics_and_tasks_over_http(api: Api) -> None:
    topic = await api.ok(
        "POST", "/api/topics", "humen-reporter", 201,
        json={"title": "渔船回港", "angle": "航拍", "proposed_date": "2026-06-01", "platforms": ["app"], "links": []},
    )  # fmt: skip
    assert topic["status"] == "submitted" and topic["id"].isdigit()
    returned = await api.ok("POST", f"/api/topics/{topic['id']}/return", "dgrtv-editor", json={"reason": "补充画面"})
    assert returned["status"] == "returned"
    resubmitted = await api.ok(
        "POST", f"/api/topics/{topic['id']}/resubmit", "humen-reporter", json={"angle": "航拍加采访"}
    )
    assert resubmitted["status"] == "submitted" and resubmitted["angle"] == "航拍加采访"
    approved = await api.ok(
        "POST", f"/api/topics/{topic['id']}/approve", "dgdaily-chief",
        json={"reason": "好", "session": "typhoon-drill", "draft_title": "渔船回港（稿）"},
    )  # fmt: skip
    assert approved["session"] == "typhoon-drill" and approved["draft"]
    full = await api.ok("GET", f"/api/topics/{topic['id']}", "humen-viewer")
    assert [h["action"] for h in full["history"]] == ["submit", "return", "resubmit", "approve"]

    task = await api.ok(
        "POST", "/api/tasks", "dgdaily-commander", 201,
        json={"title": "报送", "body": "今日", "priority": "urgent", "deadline_at": 2.0e9,
              "recipients": [{"unit": "humen"}, {"user": "changan-editor"}]},
    )  # fmt: skip
    receipt = task["receipts"][0]
    assert receipt["recipient"] == {"unit": "humen"} and receipt["status"] == "delivered"
    path = f"/api/tasks/{task['id']}/receipts/{receipt['id']}"
    assert (await api.ok("POST", f"{path}/read", "humen-viewer"))["receipts"][0]["status"] == "read"
    declined = await api.ok("POST", f"{path}/decline", "humen-editor", json={"reason": "人手不足"})
    assert declined["receipts"][0]["status"] == "declined" and declined["receipts"][0]["reason"] == "人手不足"
    moved = await api.ok(
        "POST", f"/api/tasks/{task['id']}/reassign", "dgdaily-commander",
        json={"receipt": receipt["id"], "to": {"unit": "houjie"}, "reason": "改派"},
    )  # fmt: skip
    assert [r["status"] for r in moved["receipts"]] == ["reassigned", "delivered", "delivered"]
    inbox = await api.ok("GET", "/api/tasks?box=inbox", "houjie-editor")
    assert task["id"] in [t["id"] for t in inbox["items"]]
    assert task["id"] not in [t["id"] for t in (await api.ok("GET", "/api/tasks", "humen-editor"))["items"]]
    sent = await api.ok("GET", "/api/tasks?box=sent&status=open&limit=1", "dgdaily-commander")
    assert len(sent["items"]) == 1 and sent["next"] is not None
    done = await api.ok("POST", f"/api/tasks/{task['id']}/complete", "dgdaily-commander")
    assert done["status"] == "completed"

    duty = await api.ok("GET", "/api/duty", "humen-viewer")
    assert duty["rotation"]["period"] == "weekly" and duty["current"]["unit"] in duty["rotation"]["units"]
    changed = await api.ok("PUT", "/api/duty/rotation", "dgdaily-commander", json={"units": ["dongcheng"]})
    assert changed["current"]["unit"] == "dongcheng" and changed["rotation"]["period"] == "weekly"


BIG = "x" * 5000
# (method, path, user, body or raw text, status, code, a word the message must name)
BAD: list[tuple[str, str, str | None, Any, int, str, str]] = [
    ("GET", "/api/sessions", None, None, 401, "token_missing", ""),
    ("POST", "/api/sessions", "dgdaily-editor", "{not json", 400, "bad_json", ""),
    ("POST", "/api/sessions", "dgdaily-editor", {"title": "t", "owner": "x"}, 422, "invalid", "owner"),
    ("POST", "/api/sessions", "dgdaily-editor", {"title": ""}, 422, "invalid", "title"),
    ("POST", "/api/sessions", "dgdaily-editor", {"title": BIG}, 422, "invalid", "title"),
    ("POST", "/api/sessions", "dgdaily-editor", {"title": "t", "member_units": "humen"}, 422, "invalid", "member_"),
    ("POST", "/api/sessions", "dgdaily-editor", {"title": "t", "member_units": ["Humen"]}, 422, "invalid", "member"),
    ("POST", "/api/sessions", "dgdaily-editor", {"title": "t", "id": "a/b"}, 422, "invalid", "id"),
    ("POST", "/api/sessions", "dgdaily-editor", {"title": "t", "starts_at": "soon"}, 422, "invalid", "starts_at"),
    ("POST", "/api/sessions", "dgdaily-editor", {"title": "t", "starts_at": True}, 422, "invalid", "starts_at"),
    ("POST", "/api/sessions", "dgdaily-editor", {"title": "t", "starts_at": 9, "ends_at": 5}, 422, "invalid", "ends"),
    ("POST", "/api/sessions", "humen-viewer", {"title": "t"}, 403, "forbidden", ""),
    ("POST", "/api/sessions", "dgdaily-editor", {"title": "t", "id": "typhoon-drill"}, 409, "conflict", ""),
    ("PUT", "/api/sessions", "dgdaily-editor", {}, 405, "method_not_allowed", ""),
    ("GET", "/api/sessions?limit=0", "dgdaily-editor", None, 400, "invalid", "limit"),
    ("GET", "/api/sessions?limit=201", "dgdaily-editor", None, 400, "invalid", "limit"),
    ("GET", "/api/sessions?limit=x", "dgdaily-editor", None, 400, "invalid", "limit"),
    ("GET", "/api/sessions?status=lost", "dgdaily-editor", None, 400, "invalid", "status"),
    ("GET", "/api/sessions?unit=../x", "dgdaily-editor", None, 400, "invalid", "unit"),
    ("GET", "/api/sessions?after=yesterday", "dgdaily-editor", None, 400, "invalid", "after"),
    ("GET", "/api/sessions?before=2026-13-01", "dgdaily-editor", None, 400, "invalid", "before"),
    ("GET", "/api/sessions?after=1e400", "dgdaily-editor", None, 400, "invalid", "after"),
    ("GET", "/api/sessions?cursor=%%%", "dgdaily-editor", None, 400, "invalid", "cursor"),
    ("GET", "/api/sessions?cursor=WzJd", "dgdaily-editor", None, 400, "invalid", "cursor"),
    ("GET", "/api/sessions/..%2Fx", "dgdaily-editor", None, 404, "not_found", ""),
    ("GET", "/api/sessions/nope", "dgdaily-editor", None, 404, "not_found", ""),
    ("GET", "/api/sessions/dragon-boat", "gaobu-editor", None, 404, "not_found", ""),
    ("POST", "/api/sessions/typhoon-drill/members", "dgdaily-editor", {"units": []}, 422, "invalid", "units"),
    ("POST", "/api/sessions/typhoon-drill/members", "dgdaily-editor", {"units": ["zz"]}, 422, "invalid", "units"),
    ("DELETE", "/api/sessions/typhoon-drill/members/BAD!", "dgdaily-editor", None, 404, "not_found", ""),
    ("POST", "/api/sessions/typhoon-drill/open", "dgdaily-editor", {"why": 1}, 422, "invalid", "why"),
    ("POST", "/api/sessions/typhoon-drill/open", "dgdaily-editor", None, 409, "illegal_transition", "open"),
    ("POST", "/api/sessions/typhoon-drill/drafts", "humen-editor", {"title": "t", "lead_unit": "gaobu"}, 422,
     "invalid", "lead_unit"),
    ("POST", "/api/sessions/typhoon-drill/drafts", "humen-editor", {"title": "t", "name": "../x"}, 422,
     "invalid", "name"),
    ("PATCH", "/api/sessions/typhoon-drill/drafts/none", "dgdaily-editor", {"title": "t"}, 404, "not_found", ""),
    ("POST", "/api/topics", "humen-reporter", {"title": "t", "proposed_date": "June"}, 422, "invalid", "proposed_date"),
    ("POST", "/api/topics", "humen-reporter", {"title": "t", "proposed_date": "2026-06-01", "platforms": [1]}, 422,
     "invalid", "platforms"),
    ("POST", "/api/topics", "humen-reporter", {"title": "t", "proposed_date": "2026-06-01", "links": {}}, 422,
     "invalid", "links"),
    ("GET", "/api/topics/abc", "humen-reporter", None, 404, "not_found", ""),
    ("GET", "/api/topics/" + "9" * 40, "humen-reporter", None, 404, "not_found", ""),
    ("GET", "/api/topics/999999", "humen-reporter", None, 404, "not_found", ""),
    ("POST", "/api/topics/1/reject", "dgdaily-chief", {"reason": " "}, 422, "invalid", "reason"),
    ("POST", "/api/topics/1/merge", "dgdaily-chief", {"reason": "r", "into": "x"}, 422, "invalid", "into"),
    ("POST", "/api/topics/1/approve", "dgdaily-chief", {"session": "../x"}, 422, "invalid", "session"),
    ("POST", "/api/tasks", "dgdaily-commander", {"title": "t", "recipients": [{"unit": "humen"}]}, 422, "invalid",
     "deadline_at"),
    ("POST", "/api/tasks", "dgdaily-commander", {"title": "t", "deadline_at": 1, "recipients": [{"team": "x"}]}, 422,
     "invalid", "recipients"),
    ("POST", "/api/tasks", "dgdaily-commander", {"title": "t", "deadline_at": 1, "recipients": []}, 422, "invalid",
     "recipients"),
    ("POST", "/api/tasks", "dgdaily-commander", {"title": "t", "deadline_at": 1, "priority": 3,
                                                  "recipients": [{"unit": "humen"}]}, 422, "invalid", "priority"),
    ("GET", "/api/tasks?box=everything", "dgdaily-commander", None, 400, "invalid", "box"),
    ("GET", "/api/tasks?box=all", "humen-editor", None, 403, "forbidden", ""),
    ("POST", "/api/tasks/1/receipts/abc/read", "humen-editor", {}, 404, "not_found", ""),
    ("POST", "/api/tasks/1/reassign", "dgdaily-commander", {"reason": "r", "receipt": "1", "to": {"unit": 5}}, 422,
     "invalid", "to"),
    ("PUT", "/api/duty/rotation", "dgdaily-commander", {"units": []}, 422, "invalid", "units"),
    ("PUT", "/api/duty/rotation", "dgdaily-commander", {"units": ["humen", "humen"]}, 422, "invalid", "units"),
    ("PUT", "/api/duty/rotation", "dgdaily-commander", {"units": ["humen"], "period": "monthly"}, 422, "invalid",
     "period"),
    ("PUT", "/api/duty/rotation", "humen-editor", {"units": ["humen"]}, 403, "forbidden", ""),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "user", "body", "status", "code", "names"), BAD)
async def test_bad_requests_get_clear_errors(
    api: Api, method: str, path: str, user: str | None, body: Any, status: int, code: str, names: str
) -> None:
    kw: dict[str, Any] = {}
    if isinstance(body, str):
        kw = {"content": body, "headers": {"content-type": "application/json"}}
    elif body is not None:
        kw = {"json": body}
    response = await api.call(method, path, user, **kw)
    assert response.status_code == status, response.text
    error = error_of(response)
    assert error["code"] == code
    assert names in error["message"]


async def test_bodies_too_large_or_not_json_are_refused(api: Api) -> None:
    big = await api.call("POST", "/api/topics", "humen-reporter", json={"title": "x" * 20_000})
    assert big.status_code == 413 and error_of(big)["code"] == "payload_too_large"
    text = await api.call("POST", "/api/topics", "humen-reporter", content="title=x")
    assert text.status_code == 415 and error_of(text)["code"] == "unsupported_media_type"
    array = await api.call("POST", "/api/topics", "humen-reporter", json=[1, 2])
    assert array.status_code == 400 and error_of(array)["code"] == "bad_json"


WEIRD: list[Any] = [None, 0, -1, 1e308, True, "", " ", "x" * 3000, "\u0000", "../..", [], [None], {}, {"a": {}}]
VALID: list[tuple[str, str, str, dict[str, Any]]] = [
    ("POST", "/api/sessions", "dgdaily-editor", {"title": "t", "member_units": ["humen"], "starts_at": 1, "id": "w"}),
    ("PATCH", "/api/sessions/typhoon-drill", "dgdaily-editor", {"title": "t", "starts_at": 1, "ends_at": 2}),
    ("POST", "/api/sessions/typhoon-drill/members", "dgdaily-editor", {"units": ["humen"]}),
    ("POST", "/api/sessions/typhoon-drill/drafts", "humen-editor", {"title": "t", "lead_unit": "humen", "name": "n"}),
    ("POST", "/api/topics", "humen-reporter",
     {"title": "t", "angle": "a", "proposed_date": "2026-06-01", "platforms": ["app"], "links": ["https://x"]}),
    ("POST", "/api/topics/1/approve", "dgdaily-chief", {"reason": "r", "session": "typhoon-drill", "draft_title": "t"}),
    ("POST", "/api/topics/1/merge", "dgdaily-chief", {"reason": "r", "into": "2"}),
    ("POST", "/api/tasks", "dgdaily-commander",
     {"title": "t", "body": "b", "priority": "low", "deadline_at": 1, "recipients": [{"unit": "humen"}],
      "session": "typhoon-drill"}),
    ("POST", "/api/tasks/1/reassign", "dgdaily-commander", {"receipt": "1", "to": {"unit": "houjie"}, "reason": "r"}),
    ("POST", "/api/tasks/1/receipts/1/decline", "humen-editor", {"reason": "r"}),
    ("PUT", "/api/duty/rotation", "dgdaily-commander", {"units": ["humen"], "period": "daily", "anchor_at": 0}),
]  # fmt: skip


async def test_any_value_in_any_field_is_answered_without_a_server_error(api: Api) -> None:
    answered: dict[int, int] = {}
    for method, path, user, valid in VALID:
        for field in valid:
            for value in WEIRD:
                response = await api.call(method, path, user, json={**valid, field: value})
                assert response.status_code < 500, f"{method} {path} {field}={value!r}: {response.text}"
                if response.status_code >= 400:
                    error_of(response)
                answered[response.status_code] = answered.get(response.status_code, 0) + 1
    assert answered.get(422, 0) > 100, answered
