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
            await self._revoke_refresh(token, client)
        else:
            await self._revoke_access(token, client)
        return Response(status_code=200, headers=NO_STORE)

    async def _revoke_refresh(self, token: str, client: Client) -> None:
        record = await self._server.grants.get_refresh(digest(token))
        if record is not None and record.client_id == client.client_id:
            await self._server.grants.revoke_family(record.family_id, self._server.clock.now())

    async def _revoke_access(self, token: str, client: Client) -> None:
        try:
            claims = self._server.verifier.verify(token, audience=None)
        except InvalidAccessToken:
            return
        if claims.client_id == client.client_id:
            await self._server.grants.revoke_access_token(claims.jwt_id, claims.expires_at)
