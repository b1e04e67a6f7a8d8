"""A local feed server (aiohttp, port 0), feed builders, and monitor stores on both backends.

``FeedServer`` serves whatever a test puts in ``feeds`` (path -> ``Feed``)
plus pathological routes: ``/slow`` (answers headers, then never the body
until the server stops), ``/huge`` (streams without end), ``/500``,
``/loop`` (redirects to itself), ``redirects`` (path -> any URL), ``/external.dtd`` (counts fetches: no
parser should ever make one). Every request is counted per path, with its
``If-None-Match``; a feed with an ``etag`` answers 304 when it is sent back.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import httpx
import orjson
from aiohttp import web

from rooms.event_store import EventStore
from rooms.events import Event, Publisher
from rooms.monitor import MonitorStore
from tests.cluster.services import postgres_schema
from tests.conftest import LISTENING, HubProcess

BACKENDS = ("sqlite", "postgres")
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Entry:
    title: str
    url: str
    summary: str = ""
    published: float = field(default_factory=time.time)


def rss(entries: Sequence[Entry], *, title: str = "东莞新闻") -> bytes:
    items = "".join(
        f"<item><title>{html.escape(e.title)}</title><link>{html.escape(e.url)}</link>"
        f"<description>{html.escape(e.summary)}</description>"
        f"<pubDate>{time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime(e.published))}</pubDate></item>"
        for e in entries
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>http://news.example/</link><description>feed</description>{items}</channel></rss>"
    ).encode()


def rdf(entries: Sequence[Entry]) -> bytes:
    """RSS 1.0: items beside the channel under ``rdf:RDF``, dated by ``dc:date`` (China time)."""
    items = "".join(
        f'<item rdf:about="{html.escape(e.url)}"><title>{html.escape(e.title)}</title>'
        f"<link>{html.escape(e.url)}</link><description>{html.escape(e.summary)}</description>"
        f"<dc:date>{time.strftime('%Y-%m-%dT%H:%M:%S+08:00', time.gmtime(e.published + 8 * 3600))}</dc:date></item>"
        for e in entries
    )
    seq = "".join(f'<rdf:li rdf:resource="{html.escape(e.url)}"/>' for e in entries)
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<channel rdf:about="http://news.example/rdf"><title>东莞阳光网</title><link>http://news.example/</link>'
        f"<description>东莞新闻</description><items><rdf:Seq>{seq}</rdf:Seq></items></channel>{items}</rdf:RDF>"
    ).encode()


def atom(entries: Sequence[Entry]) -> bytes:
    items = "".join(
        f"<entry><title>{html.escape(e.title)}</title><link rel='alternate' href='{html.escape(e.url)}'/>"
        f"<id>{html.escape(e.url)}</id><summary>{html.escape(e.summary)}</summary>"
        f"<updated>{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(e.published))}</updated></entry>"
        for e in entries
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>松山湖发布</title><id>urn:feed</id><updated>2026-06-01T00:00:00Z</updated>{items}</feed>"
    ).encode()


def json_feed(entries: Sequence[Entry]) -> bytes:
    return orjson.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "东莞发布",
            "items": [
                {
                    "id": e.url,
                    "url": e.url,
                    "title": e.title,
                    "summary": e.summary,
                    "date_published": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(e.published)),
                }
                for e in entries
            ],
        }
    )


@dataclass
class Feed:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    served_at: list[float] = field(default_factory=list)  # monotonic times of 200 answers


class FeedServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.feeds: dict[str, Feed] = {}
        self.redirects: dict[str, str] = {}
        self.hits: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        self._stop = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    async def start(self) -> FeedServer:
        app = web.Application()
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/huge", self._huge)
        app.router.add_get("/500", self._error)
        app.router.add_get("/loop", self._loop)
        app.router.add_get("/external.dtd", self._dtd)
        app.router.add_get("/{path:.*}", self._feed)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        self._stop.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FeedServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _feed(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits[path] += 1
        if path in self.redirects:
            raise web.HTTPFound(self.redirects[path])
        feed = self.feeds.get(path)
        if feed is None:
            return web.Response(status=404)
        if feed.etag is not None and request.headers.get("If-None-Match") == feed.etag:
            self.not_modified[path] += 1
            return web.Response(status=304, headers={"ETag": feed.etag})
        headers = {"Content-Type": feed.content_type}
        if feed.etag is not None:
            headers["ETag"] = feed.etag
        feed.served_at.append(time.monotonic())
        return web.Response(body=feed.body, headers=headers)

    async def _slow(self, request: web.Request) -> web.StreamResponse:
        self.hits["/slow"] += 1
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        await response.write(b'<?xml version="1.0"?><rss version="2.0"><channel>')
        await self._stop.wait()  # the body never completes while the test runs
        return response

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        self.hits["/huge"] += 1
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await response.prepare(request)
        chunk = b"<!-- padding -->" * 4096
        with contextlib.suppress(ConnectionError):
            for _ in range(10_000):  # 640 MB at most; the client gives up long before
                if self._stop.is_set():
                    break
                await response.write(chunk)
        return response

    async def _error(self, request: web.Request) -> web.StreamResponse:
        self.hits["/500"] += 1
        return web.Response(status=500, text="internal error")

    async def _loop(self, request: web.Request) -> web.StreamResponse:
        self.hits["/loop"] += 1
        raise web.HTTPFound("/loop")

    async def _dtd(self, request: web.Request) -> web.StreamResponse:
        self.hits["/external.dtd"] += 1
        return web.Response(text='<!ENTITY leak "leaked">', content_type="application/xml-dtd")


class Collected:
    """A publisher whose announcements are kept, for tests that run jobs without a hub."""

    def __init__(self, events: EventStore) -> None:
        self.announced: list[Event] = []
        self.publisher = Publisher(events, self.announced.extend)


@contextlib.asynccontextmanager
async def monitor_store(backend: str, tmp_path: Path) -> AsyncIterator[tuple[MonitorStore, EventStore, str]]:
    """An open monitor store and event store on ``backend``, with units seeded; yields them and the URL."""
    from rooms.seed import units

    if backend == "sqlite":
        from rooms.sqlite_directory import SqliteDirectory
        from rooms.sqlite_events import SqliteEventStore
        from rooms.sqlite_monitor import SqliteMonitor

        path = tmp_path / "monitor.sqlite3"
        stores: tuple[Any, Any, Any] = (SqliteMonitor(path), SqliteEventStore(path), SqliteDirectory(path))
        async with _opened(*stores):
            await stores[2].put_units(units())
            yield stores[0], stores[1], f"sqlite:///{path}"
        return
    async with postgres_schema() as url:
        from rooms.postgres_directory import PostgresDirectory
        from rooms.postgres_events import PostgresEventStore
        from rooms.postgres_monitor import PostgresMonitor

        stores = (PostgresMonitor(url), PostgresEventStore(url), PostgresDirectory(url))
        async with _opened(*stores):
            await stores[2].put_units(units())
            yield stores[0], stores[1], url


@contextlib.asynccontextmanager
async def _opened(*parts: Any) -> AsyncIterator[None]:
    opened = []
    try:
        for part in parts:
            await part.open()
            opened.append(part)
        yield
    finally:
        for part in reversed(opened):
            await part.close()


class WorkerProcess(HubProcess):
    """``tongpin worker NAME...`` as a real process, on port 0: the tests' hub launcher, another command.

    Only ``start`` is its own; stopping, killing and the log are the launcher's.
    """

    BASE_ENV: ClassVar[dict[str, str]] = {"TONGPIN_LOG_LEVEL": "info"}

    def __init__(self, data_dir: Path, jobs: Sequence[str], env: dict[str, str]) -> None:
        super().__init__(data_dir, (), env)
        self.jobs = list(jobs)

    def start(self, port: int = 0, within: float = 30.0) -> Self:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.data_dir / f"worker-{time.monotonic_ns()}.log"
        self.logs.append(log_path)
        cmd = [sys.executable, "-m", "hub.cli", "worker", *self.jobs]
        cmd += ["--worker-port", str(port), "--data-dir", str(self.data_dir)]
        with log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=log)
        line = self._first_line(time.monotonic() + within)
        match = LISTENING.search(line)
        if match is None:
            self.stop()
            raise RuntimeError(f"worker did not start: {line!r}\n{self.log()}")
        self.port = int(match.group(2))
        return self

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=5) as http:
            return await http.get(f"http://127.0.0.1:{self.port}{path}")

    async def lease_held(self, job: str) -> bool:
        return lease_held((await self.get("/metrics")).text, job)


def lease_held(metrics_text: str, job: str) -> bool:
    """Whether a ``/metrics`` text says this instance holds ``job``'s lease."""
    return any(
        line.startswith("tongpin_worker_lease_held{") and f'job="{job}"' in line and line.endswith(" 1")
        for line in metrics_text.splitlines()
    )
