"""The composition root: builds every component from settings and wires them into one Starlette app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from drawbridge.clock import Clock, SystemClock
from drawbridge.keys import KeyStore
from drawbridge.settings import Settings
from drawbridge.storage import migrate
from drawbridge.storage.database import create_engine, ping
from drawbridge.storage.sql import SqlSigningKeyRepository

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Components:
    """The long-lived parts of a running Drawbridge, built once per process."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    keys: KeyStore


def build_components(settings: Settings, *, clock: Clock | None = None) -> Components:
    """Construct the components without doing any I/O (the app's lifespan does that)."""
    clock = clock or SystemClock()
    engine = create_engine(settings.database_url, schema=settings.storage.schema_name)
    keys = KeyStore(
        SqlSigningKeyRepository(engine),
        settings.keys,
        # A retired key is published for as long as tokens it signed can live, plus clock-skew slack.
        retired_key_ttl=settings.tokens.access_token_ttl + 300,
        clock=clock,
    )
    return Components(settings=settings, clock=clock, engine=engine, keys=keys)


async def start(components: Components) -> None:
    """Migrate the schema (when configured) and load the signing keys."""
    if components.settings.storage.migrate_on_start:
        await migrate.upgrade(components.engine)
    await components.keys.load()


def build_app(settings: Settings, *, clock: Clock | None = None) -> Starlette:
    """Build the ASGI application for ``settings``."""
    components = build_components(settings, clock=clock)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if settings.server.dev:
            log.warning("dev_mode_enabled", detail="plain http and loopback client URLs allowed; never in production")
        await start(components)
        log.info("drawbridge_started", base_url=settings.base_url)
        try:
            yield
        finally:
            await components.engine.dispose()

    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> JSONResponse:
        if await ping(components.engine):
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable", "checks": {"database": "down"}}, status_code=503)

    async def jwks(_request: Request) -> JSONResponse:
        return JSONResponse(components.keys.jwks(), headers={"Cache-Control": "public, max-age=300"})

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/jwks", jwks, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.components = components
    return app
