"""Minting the token response shared by the grants: an RFC 9068 access token, and a rotating refresh token."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from drawbridge.auth_server.context import AuthServer
from drawbridge.auth_server.digests import digest
from drawbridge.auth_server.errors import InvalidGrant, InvalidTarget
from drawbridge.auth_server.models import Client
from drawbridge.identity import User
from drawbridge.storage.repositories import RefreshTokenRecord


@dataclass(frozen=True, slots=True)
class Issued:
    """What a grant minted: the response body, the access token's id and the refresh family."""

    body: dict[str, Any]
    access_jti: str
    family_id: str | None


def new_family_id() -> str:
    """A fresh refresh-token family id (random, 144 bits)."""
    return secrets.token_urlsafe(18)


async def issue_tokens(
    server: AuthServer,
    client: Client,
    user: User,
    scopes: Sequence[str],
    resource: str,
    *,
    family_id: str | None = None,
    new_family: bool = True,
    refresh_scopes: Sequence[str] | None = None,
    jti: str | None = None,
) -> Issued:
    """Mint the access token (and a refresh token when the client may refresh).

    ``refresh_scopes`` keeps a refresh token's scope when the access token asked for less (RFC 6749 §6).
    ``family_id``/``jti`` are given when they were recorded before minting; ``new_family`` says whether the family
    must still be created (a code's first use) or already exists (a refresh).
    """
    token, claims = server.tokens.mint(
        subject=user.id,
        audience=resource,
        client_id=client.client_id,
        scopes=scopes,
        extra={"roles": list(user.roles), "groups": list(user.groups), "preferred_username": user.username},
        jti=jti,
    )
    body: dict[str, Any] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": server.tokens.ttl,
        "scope": " ".join(scopes),
    }
    if "refresh_token" in client.grant_types:
        now = server.clock.now()
        family_id = family_id or new_family_id()
        if new_family:
            await server.grants.add_family(family_id, client.client_id, user.id, now)
        refresh = "drt_" + secrets.token_urlsafe(32)
        await server.grants.add_refresh(
            RefreshTokenRecord(
                token_hash=digest(refresh),
                family_id=family_id,
                client_id=client.client_id,
                user_id=user.id,
                scope=" ".join(refresh_scopes or scopes),
                resource=resource,
                created_at=now,
                expires_at=now + server.config.refresh_token_ttl,
                access_jti=claims.jwt_id,
            )
        )
        body["refresh_token"] = refresh
    return Issued(body=body, access_jti=claims.jwt_id, family_id=family_id)


async def active_user(server: AuthServer, user_id: str) -> User:
    """The user a grant is for, who must still exist and be enabled."""
    user = await server.users.get(user_id)
    if user is None or user.disabled:
        raise InvalidGrant("the user is no longer active")
    return user


def check_resource(requested: str | None, granted: str) -> str:
    """RFC 8707 §2.2: a token request may name the resource again, but only the one granted."""
    if requested is not None and requested != granted:
        raise InvalidTarget("resource differs from the one authorized")
    return granted
