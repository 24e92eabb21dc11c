"""The ``authorization_code`` grant (OAuth 2.1 §4.1.3, RFC 7636 §4.6).

Threats: code replay (codes are single-use, enforced atomically by the database; a second redemption also
revokes what the first one minted: OAuth 2.1 §4.1.2, RFC 9700 §4.5); code injection into another client or
redirect (the code is bound to both); interception (the PKCE verifier must match); expired codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drawbridge.auth_server import pkce
from drawbridge.auth_server.context import AuthServer
from drawbridge.auth_server.digests import digest
from drawbridge.auth_server.errors import InvalidGrant, InvalidRequest
from drawbridge.auth_server.grants.issue import active_user, check_resource, issue_tokens, new_family_id
from drawbridge.auth_server.models import Client
from drawbridge.keys.access_token import new_token_id
from drawbridge.storage.repositories import AuthorizationCodeRecord


class AuthorizationCodeGrant:
    """Redeems an authorization code for tokens."""

    def __init__(self, server: AuthServer) -> None:
        self._server = server

    async def exchange(self, form: Mapping[str, str], client: Client) -> dict[str, Any]:
        code = form.get("code")
        if not code:
            raise InvalidRequest("code is required")
        # The ids of what this redemption will mint are recorded atomically with spending the code, so a replay
        # racing it can revoke them even before they exist.
        family_id, jti = new_family_id(), new_token_id()
        record = await self._consume(code, family_id=family_id, jti=jti)
        if record.client_id != client.client_id:
            raise InvalidGrant("the code was issued to another client")
        redirect_uri = form.get("redirect_uri")
        if (redirect_uri is not None or record.redirect_uri_given) and redirect_uri != record.redirect_uri:
            raise InvalidGrant("redirect_uri does not match the authorization request")
        pkce.verify(form.get("code_verifier"), record.code_challenge)
        resource = check_resource(form.get("resource"), record.resource)
        user = await active_user(self._server, record.user_id)
        issued = await issue_tokens(
            self._server, client, user, record.scope.split(), resource, family_id=family_id, jti=jti
        )
        return issued.body

    async def _consume(self, code: str, *, family_id: str, jti: str) -> AuthorizationCodeRecord:
        now = self._server.clock.now()
        record, first_use = await self._server.grants.consume_code(
            digest(code), now, family_id=family_id, access_jti=jti
        )
        if record is None:
            raise InvalidGrant("unknown code")
        if not first_use:
            await self._revoke_minted(record)
            raise InvalidGrant("the code was already used")
        if record.expires_at <= now:
            raise InvalidGrant("the code has expired")
        return record

    async def _revoke_minted(self, record: AuthorizationCodeRecord) -> None:
        now = self._server.clock.now()
        if record.family_id:
            await self._server.grants.revoke_family(
                record.family_id, now, client_id=record.client_id, user_id=record.user_id
            )
        if record.access_jti:
            await self._server.grants.revoke_access_token(record.access_jti, now + self._server.tokens.ttl + 60)
