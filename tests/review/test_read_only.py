"""Published = read-only, on real hub processes, with the npm y-websocket client and pycrdt clients.

After ``publish`` every client's update is answered with the y-protocols
permission-denied message and never applied, on the node that published, on
another node of a cluster (PostgreSQL + Redis) where the editor's socket was
already open (that node also reopens a pinned step itself when the editor
changes the draft), and after a restart (the flag is read from the store when the
draft loads). The text written before publishing survives, and equals the
published version.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from tests.cluster.services import REDIS_URL, check_redis, postgres_schema, with_db
from tests.conftest import HubFactory, HubProcess, NodeFactory
from tests.integration.node_client import NodeClient
from tests.review.helpers import AUTHOR, CHIEF, REVIEWERS, Desk, desk_for, eventually
from tests.ypy_client import YClient

pytestmark = [pytest.mark.timeout(120), pytest.mark.node]

ENV = {"TONGPIN_AUTH": "required", "TONGPIN_WORKERS": "none"}
TEXT = "台风“海燕”今晚登陆，请市民做好防御。"


async def reader(node: HubProcess, desk: Desk, path: str, user: str = REVIEWERS[1]) -> YClient:
    client = YClient(node.ws_url(*path.split("/"), token=await desk.token(user)))
    await client.connect()
    await client.wait_synced()
    return client


async def denied_by_hub(client: NodeClient, since: int) -> bool:
    """Whether y-websocket reported a permission denial after the first ``since`` characters of its stderr."""
    return "Permission denied" in client.stderr()[since:]


async def stale(desk: Desk, path: str) -> bool:
    return bool((await desk.get(path, "review"))["review"]["stale"])


async def publish(desk: Desk, path: str) -> None:
    await desk.walk(path, "approved")
    response = await desk.step(path, CHIEF, "publish", {"comment": "签发"})
    assert response.status_code == 200 and response.json()["review"]["status"] == "published", response.text


async def check_published_text(desk: Desk, path: str, text: str) -> None:
    versions = (await desk.get(path, "versions"))["items"]
    published = [v for v in versions if v["kind"] == "published"]
    assert len(published) == 1
    assert (await desk.get(path, f"versions/{published[0]['id']}"))["text"] == text
    diff = await desk.get(path, "diff", **{"from": published[0]["id"], "to": "current"})
    assert diff["changes"] == [], diff


async def test_a_published_draft_refuses_every_update_and_keeps_its_text(
    hub_factory: HubFactory, node_clients: NodeFactory
) -> None:
    hub = hub_factory(env=ENV)
    async with desk_for(hub.http) as desk:
        path = await desk.new_draft()
        writer = await node_clients("writer")
        await writer.connect(hub.ws_base, path, token=await desk.token(AUTHOR))
        await writer.wait_synced()
        await writer.insert(0, TEXT)
        watcher = await reader(hub, desk, path)
        await watcher.wait_text(TEXT)
        await publish(desk, path)

        seen = len(writer.stderr())
        await writer.insert(0, "【篡改】")
        await eventually(lambda: denied_by_hub(writer, seen), "y-websocket reporting permission denied")
        watcher.insert(0, "【也篡改】")  # a reviewer, who may edit drafts, is refused too
        await watcher.wait_for(lambda: watcher.denied, "permission denied for the pycrdt client")
        assert watcher.denied == ["published: the draft is read-only"]
        fresh = await reader(hub, desk, path, user="humen-viewer")
        assert fresh.content() == TEXT
        await check_published_text(desk, path, TEXT)
        for client in (watcher, fresh):
            await client.close()

        await hub.sigterm()
        await hub.restart()
        again = await reader(hub, desk, path, user=AUTHOR)
        assert again.content() == TEXT
        again.insert(len(TEXT), "重启之后")
        await again.wait_for(lambda: again.denied, "permission denied after a restart")
        await again.close()
        later = await reader(hub, desk, path)
        assert later.content() == TEXT
        await later.close()
        await check_published_text(desk, path, TEXT)


@pytest.mark.postgres
@pytest.mark.redis
async def test_publishing_on_one_node_makes_an_open_socket_on_another_read_only(
    tmp_path: Path, hub_factory: HubFactory, node_clients: NodeFactory
) -> None:
    await check_redis()
    async with postgres_schema() as database:
        secret = "review-cluster-secret-" + "s" * 40
        env = {**ENV, "TONGPIN_DATABASE_URL": database, "TONGPIN_REDIS_URL": with_db(REDIS_URL, random.randint(2, 15))}
        nodes = []
        for i in range(2):  # one development secret for both, so either takes the other's tokens
            data_dir = tmp_path / f"node{i}"
            data_dir.mkdir()
            (data_dir / "secret.key").write_text(secret)
            (data_dir / "secret.key").chmod(0o600)
            nodes.append(hub_factory(env={**env, "TONGPIN_NODE_ID": f"review-n{i}"}, data_dir=data_dir))
        a, b = nodes
        async with desk_for(a.http) as desk:
            path = await desk.new_draft()
            writer = await node_clients("writer-on-b")
            await writer.connect(b.ws_base, path, token=await desk.token(AUTHOR))
            await writer.wait_synced()
            await writer.insert(0, TEXT[:-1])
            on_a = await reader(a, desk, path)
            await on_a.wait_text(TEXT[:-1], within=20)  # relayed from b through Redis
            await desk.walk(path, "submitted")  # pinned on a
            # b hears of the pin and watches the draft: the writer's edit there reopens the step at once.
            await b.wait_metric("tongpin_review_watched_drafts", lambda v: v == 1, "b to watch the pin", within=10)
            await writer.insert(len(TEXT) - 1, TEXT[-1])
            await eventually(lambda: stale(desk, path), "b reopening the step", within=10)
            await on_a.wait_text(TEXT)
            assert await b.metric("tongpin_review_reopened_total") == 1  # b noticed, with no decision made
            await desk.ok(AUTHOR, "POST", f"/api/sessions/{path.replace('/', '/drafts/')}/pin", json={})
            for level in (1, 2, 3):
                passed = await desk.step(path, REVIEWERS[level], "review", {"decision": "pass"})
                assert passed.status_code == 200, passed.text
            assert (await desk.step(path, CHIEF, "publish", {})).status_code == 200
            published = time.monotonic()
            await b.wait_metric("tongpin_review_frozen_total", lambda v: v >= 1, "b to freeze the draft", within=10)
            print(f"read-only on the other node {1000 * (time.monotonic() - published):.0f} ms after publishing")

            seen = len(writer.stderr())
            await writer.insert(len(TEXT), "【篡改】")
            await eventually(lambda: denied_by_hub(writer, seen), "b refusing the open socket's update")
            fresh_b = await reader(b, desk, path, user="humen-viewer")
            assert fresh_b.content() == TEXT
            assert on_a.content() == TEXT
            assert (await writer.report())["connected"] is True  # refused, not disconnected
            await asyncio.gather(on_a.close(), fresh_b.close())
            await check_published_text(desk, path, TEXT)
