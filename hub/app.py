"""The ASGI application: routes and the lifespan that owns the ``Hub``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from hub import metrics
from hub.api import api_routes, exception_handlers
from hub.config import Settings
from hub.hocuspocus_endpoint import hocuspocus_endpoint
from hub.live_api import live_routes
from hub.live_endpoint import live_endpoint
from hub.monitor_api import monitor_routes
from hub.review_api import review_exception_handlers, review_routes
from hub.state import Hub
from hub.workflow_api import workflow_routes
from hub.yjs_endpoint import yjs_endpoint

__all__ = ["create_app"]

WEB_DIST = Path(__file__).resolve().parent.parent / "clients" / "web" / "dist"


async def healthz(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    health = hub.health()
    return JSONResponse(health, status_code=200 if health["status"] == "ok" else 503)


async def metrics_endpoint(request: Request) -> Response:
    return PlainTextResponse(metrics.render(request.app.state.hub), media_type="text/plain; version=0.0.4")


def create_app(settings: Settings, hub: Hub | None = None) -> Starlette:
    the_hub = hub if hub is not None else Hub(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with the_hub:
            yield

    routes: list[Route | WebSocketRoute | Mount] = [
        Route("/healthz", healthz),
        Route("/metrics", metrics_endpoint),
        WebSocketRoute("/yjs/{path:path}", yjs_endpoint),
        WebSocketRoute("/live", live_endpoint),
        WebSocketRoute("/hocuspocus", hocuspocus_endpoint),
        *live_routes(),
        *api_routes(),
        *workflow_routes(),
        *monitor_routes(),
        *review_routes(),
    ]
    if WEB_DIST.is_dir():
        routes.append(Mount("/", StaticFiles(directory=WEB_DIST, html=True)))
    handlers = {**exception_handlers(), **review_exception_handlers()}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.state.hub = the_hub
    return app
