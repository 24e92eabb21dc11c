"""The authorization endpoint (OAuth 2.1 §4.1.1, RFC 7636, RFC 8707, RFC 9207).

Threats: codes sent to an attacker's redirect URI (the client and redirect URI are checked first, and errors
about them are shown on our own page, never redirected: OAuth 2.1 §4.1.2.1); code interception (PKCE S256 is
mandatory); tokens usable at another resource (``resource`` must name the resource this server protects);
mix-up attacks (``iss`` in every response, RFC 9207); parameter smuggling (a parameter given twice is refused).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from drawbridge.auth_server import pkce, redirect_uris
from drawbridge.auth_server.context import AuthServer
from drawbridge.auth_server.digests import digest
from drawbridge.auth_server.errors import (
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    OAuthError,
    UnsupportedResponseType,
)
from drawbridge.auth_server.models import Client
from drawbridge.auth_server.sessions import signed_in_user
from drawbridge.storage.repositories import AuthorizationCodeRecord, AuthorizationRequestRecord, ConsentRecord

_SINGLE_VALUED = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "resource",
)
# Clients add offline_access to ask for refresh tokens; we decide that by the client's grant types instead.
_IGNORED_SCOPES = frozenset({"offline_access"})


class AuthorizeEndpoint:
    """``GET /authorize``."""

    def __init__(self, server: AuthServer) -> None:
        self._server = server

    async def handle(self, request: Request) -> Response:
        params = request.query_params
        try:
            if any("\x00" in value for _, value in params.multi_items()):
                raise InvalidRequest("parameters must not contain NUL characters")
            client, redirect_uri = await self._client_and_redirect(params)
        except OAuthError as exc:
            return error_page(self._server, request, exc)
        state = params.get("state")
        try:
            pending = self._validate(params, client, redirect_uri)
        except OAuthError as exc:
            return RedirectResponse(error_redirect(self._server, redirect_uri, exc, state), status_code=302)
        await self._server.grants.add_request(pending)
        user = await signed_in_user(self._server, request)
        step = "/consent" if user else "/login"
        return RedirectResponse(f"{step}?{urlencode({'request': pending.id})}", status_code=303)

    async def _client_and_redirect(self, params: QueryParams) -> tuple[Client, str]:
        for name in ("client_id", "redirect_uri"):
            if len(params.getlist(name)) > 1:
                raise InvalidRequest(f"{name} given more than once")
        client_id = params.get("client_id")
        if not client_id:
            raise InvalidRequest("client_id is required")
        client = await self._server.clients.get(client_id)
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None:
            if len(client.redirect_uris) != 1:
                raise InvalidRequest("redirect_uri is required")
            redirect_uri = client.redirect_uris[0]
        if not redirect_uris.matches(client.redirect_uris, redirect_uri):
            raise InvalidRequest("redirect_uri is not registered for this client")
        return client, redirect_uri

    def _validate(self, params: QueryParams, client: Client, redirect_uri: str) -> AuthorizationRequestRecord:
        for name in _SINGLE_VALUED:
            if len(params.getlist(name)) > 1:
                raise InvalidRequest(f"{name} given more than once")
        if params.get("response_type") != "code":
            raise UnsupportedResponseType("response_type must be code")
        if "authorization_code" not in client.grant_types:
            raise InvalidRequest("client may not use the authorization_code grant")
        challenge = pkce.validate_challenge(params.get("code_challenge"), params.get("code_challenge_method"))
        state = params.get("state")
        if state is not None and len(state) > 1024:
            raise InvalidRequest("state is too long")
        resource = params.get("resource")
        if not resource:
            raise InvalidTarget("resource is required (RFC 8707)")
        if resource != self._server.config.resource:
            raise InvalidTarget("unknown resource")
        return AuthorizationRequestRecord(
            id=secrets.token_urlsafe(24),
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scope=" ".join(self._scopes(params.get("scope"), client)),
            state=state,
            code_challenge=challenge,
            resource=resource,
            expires_at=self._server.clock.now() + self._server.config.request_ttl,
            redirect_uri_given="redirect_uri" in params,
        )

    def _scopes(self, requested: str | None, client: Client) -> list[str]:
        """The scopes to ask the user for.

        A registration's ``scope`` is not a ceiling: MCP clients register with the first scope they were challenged
        for and later step up to the union (MCP authorization, scope challenge handling). Least privilege comes from
        the user's consent, per scope, and from each tool declaring what it needs.
        """
        config = self._server.config
        names = [s for s in (requested or "").split() if s not in _IGNORED_SCOPES]
        if not names:
            registered = client.scope.split() if client.scope else []
            names = [s for s in registered if s in config.scopes] or list(config.default_scopes)
        unknown = sorted(set(names) - set(config.scopes))
        if unknown:
            raise InvalidScope(f"unknown scope: {' '.join(unknown)}")
        if not names:
            raise InvalidScope("no scope requested and none available by default")
        return list(dict.fromkeys(names))


async def issue_code(
    server: AuthServer, pending: AuthorizationRequestRecord, user_id: str, scopes: list[str]
) -> RedirectResponse:
    """Issue a single-use code for an approved request and send the user agent back to the client."""
    code = "dac_" + secrets.token_urlsafe(32)
    now = server.clock.now()
    await server.grants.add_code(
        AuthorizationCodeRecord(
            code_hash=digest(code),
            client_id=pending.client_id,
            user_id=user_id,
            redirect_uri=pending.redirect_uri,
            scope=" ".join(scopes),
            resource=pending.resource,
            code_challenge=pending.code_challenge,
            expires_at=now + server.config.code_ttl,
            redirect_uri_given=pending.redirect_uri_given,
        )
    )
    params = {"code": code, **({"state": pending.state} if pending.state is not None else {})}
    params["iss"] = server.config.issuer
    return RedirectResponse(with_query(pending.redirect_uri, params), status_code=303)


async def remember_consent(server: AuthServer, user_id: str, client_id: str, scopes: list[str]) -> None:
    """Remember the granted scopes (added to any granted before) so the user is not asked again."""
    existing = await server.sessions.get_consent(user_id, client_id)
    granted = dict.fromkeys([*(existing.scope.split() if existing else []), *scopes])
    await server.sessions.put_consent(
        ConsentRecord(user_id=user_id, client_id=client_id, scope=" ".join(granted), granted_at=server.clock.now())
    )


def error_redirect(server: AuthServer, redirect_uri: str, error: OAuthError, state: str | None) -> str:
    """The redirect URI carrying an RFC 6749 §4.1.2.1 error, with ``state`` and RFC 9207 ``iss``."""
    params = error.as_json()
    if state is not None:
        params["state"] = state
    params["iss"] = server.config.issuer
    return with_query(redirect_uri, params)


def error_page(server: AuthServer, request: Request, error: OAuthError, status_code: int = 400) -> Response:
    """Show an error on our own page: used when redirecting to the client would not be safe."""
    return server.browser.render(
        request,
        "error.html",
        {"error": error.error, "message": error.description or error.error},
        status_code=status_code,
    )


def with_query(uri: str, params: Mapping[str, str]) -> str:
    """``uri`` with ``params`` appended to its query, keeping the query it already has."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))
