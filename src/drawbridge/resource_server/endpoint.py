"""The MCP endpoint: the official SDK's streamable HTTP transport (both protocol eras on one URL), behind the
edge checks, bearer authentication and the guard pipeline."""

from __future__ import annotations

import contextlib
import importlib.metadata
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware, get_access_token
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from drawbridge.edge.header_whitespace import HeaderWhitespaceMiddleware
from drawbridge.edge.limits_middleware import McpRateLimitMiddleware
from drawbridge.edge.origin import OriginMiddleware
from drawbridge.edge.rate_limit import RateLimit
from drawbridge.exchange import DownstreamApis
from drawbridge.guard import CallerSource, GuardMiddleware
from drawbridge.guard.access import AccessPolicy, verified_client_id
from drawbridge.guard.masking import OutputMasking
from drawbridge.guard.observe import CallObserver
from drawbridge.guard.pipeline import required_scopes
from drawbridge.resource_server.bearer import BearerMiddleware
from drawbridge.resource_server.protected_resource import metadata_url
from drawbridge.resource_server.tokens import TokenValidator
from drawbridge.settings import McpSettings
from drawbridge.tools import Caller, DownstreamCaller, Toolset

_MCP_HEADERS = ["Mcp-Session-Id", "MCP-Protocol-Version", "Mcp-Method", "Mcp-Name", "Last-Event-ID"]


@dataclass(frozen=True)
class McpEndpoint:
    """The ASGI app serving the MCP path, and the lifespan the SDK's session manager needs."""

    app: ASGIApp
    server: MCPServer
    lifespan: Callable[[], contextlib.AbstractAsyncContextManager[None]]


def caller_from_token() -> Caller | None:
    """The caller of the current request, from the token the bearer middleware verified."""
    token = get_access_token()
    if token is None or token.subject is None:
        return None
    claims = token.claims or {}
    return Caller(
        subject=token.subject,
        client_id=token.client_id,
        scopes=frozenset(token.scopes),
        roles=tuple(claims.get("roles") or ()),
        groups=tuple(claims.get("groups") or ()),
        username=claims.get("preferred_username"),
        client_verified=verified_client_id(token.client_id),
    )


def build_mcp_endpoint(
    toolset: Toolset,
    settings: McpSettings,
    *,
    resource: str,
    dev: bool,
    validator: TokenValidator | None,
    caller: CallerSource = caller_from_token,
    configure: Callable[[MCPServer], None] | None = None,
    downstream: DownstreamApis | None = None,
    masking: OutputMasking | None = None,
    policy: AccessPolicy | None = None,
    observer: CallObserver | None = None,
    rate_limits: tuple[RateLimit, RateLimit] | None = None,
    max_body_bytes: int,
) -> McpEndpoint:
    """Build the endpoint. ``validator=None`` serves without bearer auth: only for the conformance test profile.

    Args:
        configure: registers extra SDK-level fixtures (the conformance profile's); production passes None.
    """
    server = MCPServer(
        name="drawbridge",
        title="Drawbridge",
        instructions=toolset.instructions,
        version=_version(),
        log_level="WARNING",
    )
    server.middleware.append(
        GuardMiddleware(
            toolset,
            caller,
            sdk_tools=_sdk_tool_names(server),
            downstream=_downstream_for(downstream),
            masking=masking,
            policy=policy,
            observer=observer,
        )
    )
    if configure is not None:
        configure(server)
    allowed_hosts = [urlsplit(resource).netloc, *settings.allowed_hosts, *(_LOOPBACK_HOSTS if dev else [])]
    allowed_origins = [_origin(resource), *settings.allowed_origins]
    server.streamable_http_app(
        # The SDK's own Host/Origin check (otherwise localhost-only by default) gets the same explicit lists.
        transport_security=TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins
        ),
        streamable_http_path=urlsplit(resource).path,
        json_response=settings.json_response,
        stateless_http=settings.stateless,
        max_sessions=settings.max_sessions,
        session_idle_timeout=settings.session_idle_timeout,
        max_request_body_size=max_body_bytes,
    )
    app: ASGIApp = StreamableHTTPASGIApp(server.session_manager)
    if rate_limits is not None:  # inside bearer auth: keyed on the verified token's subject and client
        app = McpRateLimitMiddleware(app, per_user=rate_limits[0], per_client=rate_limits[1])
    app = AuthContextMiddleware(app)
    if validator is not None:
        app = BearerMiddleware(
            app,
            validator=validator,
            metadata_url=metadata_url(resource),
            challenge_scopes=toolset.baseline_scopes(),
            needed_scopes=lambda method, params: required_scopes(toolset, method, params),
        )
    app = OriginMiddleware(app, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins)
    app = HeaderWhitespaceMiddleware(app)
    app = CORSMiddleware(
        app,
        allow_origins=list(settings.allowed_origins),
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", *_MCP_HEADERS],
        expose_headers=["Mcp-Session-Id", "WWW-Authenticate", "MCP-Protocol-Version"],
        max_age=600,
    )

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        async with server.session_manager.run():
            yield

    return McpEndpoint(app=app, server=server, lifespan=lifespan)


_LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]


def _downstream_for(apis: DownstreamApis | None) -> Callable[[Caller], DownstreamCaller | None]:
    """Downstream calls act for the request's user with their (verified) token as the subject token only."""

    def bind(caller: Caller) -> DownstreamCaller | None:
        token = get_access_token()
        if apis is None or token is None or token.subject != caller.subject:
            return None
        return apis.for_user(caller.subject, token.token)

    return bind


def _sdk_tool_names(server: MCPServer) -> Callable[[], Awaitable[set[str]]]:
    """Names of tools registered on the SDK directly (only the conformance profile's fixtures)."""

    async def names() -> set[str]:
        return {tool.name for tool in await server.list_tools()}

    return names


def _version() -> str:
    try:
        return importlib.metadata.version("mcp-drawbridge")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
