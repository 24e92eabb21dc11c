"""Everything the authorization server's endpoints depend on, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from drawbridge.auth_server.audit import AuthAudit
from drawbridge.auth_server.browser import Browser
from drawbridge.auth_server.clients import ClientRegistry
from drawbridge.auth_server.config import AuthServerConfig
from drawbridge.auth_server.registration import ClientRegistrar
from drawbridge.clock import Clock
from drawbridge.edge.rate_limit import RateLimit
from drawbridge.identity import UserDirectory
from drawbridge.keys.access_token import AccessTokenIssuer, AccessTokenVerifier
from drawbridge.storage.repositories import GrantRepository, SessionRepository


@dataclass(frozen=True, slots=True)
class AuthServer:
    """The authorization server's dependencies."""

    config: AuthServerConfig
    clock: Clock
    clients: ClientRegistry
    registrar: ClientRegistrar
    grants: GrantRepository
    sessions: SessionRepository
    users: UserDirectory
    tokens: AccessTokenIssuer
    verifier: AccessTokenVerifier
    browser: Browser
    registration_limit: RateLimit
    audit: AuthAudit
