"""RFC 7009 token revocation.

A client may revoke only its own tokens. Revoking a refresh token revokes its whole family; revoking an access
token records its ``jti`` until it would have expired (resource servers consult the list). The answer is 200
whether or not the token was known (RFC 7009 §2.2), so the endpoint cannot be used to probe for tokens.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from drawbridge.auth_server.context import AuthServer
from drawbridge.auth_server.digests import digest
from drawbridge.auth_server.errors import InvalidRequest, OAuthError
from drawbridge.auth_server.forms import read_form
from drawbridge.auth_server.models import Client
from drawbridge.auth_server.responses import NO_STORE, oauth_error
from drawbridge.keys.access_token import InvalidAccessToken

REFRESH_PREFIX = "drt_"


class RevocationEndpoint:
    """``POST /revoke``."""

    def __init__(self, server: AuthServer) -> None:
        self._server = server

    async def handle(self, request: Request) -> Response:
        authorization = request.headers.get("authorization")
        try:
            form = await read_form(request)
            client = await self._server.clients.authenticate(form, authorization)
            token = form.get("token")
            if not token:
                raise InvalidRequest("token is required")
        except OAuthError as exc:
            return oauth_error(exc, basic_attempted=bool(authorization))
        if token.startswith(REFRESH_PREFIX):
            user_id = await self._revoke_refresh(token, client)
        else:
            user_id = await self._revoke_access(token, client)
        await self._server.audit.record(
            "token.revoked",
            user_id=user_id,
            client_id=client.client_id,
            client_kind=client.kind,
            outcome="ok" if user_id else "error",
            reason=None if user_id else "unknown_token",  # RFC 7009: still 200, but the trail says nothing matched
            detail={"token_type": "refresh_token" if token.startswith(REFRESH_PREFIX) else "access_token"},
        )
        return Response(status_code=200, headers=NO_STORE)

    async def _revoke_refresh(self, token: str, client: Client) -> str | None:
        """The user whose refresh family was revoked, or None when the token was not this client's."""
        record = await self._server.grants.get_refresh(digest(token))
        if record is None or record.client_id != client.client_id:
            return None
        await self._server.grants.revoke_family(record.family_id, self._server.clock.now())
        return record.user_id

    async def _revoke_access(self, token: str, client: Client) -> str | None:
        try:
            claims = self._server.verifier.verify(token, audience=None)
        except InvalidAccessToken:
            return None
        if claims.client_id != client.client_id:
            return None
        await self._server.grants.revoke_access_token(claims.jwt_id, claims.expires_at)
        return claims.subject
