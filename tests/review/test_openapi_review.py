"""The review and stats answers validate against ``schema/openapi.json``, and every documented operation is walked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from tests.live.helpers import hub_in_process
from tests.review.helpers import AUTHOR, CHIEF, REVIEWERS, Desk, desk_for

ROOT = Path(__file__).resolve().parents[2]
DOC = json.loads((ROOT / "schema" / "openapi.json").read_text(encoding="utf-8"))
TAGS = {"review", "stats"}


def documented() -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in DOC["paths"].items()
        for method, operation in item.items()
        if TAGS & set(operation.get("tags", ()))
    }


class Checked:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.covered: set[tuple[str, str]] = set()

    async def op(self, method: str, template: str, user: str, status: int, *, json: Any = None, **params: str) -> Any:
        query = params.pop("query", None)
        response = await self.desk.call(user, method.upper(), template.format(**params), json=json, params=query)
        assert response.status_code == status, f"{method.upper()} {template}: {response.status_code} {response.text}"
        answer = DOC["paths"][template][method]["responses"][str(status)]
        if "$ref" in answer:
            answer = DOC["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
        self.covered.add((template, method))
        if "text/csv" in answer["content"]:
            assert response.headers["content-type"].startswith("text/csv")
            return response.text
        schema = answer["content"]["application/json"]["schema"]
        body = response.json()
        Draft202012Validator({**schema, "components": DOC["components"]}).validate(body)
        return body


async def test_review_answers_follow_the_document(tmp_path: Path) -> None:
    async with hub_in_process(tmp_path, workers="none") as node, desk_for(node.http) as desk:
        c = Checked(desk)
        base = "/api/sessions/{session}/drafts/{name}"
        path = await desk.new_draft()
        at = {"session": path.split("/")[0], "name": path.split("/")[1]}
        await c.op("get", f"{base}/review", AUTHOR, 200, **at)
        await c.op("get", f"{base}/review", "wanjiang-editor", 404, **at)
        await c.op("post", f"{base}/review", REVIEWERS[1], 409, json={"decision": "pass"}, **at)
        first = await c.op("post", f"{base}/submit", AUTHOR, 200, json={"comment": "请审"}, **at)
        await c.op("post", f"{base}/submit", AUTHOR, 409, json={}, **at)
        await c.op("post", f"{base}/review", REVIEWERS[1], 422, json={"decision": "return"}, **at)
        await c.op("post", f"{base}/review", REVIEWERS[2], 403, json={"decision": "pass"}, **at)
        second = await c.op("post", f"{base}/pin", AUTHOR, 200, json={}, **at)
        await c.op("post", f"{base}/review", REVIEWERS[1], 200, json={"decision": "pass", "comment": "好"}, **at)
        await c.op("post", f"{base}/review", REVIEWERS[2], 200, json={"decision": "pass"}, **at)
        await c.op("post", f"{base}/review", CHIEF, 200, json={"decision": "pass"}, **at)
        await c.op("post", f"{base}/publish", REVIEWERS[3], 403, json={}, **at)
        await c.op("post", f"{base}/publish", CHIEF, 200, json={"comment": "签发"}, **at)
        await c.op("get", f"{base}/versions", AUTHOR, 200, **at)
        await c.op("get", f"{base}/versions/{{version}}", AUTHOR, 200, version=first["version"], **at)
        await c.op("get", f"{base}/versions/{{version}}", AUTHOR, 404, version="999", **at)
        await c.op("get", f"{base}/diff", AUTHOR, 200, query={"from": first["version"], "to": "current"}, **at)
        await c.op("get", f"{base}/diff", AUTHOR, 400, query={"from": "x"}, **at)
        restore = f"{base}/versions/{{version}}/restore"
        await c.op("post", restore, AUTHOR, 201, json={"title": "重发"}, version=second["version"], **at)
        await c.op("post", restore, AUTHOR, 422, json={"name": "../x"}, version=second["version"], **at)
        await c.op("get", "/api/stats", CHIEF, 200, query={"from": "2025-01-01", "to": "2025-01-31"})
        await c.op("get", "/api/stats", AUTHOR, 403, query={"unit": "dgdaily"})
        await c.op("get", "/api/stats", CHIEF, 400, query={"to": "tomorrow"})
        await c.op("get", "/api/stats.csv", AUTHOR, 200)
        missing = documented() - c.covered
        assert not missing, f"documented but not exercised: {sorted(missing)}"
