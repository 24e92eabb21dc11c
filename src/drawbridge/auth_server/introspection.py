"""RFC 7662 token introspection, for resource servers that cannot verify our JWTs themselves.

Only confidential clients may introspect: an unauthenticated endpoint would let anyone test stolen tokens.
Anyone can register a confidential client through DCR, so an operator should list the resource servers it trusts
in ``auth.introspection_clients``: then only those see other clients' tokens, and every other client sees only its
own. Inactive, unknown, expired, revoked and not-yours tokens all answer the same ``{"active": false}``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from drawbridge.auth_server.context import AuthServer
from drawbridge.auth_server.digests import digest
from drawbridge.auth_server.errors import InvalidClient, InvalidRequest, OAuthError
from drawbridge.auth_server.forms import read_form
from drawbridge.auth_server.responses import oauth_error, oauth_json
from drawbridge.auth_server.revocation import REFRESH_PREFIX
from drawbridge.keys.access_token import InvalidAccessToken

INACTIVE: dict[str, Any] = {"active": False}


class IntrospectionEndpoint:
    """``POST /introspect``."""

    def __init__(self, server: AuthServer) -> None:
        self._server = server

    async def handle(self, request: Request) -> Response:
        authorization = request.headers.get("authorization")
        try:
            form = await read_form(request)
            client = await self._server.clients.authenticate(form, authorization)
            if not client.confidential:
                raise InvalidClient("introspection requires client authentication")
            token = form.get("token")
            if not token:
                raise InvalidRequest("token is required")
        except OAuthError as exc:
            return oauth_error(exc, basic_attempted=bool(authorization))
        answer = await (self._refresh(token) if token.startswith(REFRESH_PREFIX) else self._access(token))
        allowed = self._server.config.introspection_clients
        privileged = not allowed or client.client_id in allowed
        if answer.get("active") and not privileged and answer.get("client_id") != client.client_id:
            answer = INACTIVE
        return oauth_json(answer)

    async def _access(self, token: str) -> dict[str, Any]:
        try:
            claims = self._server.verifier.verify(token, audience=None)
        except InvalidAccessToken:
            return INACTIVE
        if await self._server.grants.is_access_token_revoked(claims.jwt_id):
            return INACTIVE
        raw = claims.raw
        return {
            "active": True,
            "token_type": "Bearer",
            **{k: raw[k] for k in ("iss", "sub", "aud", "client_id", "scope", "exp", "iat", "nbf", "jti") if k in raw},
            **({"username": raw["preferred_username"]} if "preferred_username" in raw else {}),
        }

    async def _refresh(self, token: str) -> dict[str, Any]:
        record = await self._server.grants.get_refresh(digest(token))
        now = self._server.clock.now()
        if record is None or record.family_revoked or record.used_at is not None or record.expires_at <= now:
            return INACTIVE
        return {
            "active": True,
            "token_type": "refresh_token",
            "iss": self._server.config.issuer,
            "sub": record.user_id,
            "client_id": record.client_id,
            "scope": record.scope,
            "aud": record.resource,
            "iat": int(record.created_at),
            "exp": int(record.expires_at),
        }
