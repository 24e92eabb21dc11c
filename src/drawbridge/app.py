"""The composition root: builds every component from settings and wires them into one Starlette app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import structlog
from argon2 import PasswordHasher
from mcp.server.mcpserver import MCPServer
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk._logs import LoggerProvider
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from drawbridge.audit import AuditStore, AuditUnavailable, AuditWriter
from drawbridge.audit.otel import otlp_log_sink
from drawbridge.auth_server.audit import AuthAudit
from drawbridge.auth_server.browser import Browser
from drawbridge.auth_server.client_metadata import build_client_metadata_resolver
from drawbridge.auth_server.clients import ClientRegistry, static_client
from drawbridge.auth_server.config import AuthServerConfig
from drawbridge.auth_server.context import AuthServer
from drawbridge.auth_server.housekeeping import run_housekeeping
from drawbridge.auth_server.models import TOKEN_EXCHANGE
from drawbridge.auth_server.registration import ClientRegistrar
from drawbridge.auth_server.routes import PUBLIC_CORS, auth_server_routes
from drawbridge.clock import Clock, SystemClock
from drawbridge.edge.body_limit import BodyLimitMiddleware
from drawbridge.edge.header_limit import HeaderLimitMiddleware
from drawbridge.edge.headers import SecurityHeadersMiddleware
from drawbridge.edge.limits_middleware import AddressRateLimitMiddleware
from drawbridge.edge.rate_limit import LimiterUnavailable, RateLimits
from drawbridge.errors import ConfigError
from drawbridge.exchange import DownstreamApis, TokenExchanger
from drawbridge.exchange.client import Api
from drawbridge.guard.access import AccessPolicy
from drawbridge.guard.audit import AuditObserver
from drawbridge.guard.masking import OutputMasking
from drawbridge.identity import UserDirectory, UserExists
from drawbridge.keys import KeyStore
from drawbridge.keys.access_token import AccessTokenIssuer, AccessTokenVerifier
from drawbridge.masking import KINDS, InvalidMaskingRule
from drawbridge.policy import CedarPolicyEngine, PolicyError
from drawbridge.resource_server.endpoint import McpEndpoint, build_mcp_endpoint
from drawbridge.resource_server.routes import resource_server_routes
from drawbridge.resource_server.tokens import TokenValidator
from drawbridge.settings import Settings
from drawbridge.storage import migrate
from drawbridge.storage.database import Reader, create_engine, ping
from drawbridge.storage.repositories import ClientRepository
from drawbridge.storage.sql import (
    SqlClientRepository,
    SqlGrantRepository,
    SqlSessionRepository,
    SqlSigningKeyRepository,
    SqlUserRepository,
)
from drawbridge.telemetry.metrics import configure_metrics
from drawbridge.telemetry.tracing import configure_tracing, instrument_http_client
from drawbridge.tools import Toolset, ToolsetContext
from drawbridge.tools.loader import load_factory

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class McpOptions:
    """Programmatic options of the MCP endpoint that no configuration file can set.

    ``bearer_auth=False`` and ``configure`` exist for the conformance test profile (tests/conformance), whose
    suite cannot send tokens and expects its own SDK-level fixtures. The CLI never passes them.
    """

    bearer_auth: bool = True
    configure: Callable[[MCPServer], None] | None = None


@dataclass(frozen=True)
class Components:
    """The long-lived parts of a running Drawbridge, built once per process."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    reader: Reader
    keys: KeyStore
    users: UserDirectory
    clients: ClientRepository
    auth_server: AuthServer
    toolset: Toolset
    mcp: McpEndpoint
    http: httpx.AsyncClient
    policy: CedarPolicyEngine | None
    audit: AuditWriter
    limits: RateLimits
    audit_logs: LoggerProvider | None = None  # shut down after the writer stops, so its last records are exported


