"""The authorization server's routes."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from drawbridge.auth_server.authorize import AuthorizeEndpoint
from drawbridge.auth_server.consent import ConsentEndpoint
from drawbridge.auth_server.context import AuthServer
from drawbridge.auth_server.grants import Grant
from drawbridge.auth_server.grants.authorization_code import AuthorizationCodeGrant
from drawbridge.auth_server.grants.refresh_token import RefreshTokenGrant
from drawbridge.auth_server.grants.token_exchange import TokenExchangeGrant
from drawbridge.auth_server.introspection import IntrospectionEndpoint
from drawbridge.auth_server.login import LoginEndpoint
from drawbridge.auth_server.metadata import authorization_server_metadata
from drawbridge.auth_server.models import TOKEN_EXCHANGE
from drawbridge.auth_server.registration import RegistrationEndpoint
from drawbridge.auth_server.revocation import RevocationEndpoint
from drawbridge.auth_server.token import TokenEndpoint

# Browser-based MCP clients (e.g. the MCP Inspector) call the back-channel endpoints with fetch(). They carry no
# cookies, so any origin may call them; the interactive pages are not CORS-enabled.
PUBLIC_CORS = [
    Middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "MCP-Protocol-Version"],
        allow_credentials=False,
        max_age=600,
    )
]


def auth_server_routes(server: AuthServer, *, extra_grants: dict[str, Grant] | None = None) -> list[BaseRoute]:
    """Every route of the authorization server."""
    grants: dict[str, Grant] = {
        "authorization_code": AuthorizationCodeGrant(server),
        "refresh_token": RefreshTokenGrant(server),
        TOKEN_EXCHANGE: TokenExchangeGrant(server),
        **(extra_grants or {}),
    }
    metadata = authorization_server_metadata(server.config, signing_algorithms=["RS256", "ES256"])

    async def serve_metadata(_request: Request) -> JSONResponse:
        return JSONResponse(metadata, headers={"Cache-Control": "public, max-age=3600"})

    authorize, login, consent = AuthorizeEndpoint(server), LoginEndpoint(server), ConsentEndpoint(server)
    routes: list[BaseRoute] = [
        *(
            Route(path, serve_metadata, methods=["GET", "OPTIONS"], middleware=PUBLIC_CORS)
            for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")
        ),
        Route("/authorize", authorize.handle, methods=["GET"]),
        Route("/login", login.show, methods=["GET"]),
        Route("/login", login.submit, methods=["POST"]),
        Route("/consent", consent.show, methods=["GET"]),
        Route("/consent", consent.submit, methods=["POST"]),
        Route("/token", TokenEndpoint(server, grants).handle, methods=["POST", "OPTIONS"], middleware=PUBLIC_CORS),
        Route("/revoke", RevocationEndpoint(server).handle, methods=["POST", "OPTIONS"], middleware=PUBLIC_CORS),
        Route("/introspect", IntrospectionEndpoint(server).handle, methods=["POST", "OPTIONS"], middleware=PUBLIC_CORS),
    ]
    if server.config.registration_enabled:
        endpoint = RegistrationEndpoint(server.registrar, server.registration_limit, server.audit)
        routes.append(Route("/register", endpoint.handle, methods=["POST", "OPTIONS"], middleware=PUBLIC_CORS))
    return routes
