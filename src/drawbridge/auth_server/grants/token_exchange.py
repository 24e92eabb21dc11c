"""RFC 8693 OAuth 2.0 Token Exchange: the MCP server trades the user's token for a narrow downstream one.

Threats: token passthrough (the user's token, audience = the MCP server, never reaches a downstream API: the
downstream gets a new token whose audience is itself); privilege growth (the new scope must be within both what
the subject token carries and what the API allows); confused deputy (only confidential clients configured for
that API may exchange, and the ``act`` claim names who acted, RFC 8693 §4.1); stale delegation (the subject token
must be valid and unrevoked now, and the new token is short-lived).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from drawbridge.auth_server.config import DownstreamTarget
from drawbridge.auth_server.context import AuthServer
from drawbridge.auth_server.errors import InvalidGrant, InvalidRequest, InvalidScope, InvalidTarget, UnauthorizedClient
from drawbridge.auth_server.models import Client
from drawbridge.exchange.client import ACCESS_TOKEN_TYPE
from drawbridge.keys.access_token import AccessTokenClaims, InvalidAccessToken

log = structlog.get_logger(__name__)

SUBJECT_TOKEN_TYPES = (ACCESS_TOKEN_TYPE, "urn:ietf:params:oauth:token-type:jwt")


class TokenExchangeGrant:
    """Issues a downstream token on behalf of the subject token's user."""

    def __init__(self, server: AuthServer) -> None:
        self._server = server

    async def exchange(self, form: Mapping[str, str], client: Client) -> dict[str, Any]:
        if not client.confidential:
            raise UnauthorizedClient("token exchange requires a confidential client")
        if form.get("subject_token_type") not in SUBJECT_TOKEN_TYPES:
            raise InvalidRequest("subject_token_type must be an access token or JWT token type")
        if "requested_token_type" in form and form["requested_token_type"] != ACCESS_TOKEN_TYPE:
            raise InvalidRequest("only access tokens can be requested")
        if "actor_token" in form:
            raise InvalidRequest("actor tokens are not supported: the authenticated client is the actor")
        target = self._target(form)
        if client.client_id not in target.clients:
            raise UnauthorizedClient("this client may not exchange tokens for that audience")
        subject = await self._subject(form.get("subject_token"))
        scopes = _scopes(form.get("scope"), granted=set(subject.scopes), allowed=target.scopes)
        token, claims = self._server.tokens.mint(
            subject=subject.subject,
            audience=target.identifier,
            client_id=client.client_id,
            scopes=scopes,
            extra={
                "act": {"sub": client.client_id},
                "roles": subject.raw.get("roles", []),
                "groups": subject.raw.get("groups", []),
                "orig_client_id": subject.client_id,
            },
            ttl=target.token_ttl,
        )
        log.info("token_exchanged", actor=client.client_id, audience=target.identifier, scope=" ".join(scopes))
        return {
            "access_token": token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": claims.expires_at - claims.issued_at,
            "scope": " ".join(scopes),
        }

    def _target(self, form: Mapping[str, str]) -> DownstreamTarget:
        named = [v for v in (form.get("resource"), form.get("audience")) if v]
        if not named:
            raise InvalidRequest("resource or audience is required")
        if len(set(named)) != 1:
            raise InvalidTarget("resource and audience name different targets")
        target = self._server.config.downstream.get(named[0])
        if target is None:
            raise InvalidTarget("unknown downstream API")
        return target

    async def _subject(self, token: str | None) -> AccessTokenClaims:
        if not token:
            raise InvalidRequest("subject_token is required")
        try:
            # Only tokens minted for the MCP endpoint can be exchanged: not downstream tokens (no chaining).
            claims = self._server.verifier.verify(token, audience=self._server.config.resource)
        except InvalidAccessToken as exc:
            raise InvalidGrant("the subject token is not valid") from exc
        if await self._server.grants.is_access_token_revoked(claims.jwt_id):
            raise InvalidGrant("the subject token was revoked")
        return claims


def _scopes(requested: str | None, *, granted: set[str], allowed: frozenset[str]) -> list[str]:
    """RFC 8693 §2.1: least privilege: within what the user delegated and what the API accepts."""
    available = granted & allowed
    if requested is None:
        if not available:
            raise InvalidScope("the subject token carries no scope this API accepts")
        return sorted(available)
    names = list(dict.fromkeys(requested.split()))
    if not names or not set(names) <= available:
        raise InvalidScope("scope exceeds what the subject token and the API allow")
    return names
