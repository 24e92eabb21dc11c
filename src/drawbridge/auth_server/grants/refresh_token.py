"""The ``refresh_token`` grant with rotation (OAuth 2.1 §4.3, RFC 9700 §4.14.2).

Every use returns a new refresh token and spends the old one. Presenting a spent token means two parties hold
the family (one of them stole it), so the whole family is revoked and both must sign in again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import structlog

from drawbridge.auth_server.context import AuthServer
from drawbridge.auth_server.digests import digest
from drawbridge.auth_server.errors import InvalidGrant, InvalidRequest, InvalidScope
from drawbridge.auth_server.grants.issue import active_user, check_resource, issue_tokens
from drawbridge.auth_server.models import Client

log = structlog.get_logger(__name__)


class RefreshTokenGrant:
    """Exchanges a refresh token for new tokens."""

    def __init__(self, server: AuthServer) -> None:
        self._server = server

    async def exchange(self, form: Mapping[str, str], client: Client) -> dict[str, Any]:
        token = form.get("refresh_token")
        if not token:
            raise InvalidRequest("refresh_token is required")
        grants, now = self._server.grants, self._server.clock.now()
        record = await grants.get_refresh(digest(token))
        if record is None or record.client_id != client.client_id:
            raise InvalidGrant("unknown refresh token")
        if record.family_revoked:
            raise InvalidGrant("the refresh token was revoked")
        if record.used_at is not None:
            await self._reuse_detected(record.family_id, client, record.user_id)
        if record.expires_at <= now:
            raise InvalidGrant("the refresh token has expired")
        granted = record.scope.split()
        scopes = granted
        if "scope" in form:
            scopes = list(dict.fromkeys(form["scope"].split()))
            if not set(scopes) <= set(granted):
                raise InvalidScope("scope exceeds what was granted")
        resource = check_resource(form.get("resource"), record.resource)
        user = await active_user(self._server, record.user_id)
        # Spent only once the request is known to be good (RFC 6749 §6); atomically, so a concurrent use loses.
        if not await grants.use_refresh(record.token_hash, now):
            await self._reuse_detected(record.family_id, client, record.user_id)
        issued = await issue_tokens(
            self._server,
            client,
            user,
            scopes,
            resource,
            family_id=record.family_id,
            new_family=False,
            refresh_scopes=granted,
        )
        return issued.body

    async def _reuse_detected(self, family_id: str, client: Client, user_id: str) -> NoReturn:
        await self._server.grants.revoke_family(family_id, self._server.clock.now())
        log.warning("refresh_token_reuse_detected", client_id=client.client_id, family=family_id)
        await self._server.audit.record(
            "token.refresh_reuse",
            user_id=user_id,
            client_id=client.client_id,
            client_kind=client.kind,
            outcome="denied",
            reason="refresh_token_reused",
            detail={"family_revoked": True},
        )
        raise InvalidGrant("the refresh token was already used; the session is revoked")
