"""What the authorization server needs from the settings, gathered once (components never read Settings)."""

from __future__ import annotations

from dataclasses import dataclass

from drawbridge.settings import Settings


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
    client_metadata_enabled: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthServerConfig:
        auth = settings.auth
        return cls(
            issuer=settings.issuer,
            resource=settings.resource_url,
            scopes=auth.scopes,
            default_scopes=auth.default_scopes,
            scope_descriptions=dict(auth.scope_descriptions),
            secure_cookies=settings.base_url.startswith("https://"),
            access_token_ttl=settings.tokens.access_token_ttl,
            refresh_token_ttl=settings.tokens.refresh_token_ttl,
            code_ttl=settings.tokens.authorization_code_ttl,
            request_ttl=auth.authorization_request_ttl,
            session_ttl=auth.session_ttl,
            registration_enabled=auth.registration.enabled,
            client_metadata_enabled=auth.client_metadata.enabled,
        )
