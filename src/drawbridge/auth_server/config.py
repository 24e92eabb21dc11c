"""What the authorization server needs from the settings, gathered once (components never read Settings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from drawbridge.settings import Settings


@dataclass(frozen=True, slots=True)
class DownstreamTarget:
    """A downstream API tokens may be exchanged for (RFC 8693 ``resource``/``audience``)."""

    identifier: str
    scopes: frozenset[str]
    clients: frozenset[str]
    token_ttl: int


@dataclass(frozen=True, slots=True)
class AuthServerConfig:
    """The authorization server's configuration."""

    issuer: str
    resource: str
    scopes: tuple[str, ...]
    default_scopes: tuple[str, ...]
    scope_descriptions: dict[str, str]
    secure_cookies: bool
    access_token_ttl: int
    refresh_token_ttl: int
    code_ttl: int
    request_ttl: int
    session_ttl: int
    registration_enabled: bool
    introspection_clients: frozenset[str]
    downstream: Mapping[str, DownstreamTarget]
    client_metadata_enabled: bool

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        resource_scopes: tuple[str, ...],
        baseline_scopes: tuple[str, ...],
        scope_descriptions: Mapping[str, str],
    ) -> AuthServerConfig:
        """The configuration for ``settings``; scopes not configured come from what the resource needs."""
        auth = settings.auth
        return cls(
            issuer=settings.issuer,
            resource=settings.resource_url,
            scopes=auth.scopes if auth.scopes is not None else resource_scopes,
            default_scopes=auth.default_scopes if auth.default_scopes is not None else baseline_scopes,
            scope_descriptions={**scope_descriptions, **auth.scope_descriptions},
            secure_cookies=settings.base_url.startswith("https://"),
            access_token_ttl=settings.tokens.access_token_ttl,
            refresh_token_ttl=settings.tokens.refresh_token_ttl,
            code_ttl=settings.tokens.authorization_code_ttl,
            request_ttl=auth.authorization_request_ttl,
            session_ttl=auth.session_ttl,
            registration_enabled=auth.registration.enabled,
            introspection_clients=frozenset(auth.introspection_clients),
            downstream={
                settings.api_identifier(api): DownstreamTarget(
                    identifier=settings.api_identifier(api),
                    scopes=frozenset(api.scopes),
                    clients=frozenset(api.clients if api.clients is not None else (settings.exchange.client_id,)),
                    token_ttl=api.token_ttl,
                )
                for api in settings.exchange.apis
            },
            client_metadata_enabled=auth.client_metadata.enabled,
        )