def build_components(
    settings: Settings, *, clock: Clock | None = None, mcp_options: McpOptions | None = None
) -> Components:
    """Construct the components; the only I/O is reading the policy files (the app's lifespan does the rest)."""
    clock = clock or SystemClock()
    engine = create_engine(settings.database_url, schema=settings.storage.schema_name)
    keys = KeyStore(
        SqlSigningKeyRepository(engine),
        settings.keys,
        # A retired key is published for as long as tokens it signed can live, plus clock-skew slack.
        retired_key_ttl=settings.tokens.access_token_ttl + 300,
        clock=clock,
    )
    users = _build_users(settings, engine, clock)
    clients = SqlClientRepository(engine)
    reader = Reader(engine)
    context = ToolsetContext(
        engine=engine,
        reader=reader,
        clock=clock,
        dev=settings.server.dev,
        base_url=settings.base_url,
        issuer=settings.issuer,
    )
    toolset = load_factory(settings.mcp.toolset)(context)
    # The MCP server's own confidential client, for RFC 8693 exchanges (a per-process secret unless configured).
    exchange_secret = _exchange_secret(settings)
    limits = RateLimits(settings.rate_limits)
    audit, log_provider = _audit_writer(settings, engine, clock)
    auth_server = _build_auth_server(
        settings,
        AuthServerConfig.from_settings(
            settings,
            resource_scopes=tuple(sorted(toolset.scopes())),
            baseline_scopes=tuple(sorted(toolset.baseline_scopes())),
            scope_descriptions=toolset.scope_descriptions,
        ),
        engine=engine,
        keys=keys,
        users=users,
        client_repository=clients,
        exchange_secret=exchange_secret,
        clock=clock,
        audit=AuthAudit(audit, clock),
        limits=limits,
    )
    policy = access_policy(settings, toolset, clock)
    http = httpx.AsyncClient(timeout=10, follow_redirects=False, trust_env=False)
    guard = GuardLayers(
        masking=output_masking(settings, toolset),
        policy=AccessPolicy(policy) if policy is not None else None,
        audit=audit,
    )
    mcp = _build_mcp(
        settings, toolset, auth_server, keys, http, exchange_secret, clock, mcp_options or McpOptions(), guard, limits
    )
    return Components(
        settings=settings,
        clock=clock,
        engine=engine,
        reader=reader,
        keys=keys,
        users=users,
        clients=clients,
        auth_server=auth_server,
        toolset=toolset,
        mcp=mcp,
        http=http,
        policy=policy,
        audit=audit,
        limits=limits,
        audit_logs=log_provider,
    )


def _audit_writer(settings: Settings, engine: AsyncEngine, clock: Clock) -> tuple[AuditWriter, LoggerProvider | None]:
    """The audit writer, with its extra sinks: the JSON-lines file and, when asked, OpenTelemetry logs."""
    store = AuditStore(engine, clock=clock, retention_days=settings.audit.retention_days)
    config = settings.audit
    if not config.otel_logs:
        return AuditWriter.from_settings(store, config), None
    endpoint = settings.telemetry.otlp_endpoint
    if endpoint is None:
        raise ConfigError("invalid config: audit.otel_logs needs telemetry.otlp_endpoint")
    sink, provider = otlp_log_sink(endpoint, settings.telemetry.service_name)
    return AuditWriter.from_settings(store, config, extra_sinks=[sink]), provider


@dataclass(frozen=True)
class GuardLayers:
    """What the guard applies around every call besides scopes and schemas."""

    masking: OutputMasking | None
    policy: AccessPolicy | None
    audit: AuditWriter


def guard_observer(settings: Settings, guard: GuardLayers, clock: Clock) -> AuditObserver:
    """Every MCP request the guard decides is recorded in the audit trail (fail closed unless configured not to)."""
    return AuditObserver(
        guard.audit, clock=clock, masking=guard.masking, max_value_chars=settings.audit.max_value_chars
    )


