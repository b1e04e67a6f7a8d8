"""``schema/openapi.json`` against a real ``tongpin serve``: every documented route exists, and the
answers of a full walk through the workflow validate against the documented schemas."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import HubFactory
from tests.workflow.client import Api

ROOT = Path(__file__).resolve().parents[2]
DOC = json.loads((ROOT / "schema" / "openapi.json").read_text(encoding="utf-8"))
METHODS = ("get", "post", "put", "patch", "delete")
WORKFLOW_TAGS = {"sessions", "drafts", "topics", "tasks", "duty"}


def operations(tags: set[str] | None = None) -> list[tuple[str, str]]:
    return [
        (path, method)
        for path, item in DOC["paths"].items()
        for method in METHODS
        if method in item and (tags is None or tags & set(item[method].get("tags", ())))
    ]


def response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    responses = DOC["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} answered {status}, which is not documented"
    found = responses[str(status)]
    if "$ref" in found:
        found = DOC["components"]["responses"][found["$ref"].rsplit("/", 1)[-1]]
    schema: dict[str, Any] = found["content"]["application/json"]["schema"]
    return schema


class Checked(Api):
    """Calls documented operations by their path template; validates every answer."""

    def __init__(self, base: str) -> None:
        super().__init__(base)
        self.covered: set[tuple[str, str]] = set()

    async def op(self, method: str, template: str, user: str, status: int, *, json: Any = None, **params: Any) -> Any:
        path = template.format(**params)
        query = params.pop("query", None)
        response = await self.call(method.upper(), path, user, json=json, params=query)
        assert response.status_code == status, f"{method.upper()} {path}: {response.status_code} {response.text}"
        body = response.json()
        schema = response_schema(template, method, status)
        Draft202012Validator({**schema, "components": DOC["components"]}).validate(body)
        self.covered.add((template, method))
        return body


@pytest.fixture
async def checked(hub_factory: HubFactory) -> AsyncIterator[Checked]:
    hub = hub_factory(env={"TONGPIN_AUTH": "required"})
    client = Checked(hub.http)
    try:
        yield client
    finally:
        await client.close()


def test_the_document_is_consistent() -> None:
    """Every $ref resolves, every operation answers JSON, every path parameter is declared."""
    text = json.dumps(DOC)
    for ref in set(re.findall(r'"\$ref": "#/components/(\w+)/(\w+)"', text)):
        assert ref[1] in DOC["components"][ref[0]], f"unresolved $ref {ref}"
    Draft202012Validator.check_schema({"$defs": DOC["components"]["schemas"]})
    for path, method in operations():
        operation = DOC["paths"][path][method]
        assert operation.get("tags") and operation["responses"], f"{method} {path}"
        declared = set()
        for param in operation.get("parameters", []):
            if "$ref" in param:
                param = DOC["components"]["parameters"][param["$ref"].rsplit("/", 1)[-1]]
            if param["in"] == "path":
                declared.add(param["name"])
        assert declared == set(re.findall(r"{(\w+)}", path)), f"{method} {path}: path parameters"


async def test_every_documented_route_exists(checked: Checked) -> None:
    """Without a token, a route that exists answers 401; one that does not, 404 or 405."""
    for path, method in operations():
        concrete = re.sub(r"{\w+}", "x1", path)
        response = await checked.call(method.upper(), concrete, None)
        assert response.status_code not in (404, 405), f"{method.upper()} {path} is documented but not served"


async def test_answers_validate_against_the_documented_schemas(checked: Checked) -> None:
    c = checked
    await c.op("get", "/api/duty", "humen-viewer", 200)
    await c.op("put", "/api/duty/rotation", "dgdaily-commander", 200, json={"units": ["nancheng", "dongcheng"]})
    await c.op("put", "/api/duty/rotation", "humen-editor", 403, json={"units": ["nancheng"]})

    s = await c.op(
        "post", "/api/sessions", "dgdaily-editor", 201,
        json={"title": "端午", "member_units": ["humen", "machong"], "starts_at": 1.9e9, "ends_at": 1.91e9},
    )  # fmt: skip
    sid = s["id"]
    await c.op("post", "/api/sessions", "dgdaily-editor", 422, json={"title": ""})
    await c.op("get", "/api/sessions", "humen-viewer", 200, query={"status": "scheduled", "limit": 1})
    await c.op("get", "/api/sessions", "humen-viewer", 400, query={"limit": 0})
    await c.op("get", "/api/sessions/{session}", "machong-editor", 200, session=sid)
    await c.op("get", "/api/sessions/{session}", "gaobu-editor", 404, session=sid)
    await c.op("patch", "/api/sessions/{session}", "dgdaily-editor", 200, json={"ends_at": None}, session=sid)
    await c.op(
        "post", "/api/sessions/{session}/members", "dgdaily-editor", 200, json={"units": ["zhongtang"]}, session=sid
    )
    await c.op("delete", "/api/sessions/{session}/members/{unit}", "dgdaily-editor", 200, session=sid, unit="zhongtang")
    await c.op("delete", "/api/sessions/{session}/members/{unit}", "humen-editor", 403, session=sid, unit="machong")
    await c.op("post", "/api/sessions/{session}/open", "dgdaily-editor", 200, session=sid)
    await c.op("post", "/api/sessions/{session}/open", "dgdaily-editor", 409, session=sid)
    d = await c.op("post", "/api/sessions/{session}/drafts", "humen-reporter", 201, json={"title": "龙舟"}, session=sid)
    await c.op("get", "/api/sessions/{session}/drafts", "machong-viewer", 200, session=sid)
    await c.op("get", "/api/sessions/{session}/drafts/{name}", "humen-viewer", 200, session=sid, name=d["name"])
    await c.op(
        "patch", "/api/sessions/{session}/drafts/{name}", "dgdaily-editor", 200,
        json={"lead_unit": "machong"}, session=sid, name=d["name"],
    )  # fmt: skip
    await c.op("post", "/api/sessions/{session}/close", "dgdaily-editor", 200, json={"reason": "收官"}, session=sid)
    await c.op("post", "/api/sessions/{session}/reopen", "dgdaily-editor", 200, session=sid)
    await c.op("post", "/api/sessions/{session}/close", "dgdaily-editor", 200, session=sid)
    await c.op("post", "/api/sessions/{session}/archive", "dgdaily-editor", 200, session=sid)

    def topic_body(title: str) -> dict[str, Any]:
        return {"title": title, "angle": "现场", "proposed_date": "2026-06-19", "platforms": ["app"], "links": []}

    ids = [
        (await c.op("post", "/api/topics", "humen-reporter", 201, json=topic_body(f"题{i}")))["id"] for i in range(5)
    ]
    await c.op("get", "/api/topics", "humen-viewer", 200, query={"status": "submitted", "after": "2020-01-01"})
    await c.op(
        "post", "/api/topics/{topic}/approve", "dgdaily-chief", 200, json={"session": "typhoon-drill"}, topic=ids[0]
    )
    await c.op(
        "post", "/api/topics/{topic}/merge", "dgdaily-chief", 200, json={"reason": "同题", "into": ids[0]}, topic=ids[1]
    )
    await c.op("post", "/api/topics/{topic}/reject", "dgdaily-chief", 200, json={"reason": "不做"}, topic=ids[2])
    await c.op("post", "/api/topics/{topic}/reject", "dgdaily-chief", 409, json={"reason": "不做"}, topic=ids[2])
    await c.op("post", "/api/topics/{topic}/return", "dgdaily-chief", 200, json={"reason": "再想想"}, topic=ids[3])
    await c.op("post", "/api/topics/{topic}/resubmit", "humen-reporter", 200, json={"title": "新题"}, topic=ids[3])
    await c.op("post", "/api/topics/{topic}/return", "dgdaily-chief", 200, json={"reason": "还不行"}, topic=ids[4])
    await c.op("post", "/api/topics/{topic}/withdraw", "humen-reporter", 200, topic=ids[4])
    await c.op("get", "/api/topics/{topic}", "humen-viewer", 200, topic=ids[4])

    def task_body() -> dict[str, Any]:
        return {
            "title": "报送",
            "priority": "high",
            "deadline_at": 2e9,
            "recipients": [{"unit": "humen"}, {"user": "changan-editor"}],
        }

    t = await c.op("post", "/api/tasks", "dgdaily-commander", 201, json=task_body())
    first, second = (r["id"] for r in t["receipts"])
    receipt = "/api/tasks/{task}/receipts/{receipt}"
    await c.op("get", "/api/tasks", "humen-viewer", 200, query={"box": "inbox"})
    await c.op("get", "/api/tasks/{task}", "changan-editor", 200, task=t["id"])
    await c.op("post", receipt + "/read", "humen-viewer", 200, task=t["id"], receipt=first)
    await c.op("post", receipt + "/acknowledge", "humen-editor", 200, task=t["id"], receipt=first)
    await c.op("post", receipt + "/accept", "humen-editor", 200, task=t["id"], receipt=first)
    await c.op(
        "post", receipt + "/decline", "changan-editor", 200, json={"reason": "没人"}, task=t["id"], receipt=second
    )
    await c.op(
        "post", "/api/tasks/{task}/reassign", "dgdaily-commander", 200,
        json={"receipt": second, "to": {"unit": "houjie"}, "reason": "改派"}, task=t["id"],
    )  # fmt: skip
    await c.op("post", "/api/tasks/{task}/complete", "dgdaily-commander", 200, task=t["id"])
    t2 = await c.op("post", "/api/tasks", "dgdaily-commander", 201, json=task_body())
    await c.op("post", "/api/tasks/{task}/cancel", "dgdaily-commander", 200, json={"reason": "取消"}, task=t2["id"])

    missing = set(operations(WORKFLOW_TAGS)) - c.covered
    assert not missing, f"documented but not exercised: {sorted(missing)}"
