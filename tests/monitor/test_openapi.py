"""The monitor's and alerts' answers validate against ``schema/openapi.json``; every documented operation is walked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from tests.live.helpers import hub_in_process, mint
from tests.monitor.test_api import add_alert

ROOT = Path(__file__).resolve().parents[2]
DOC = json.loads((ROOT / "schema" / "openapi.json").read_text(encoding="utf-8"))
TAGS = {"monitor", "alerts"}


def documented() -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in DOC["paths"].items()
        for method, op in item.items()
        if TAGS & set(op.get("tags", ()))
    }


async def test_walk_every_documented_operation(tmp_path: Path) -> None:
    covered: set[tuple[str, str]] = set()
    async with hub_in_process(tmp_path / "hub", workers="none") as n, httpx.AsyncClient(timeout=10) as http:

        async def op(method: str, template: str, user: str, status: int, body: Any = None, **params: str) -> Any:
            response = await http.request(
                method.upper(), n.http + template.format(**params),
                headers={"Authorization": f"Bearer {mint(n.data_dir, user)}"}, json=body,
            )  # fmt: skip
            assert response.status_code == status, response.text
            answer = DOC["paths"][template][method]["responses"][str(status)]
            if "$ref" in answer:
                answer = DOC["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
            if "content" in answer:
                schema = answer["content"]["application/json"]["schema"]
                Draft202012Validator({**schema, "components": DOC["components"]}).validate(response.json())
            covered.add((template, method))
            return response.json() if response.content else None

        m = "dgrelease-monitor"
        src = await op("post", "/api/monitor/sources", m, 201, {"url": "https://feeds.example/a.xml", "interval": 60})
        await op("get", "/api/monitor/sources", m, 200)
        await op("get", "/api/monitor/sources/{source}", m, 200, source=src["id"])
        await op("patch", "/api/monitor/sources/{source}", m, 200, {"enabled": False}, source=src["id"])
        await op("delete", "/api/monitor/sources/{source}", m, 204, source=src["id"])
        await op("get", "/api/monitor/sources/{source}", m, 404, source=src["id"])
        rule = await op(
            "post", "/api/monitor/rules", m, 201, {"name": "暴雨", "any": ["暴雨"], "regions": {"可园": "guancheng"}}
        )
        await op("get", "/api/monitor/rules", m, 200)
        await op("get", "/api/monitor/rules/{rule}", m, 200, rule=rule["id"])
        await op("patch", "/api/monitor/rules/{rule}", m, 200, {"severity": "high"}, rule=rule["id"])
        await op("delete", "/api/monitor/rules/{rule}", m, 204, rule=rule["id"])
        await op("post", "/api/monitor/rules", "humen-editor", 403, {"name": "x", "any": ["x"]})
        await op("post", "/api/monitor/rules", m, 422, {"name": "x"})

        one = await add_alert(n, "虎门大桥临时封闭", "https://news.example/1", "humen")
        two = await add_alert(n, "虎门镇多处内涝", "https://news.example/2", "humen")
        await op("get", "/api/alerts", "humen-editor", 200)
        await op("get", "/api/alerts/{alert}", "humen-editor", 200, alert=one)
        await op("post", "/api/alerts/{alert}/acknowledge", "humen-editor", 200, {}, alert=one)
        await op("post", "/api/alerts/{alert}/acknowledge", "humen-editor", 409, {}, alert=one)
        await op("post", "/api/alerts/{alert}/assign", "humen-editor", 200, {"create": "topic"}, alert=one)
        await op("post", "/api/alerts/{alert}/resolve", "humen-editor", 200, {"reason": "已报道"}, alert=one)
        await op("post", "/api/alerts/{alert}/dismiss", "humen-editor", 200, {"reason": "重复"}, alert=two)
    assert documented() - covered == set()