def access_policy(settings: Settings, toolset: Toolset, clock: Clock) -> CedarPolicyEngine | None:
    """The access policy engine, from ``[policy] directory`` or the toolset's own policies.

    Fails closed: with policy enabled and no policies anywhere, the server does not start. Switching policy off
    is the operator's explicit choice, logged loudly.

    Raises:
        ConfigError: no policies, or a policy file is unreadable, malformed or names what the toolset lacks
            (one line per problem, with file and line).
    """
    if not settings.policy.enabled:
        log.warning("policy_disabled", detail="tools are authorised by OAuth scopes alone")
        return None
    directory = settings.policy.directory or toolset.policy_directory
    if directory is None:
        raise ConfigError(
            "invalid config: policy: no access policies; set [policy] directory to a folder of *.cedar files "
            "(docs/policy.md), or enabled = false to serve on OAuth scopes alone"
        )
    try:
        return CedarPolicyEngine.load(directory, toolset, clock=clock, data_kinds=KINDS)
    except PolicyError as exc:
        problems = "\n".join(f"  {problem}" for problem in exc.problems)
        raise ConfigError(
            f"invalid config: policy: {len(exc.problems)} problem(s) in {directory}:\n{problems}"
        ) from exc


async def run_policy_reload(policy: CedarPolicyEngine, every: float) -> None:
    """Pick up edited policy files; a broken edit is logged and the previous policies keep serving."""
    while True:
        await asyncio.sleep(every)
        try:
            policy.reload_if_changed()
        except Exception:  # keep reloading: one unexpected failure must not freeze the policies for good
            log.exception("policy_reload_failed")


def _build_users(settings: Settings, engine: AsyncEngine, clock: Clock) -> UserDirectory:
    identity = settings.identity
    hasher = PasswordHasher(
        time_cost=identity.argon2_time_cost,
        memory_cost=identity.argon2_memory_kib,
        parallelism=identity.argon2_parallelism,
    )
    return UserDirectory(SqlUserRepository(engine), clock, hasher=hasher)


def output_masking(settings: Settings, toolset: Toolset) -> OutputMasking | None:
    """The configured masking of tool results (None when switched off, which is logged loudly)."""
    masking = settings.masking
    if not masking.enabled:
        log.warning("masking_disabled", detail="tool results reach agents unmasked")
        return None
    key = masking.pseudonym_key.get_secret_value().encode() if masking.pseudonym_key else None
    try:
        return OutputMasking(
            [*(t.name for t in toolset.tools), *(r.name for r in toolset.resources)],
            defaults=masking.defaults,
            fields=masking.fields,
            pseudonym_key=key,
        )
    except InvalidMaskingRule as exc:
        raise ConfigError(f"invalid config: masking: {exc}") from exc


def _exchange_secret(settings: Settings) -> str:
    configured = settings.exchange.client_secret
    if configured is not None:
        return configured.get_secret_value()
    log.info("exchange_client_secret_generated", client_id=settings.exchange.client_id, scope="this process only")
    return secrets.token_urlsafe(32)


def _build_mcp(  # noqa: PLR0917 - private wiring helper of the composition root
    settings: Settings,
    toolset: Toolset,
    auth_server: AuthServer,
    keys: KeyStore,
    http: httpx.AsyncClient,
    exchange_secret: str,
    clock: Clock,
    options: McpOptions,
    guard: GuardLayers,
    limits: RateLimits,
) -> McpEndpoint:
    validator = TokenValidator(
        auth_server.verifier,
        audience=settings.resource_url,
        revocations=auth_server.grants,
        reload_keys=keys.load,
        known_kids=keys.kids,
        clock=clock,
        revocation_check_seconds=settings.mcp.revocation_check_seconds,
    )
    exchanger = TokenExchanger(
        http,
        token_endpoint=settings.exchange.token_endpoint or f"{settings.issuer}/token",
        client_id=settings.exchange.client_id,
        client_secret=exchange_secret,
        clock=clock,
    )
    apis = {api.name: Api(api.name, settings.api_identifier(api)) for api in settings.exchange.apis}
    return build_mcp_endpoint(
        toolset,
        settings.mcp,
        resource=settings.resource_url,
        dev=settings.server.dev,
        validator=validator if options.bearer_auth else None,
        configure=options.configure,
        downstream=DownstreamApis(exchanger, http, apis),
        masking=guard.masking,
        policy=guard.policy,
        observer=guard_observer(settings, guard, clock),
        rate_limits=(
            (
                limits.limit("mcp_user", settings.rate_limits.mcp_per_user),
                limits.limit("mcp_client", settings.rate_limits.mcp_per_client),
            )
            if settings.rate_limits.enabled
            else None
        ),
        max_body_bytes=settings.server.max_body_bytes,
    )


