"""The token endpoint (OAuth 2.1 §3.2): authenticate the client, then hand the request to its grant."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from drawbridge.audit import EventKind
from drawbridge.auth_server.audit import token_claims
from drawbridge.auth_server.context import AuthServer
from drawbridge.auth_server.errors import InvalidRequest, OAuthError, UnauthorizedClient, UnsupportedGrantType
from drawbridge.auth_server.forms import read_form
from drawbridge.auth_server.grants import Grant
from drawbridge.auth_server.responses import oauth_error, oauth_json
from drawbridge.telemetry.metrics import client_label, tokens_issued


class TokenEndpoint:
    """``POST /token``."""

    def __init__(self, server: AuthServer, grants: Mapping[str, Grant]) -> None:
        self._server = server
        self._grants = grants

    async def handle(self, request: Request) -> Response:
        authorization = request.headers.get("authorization")
        try:
            form = await read_form(request)
            client = await self._server.clients.authenticate(form, authorization)
            grant_type = form.get("grant_type")
            if not grant_type:
                raise InvalidRequest("grant_type is required")
            grant = self._grants.get(grant_type)
            if grant is None:
                raise UnsupportedGrantType(f"unsupported grant_type {grant_type[:64]!r}")
            if grant_type not in client.grant_types:
                raise UnauthorizedClient("the client may not use this grant type")
            body = await grant.exchange(form, client)
        except OAuthError as exc:
            return oauth_error(exc, basic_attempted=bool(authorization))
        await self._server.clients.touch(client, self._server.clock.now())
        label = _GRANT_LABELS.get(grant_type, "other")
        tokens_issued.add(1, {"grant_type": label, "client": client_label(client.client_id)})
        claims = token_claims(str(body.get("access_token", "")))
        await self._server.audit.record(
            _GRANT_EVENTS.get(grant_type, "token.issued"),
            user_id=claims.get("sub"),
            username=claims.get("preferred_username"),
            client_id=client.client_id,
            client_kind=client.kind,
            detail={
                "grant_type": label,
                "scope": body.get("scope"),
                "audience": claims.get("aud"),
                "jti": claims.get("jti"),
                "refresh_token_issued": "refresh_token" in body,
            },
        )
        return oauth_json(body)


_GRANT_EVENTS: dict[str, EventKind] = {
    "authorization_code": "token.issued",
    "refresh_token": "token.refreshed",
    "urn:ietf:params:oauth:grant-type:token-exchange": "token.exchanged",
}
_GRANT_LABELS = {
    "authorization_code": "authorization_code",
    "refresh_token": "refresh_token",
    "urn:ietf:params:oauth:grant-type:token-exchange": "token_exchange",
}
