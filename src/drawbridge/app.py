"""The composition root: builds every component from settings and wires them into one Starlette app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from drawbridge.auth_server.browser import Browser
from drawbridge.auth_server.client_metadata import build_client_metadata_resolver
from drawbridge.auth_server.clients import ClientRegistry
from drawbridge.auth_server.config import AuthServerConfig
from drawbridge.auth_server.context import AuthServer
from drawbridge.auth_server.housekeeping import run_housekeeping
from drawbridge.auth_server.registration import ClientRegistrar
from drawbridge.auth_server.routes import PUBLIC_CORS, auth_server_routes
from drawbridge.clock import Clock, SystemClock
from drawbridge.edge.body_limit import BodyLimitMiddleware
from drawbridge.edge.headers import SecurityHeadersMiddleware
from drawbridge.edge.rate_limit import RateLimit
from drawbridge.identity import UserDirectory
from drawbridge.keys import KeyStore
from drawbridge.keys.access_token import AccessTokenIssuer, AccessTokenVerifier
from drawbridge.settings import Settings
from drawbridge.storage import migrate
from drawbridge.storage.database import create_engine, ping
from drawbridge.storage.repositories import ClientRepository
from drawbridge.storage.sql import (
    SqlClientRepository,
    SqlGrantRepository,
    SqlSessionRepository,
    SqlSigningKeyRepository,
    SqlUserRepository,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Components:
    """The long-lived parts of a running Drawbridge, built once per process."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    keys: KeyStore
    users: UserDirectory
    clients: ClientRepository
    auth_server: AuthServer


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
    users = UserDirectory(SqlUserRepository(engine), clock)
    clients = SqlClientRepository(engine)
    return Components(
        settings=settings,
        clock=clock,
        engine=engine,
        keys=keys,
        users=users,
        clients=clients,
        auth_server=_build_auth_server(
            settings, engine=engine, keys=keys, users=users, client_repository=clients, clock=clock
        ),
    )


def _build_auth_server(
    settings: Settings,
    *,
    engine: AsyncEngine,
    keys: KeyStore,
    users: UserDirectory,
    client_repository: ClientRepository,
    clock: Clock,
) -> AuthServer:
    config = AuthServerConfig.from_settings(settings)
    metadata = (
        build_client_metadata_resolver(settings.auth.client_metadata, clock, dev=settings.server.dev)
        if config.client_metadata_enabled
        else None
    )
    return AuthServer(
        config=config,
        clock=clock,
        clients=ClientRegistry(client_repository, metadata),
        registrar=ClientRegistrar(
            client_repository, settings.auth.registration, supported_scopes=config.scopes, clock=clock
        ),
        grants=SqlGrantRepository(engine),
        sessions=SqlSessionRepository(engine),
        users=users,
        tokens=AccessTokenIssuer(keys, issuer=config.issuer, ttl=config.access_token_ttl, clock=clock),
        verifier=AccessTokenVerifier(keys.key_set, issuer=config.issuer, clock=clock),
        browser=Browser(secure=config.secure_cookies, issuer=config.issuer),
        registration_limit=RateLimit("register", settings.auth.registration.rate_limit),
    )


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
        log.info("drawbridge_started", base_url=settings.base_url, mcp_endpoint=settings.resource_url)
        housekeeping = asyncio.create_task(
            run_housekeeping(
                components.auth_server,
                components.clients,
                unused_client_ttl=settings.auth.registration.unused_client_ttl,
            )
        )
        try:
            yield
        finally:
            housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await housekeeping
            await components.engine.dispose()

    app = Starlette(
        routes=[*_operational_routes(components), *auth_server_routes(components.auth_server)],
        middleware=[
            Middleware(SecurityHeadersMiddleware, hsts=settings.base_url.startswith("https://")),
            Middleware(BodyLimitMiddleware, max_bytes=settings.server.max_body_bytes),
        ],
        lifespan=lifespan,
    )
    app.state.components = components
    return app


def _operational_routes(components: Components) -> list[BaseRoute]:
    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> JSONResponse:
        if await ping(components.engine):
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable", "checks": {"database": "down"}}, status_code=503)

    async def jwks(_request: Request) -> JSONResponse:
        return JSONResponse(components.keys.jwks(), headers={"Cache-Control": "public, max-age=300"})

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/jwks", jwks, methods=["GET", "OPTIONS"], middleware=PUBLIC_CORS),
    ]