def _build_auth_server(
    settings: Settings,
    config: AuthServerConfig,
    *,
    engine: AsyncEngine,
    keys: KeyStore,
    users: UserDirectory,
    client_repository: ClientRepository,
    exchange_secret: str,
    clock: Clock,
    audit: AuthAudit,
    limits: RateLimits,
) -> AuthServer:
    metadata = (
        build_client_metadata_resolver(settings.auth.client_metadata, clock, dev=settings.server.dev, audit=audit)
        if config.client_metadata_enabled
        else None
    )
    return AuthServer(
        config=config,
        clock=clock,
        clients=ClientRegistry(
            client_repository,
            metadata,
            static={
                settings.exchange.client_id: static_client(
                    settings.exchange.client_id,
                    exchange_secret,
                    name="Drawbridge MCP server",
                    grant_types=(TOKEN_EXCHANGE,),
                )
            },
        ),
        registrar=ClientRegistrar(
            client_repository, settings.auth.registration, supported_scopes=config.scopes, clock=clock
        ),
        grants=SqlGrantRepository(engine),
        sessions=SqlSessionRepository(engine),
        users=users,
        tokens=AccessTokenIssuer(keys, issuer=config.issuer, ttl=config.access_token_ttl, clock=clock),
        verifier=AccessTokenVerifier(keys.key_set, issuer=config.issuer, clock=clock),
        browser=Browser(secure=config.secure_cookies, issuer=config.issuer),
        registration_limit=limits.limit("register", settings.auth.registration.rate_limit),
        audit=audit,
    )


async def start(components: Components) -> None:
    """Migrate the schema (when configured), load the signing keys, start the toolset, create --dev users."""
    if components.settings.storage.migrate_on_start:
        await migrate.upgrade(components.engine)
    await components.keys.load()
    if components.toolset.on_start is not None:
        await components.toolset.on_start()
    if components.settings.server.dev:
        await _ensure_dev_users(components)


async def stop(components: Components, background: list[asyncio.Task[None]]) -> None:
    """Stop the background tasks, commit the audit trail, then close every connection and give the heap back."""
    for task in background:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await components.audit.stop()  # commits what was accepted, before the engine goes
    components.audit.dispose()
    if components.audit_logs is not None:
        components.audit_logs.shutdown()
    await components.http.aclose()
    await components.limits.aclose()
    components.reader.dispose()
    await components.engine.dispose()
    if components.settings.server.freeze_startup_heap:
        _STARTUP_HEAP.thaw()  # an embedding process (tests, a host app) gets its collector back


async def _ensure_dev_users(components: Components) -> None:
    existing = {user.username for user in await components.users.list_users()}
    for user in components.toolset.dev_users:
        if user.username not in existing:
            with contextlib.suppress(UserExists):  # another replica created it first
                await components.users.add_user(user.username, user.password, user.roles)
            log.warning("dev_user_created", username=user.username, roles=list(user.roles))


def build_app(settings: Settings, *, clock: Clock | None = None, mcp_options: McpOptions | None = None) -> Starlette:
    """Build the ASGI application for ``settings``."""
    components = build_components(settings, clock=clock, mcp_options=mcp_options)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if settings.server.dev:
            log.warning("dev_mode_enabled", detail="plain http and loopback client URLs allowed; never in production")
        await start(components)
        await components.audit.start()
        if settings.server.freeze_startup_heap:
            _STARTUP_HEAP.freeze()
        log.info("drawbridge_started", base_url=settings.base_url, mcp_endpoint=settings.resource_url)
        housekeeping = asyncio.create_task(
            run_housekeeping(
                components.auth_server,
                components.clients,
                unused_client_ttl=settings.auth.registration.unused_client_ttl,
            )
        )
        background = [housekeeping]
        if components.policy is not None and settings.policy.reload_seconds > 0:
            background.append(asyncio.create_task(run_policy_reload(components.policy, settings.policy.reload_seconds)))
        try:
            async with components.mcp.lifespan():
                yield
        finally:
            await stop(components, background)

    tracing = configure_tracing(settings.telemetry)
    if tracing:
        instrument_http_client(components.http)
    metrics_on = configure_metrics(settings.telemetry)
    middleware = [
        Middleware(SecurityHeadersMiddleware, hsts=settings.base_url.startswith("https://")),
        Middleware(HeaderLimitMiddleware, max_bytes=settings.server.max_header_bytes),
        *_edge_limits(settings, components.limits),
        Middleware(
            BodyLimitMiddleware,
            max_bytes=settings.server.max_body_bytes,
            timeout=settings.server.body_timeout_seconds,
        ),
    ]
    if settings.server.trusted_proxies:
        # X-Forwarded-For/-Proto are believed from these addresses only; from anyone else they are ignored.
        middleware.insert(0, Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.server.trusted_proxies)))
    if tracing:
        # Outermost, so the HTTP server span (parent from the request's traceparent) covers everything else.
        middleware.insert(
            0,
            Middleware(
                OpenTelemetryMiddleware, excluded_urls="healthz,readyz,metrics", exclude_spans=["receive", "send"]
            ),
        )
    app = Starlette(
        routes=[
            *_operational_routes(components),
            *([Route("/metrics", _prometheus, methods=["GET"])] if metrics_on else []),
            *auth_server_routes(components.auth_server),
            *resource_server_routes(components.settings, components.toolset, components.mcp),
            *components.toolset.routes,
        ],
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={AuditUnavailable: _audit_unavailable, LimiterUnavailable: _limiter_unavailable},
    )
    app.state.components = components
    return app


class _StartupHeap:
    """Moves everything alive after start-up into the collector's permanent generation (gc.freeze).

    The start-up heap (SDK and pydantic models, SQLAlchemy, Cedar, OpenTelemetry: ~150 MiB) otherwise gets
    rescanned by every full collection, which under load pauses all requests for ~100 ms at a time; measured, p99
    at 20 sessions fell from 140 ms to 31 ms (docs/decisions/0014). Freezing is process-wide, so this counts the
    running apps: the last one to stop unfreezes, and never when the host process had frozen objects of its own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # apps can start and stop in different threads (an embedding host, tests)
        self._running = 0
        self._host_froze = False

    def freeze(self) -> None:
        with self._lock:
            if self._running == 0:
                self._host_froze = gc.get_freeze_count() > 0
            self._running += 1
            gc.collect()  # first, so no garbage is frozen
            gc.freeze()

    def thaw(self) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0 and not self._host_froze:
                gc.unfreeze()


_STARTUP_HEAP = _StartupHeap()


def _edge_limits(settings: Settings, limits: RateLimits) -> list[Middleware]:
    """Per-address limits on the authorization server's endpoints (registration limits itself)."""
    config = settings.rate_limits
    if not config.enabled:
        log.warning("rate_limits_disabled", detail="no per-address, per-user or per-client limits")
        return []
    rules = {
        ("POST", "/token"): limits.limit("token", config.token_per_address),
        ("GET", "/authorize"): limits.limit("authorize", config.authorize_per_address),
        ("POST", "/login"): limits.limit("login", config.login_per_address),
    }
    return [Middleware(AddressRateLimitMiddleware, rules=rules, html_paths=frozenset({"/authorize", "/login"}))]


def _temporarily_unavailable(description: str) -> Callable[[Request, Exception], Awaitable[Response]]:
    """A 503 handler for a dependency that fails closed: the request is refused, to be retried later."""

    async def handler(_request: Request, _exc: Exception) -> Response:
        return JSONResponse(
            {"error": "temporarily_unavailable", "error_description": description},
            status_code=503,
            headers={"Retry-After": "5", "Cache-Control": "no-store"},
        )

    return handler


# What could not be recorded did not happen, as far as the client is told.
_audit_unavailable = _temporarily_unavailable("the audit trail is unavailable; try again later")
# Without its counters, a limited endpoint refuses rather than letting everything through.
_limiter_unavailable = _temporarily_unavailable("rate limiting is unavailable; try again later")


async def _prometheus(_request: Request) -> Response:
    """The Prometheus scrape endpoint; expose it to the scraper only (see docs/observability.md)."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


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
