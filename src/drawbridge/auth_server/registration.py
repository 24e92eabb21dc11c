"""RFC 7591 OAuth 2.0 Dynamic Client Registration.

Deprecated by MCP 2026-07-28 in favour of client ID metadata documents, but still what most clients of the
2025 era do, so it stays on by default. Threats: registration spam filling the database (rate limit per source
address, unused registrations expire); malicious redirect URIs (https, loopback http or private-use schemes
only, no fragments); secrets leaking from storage (only a digest is stored; the secret is shown once).
"""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any, Literal
from urllib.parse import urlsplit

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import Request
from starlette.responses import Response

from drawbridge.auth_server.audit import AuthAudit
from drawbridge.auth_server.digests import digest
from drawbridge.auth_server.errors import InvalidClientMetadata, InvalidRedirectUri, OAuthError, TooManyRequests
from drawbridge.auth_server.redirect_uris import validate_registered
from drawbridge.auth_server.responses import oauth_error, oauth_json
from drawbridge.clock import Clock
from drawbridge.edge.rate_limit import RateLimit
from drawbridge.settings import RegistrationSettings
from drawbridge.storage.repositories import ClientRecord, ClientRepository

log = structlog.get_logger(__name__)

GrantType = Literal["authorization_code", "refresh_token"]


class RegistrationRequest(BaseModel):
    """The client metadata we understand (RFC 7591 §2); other members are ignored, as §2 requires."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    redirect_uris: list[str] = Field(min_length=1, max_length=20)
    # RFC 7591 §2: the default when omitted is client_secret_basic.
    token_endpoint_auth_method: Literal["none", "client_secret_basic", "client_secret_post"] = "client_secret_basic"  # noqa: S105 - an authentication method name, not a secret
    grant_types: list[GrantType] = Field(default_factory=lambda: list[GrantType](["authorization_code"]), min_length=1)
    response_types: list[Literal["code"]] = Field(default_factory=lambda: list[Literal["code"]](["code"]), min_length=1)
    client_name: str | None = Field(default=None, max_length=200)
    client_uri: str | None = Field(default=None, max_length=2048)
    logo_uri: str | None = Field(default=None, max_length=2048)
    scope: str | None = Field(default=None, max_length=1024)
    contacts: list[str] | None = Field(default=None, max_length=10)
    tos_uri: str | None = Field(default=None, max_length=2048)
    policy_uri: str | None = Field(default=None, max_length=2048)
    software_id: str | None = Field(default=None, max_length=200)
    software_version: str | None = Field(default=None, max_length=100)
    application_type: Literal["web", "native"] | None = None

    @field_validator("redirect_uris")
    @classmethod
    def _uris_are_bounded(cls, uris: list[str]) -> list[str]:
        if any(len(uri) > 2048 for uri in uris):
            raise ValueError("redirect URI too long")
        return uris


class ClientRegistrar:
    """Validates and stores dynamic registrations."""

    def __init__(
        self,
        repository: ClientRepository,
        settings: RegistrationSettings,
        *,
        supported_scopes: tuple[str, ...],
        clock: Clock,
    ) -> None:
        self._repository = repository
        self._settings = settings
        self._supported_scopes = supported_scopes
        self._clock = clock

    async def register(self, body: Any) -> dict[str, Any]:
        """Register a client from a parsed JSON body; return the RFC 7591 §3.2.1 response.

        Raises:
            InvalidRedirectUri: a redirect URI breaks the rules.
            InvalidClientMetadata: anything else is wrong with the metadata.
        """
        request = self._parse(body)
        now = self._clock.now()
        await self._repository.delete_unused_before(now - self._settings.unused_client_ttl)
        client_id = uuid.uuid4().hex
        public = request.token_endpoint_auth_method == "none"  # noqa: S105 - a method name, not a secret
        secret = None if public else secrets.token_urlsafe(32)
        metadata = request.model_dump(exclude_none=True, mode="json")
        metadata.setdefault("token_endpoint_auth_method", request.token_endpoint_auth_method)
        await self._repository.add(
            ClientRecord(
                client_id=client_id,
                metadata=metadata,
                secret_hash=digest(secret) if secret else None,
                created_at=now,
            )
        )
        response: dict[str, Any] = {
            "client_id": client_id,
            "client_id_issued_at": int(now),
            **metadata,
            "grant_types": list(request.grant_types),
            "response_types": list(request.response_types),
            "token_endpoint_auth_method": request.token_endpoint_auth_method,
        }
        if secret:
            response["client_secret"] = secret
            response["client_secret_expires_at"] = 0
        return response

    def _parse(self, body: Any) -> RegistrationRequest:
        if not isinstance(body, dict):
            raise InvalidClientMetadata("the request body must be a JSON object")
        try:
            request = RegistrationRequest.model_validate(body)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"])
            if field.startswith("redirect_uris"):
                raise InvalidRedirectUri(f"{field}: {error['msg']}") from exc
            raise InvalidClientMetadata(f"{field}: {error['msg']}") from exc
        for uri in request.redirect_uris:
            problem = validate_registered(uri)
            if problem:
                raise InvalidRedirectUri(f"redirect URI refused: {problem}")
        if request.scope is not None:
            unknown = set(request.scope.split()) - set(self._supported_scopes)
            if unknown:
                raise InvalidClientMetadata(f"unsupported scope: {' '.join(sorted(unknown))}")
        if "refresh_token" in request.grant_types and "authorization_code" not in request.grant_types:
            raise InvalidClientMetadata("refresh_token requires the authorization_code grant")
        return request


class RegistrationEndpoint:
    """``POST /register``: rate limited per source address."""

    def __init__(self, registrar: ClientRegistrar, limit: RateLimit, audit: AuthAudit) -> None:
        self._registrar = registrar
        self._limit = limit
        self._audit = audit

    async def handle(self, request: Request) -> Response:
        address = request.client.host if request.client else "unknown"
        try:
            retry_after = await self._limit.hit(address)
            if retry_after is not None:
                raise TooManyRequests("too many registrations from this address", retry_after=retry_after)
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != "application/json":
                raise InvalidClientMetadata("the body must be application/json")
            try:
                body = json.loads(await request.body())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InvalidClientMetadata("the body is not valid JSON") from exc
            response = await self._registrar.register(body)
        except OAuthError as exc:
            return oauth_error(exc)
        log.info("client_registered", client_id=response["client_id"], client_name=response.get("client_name"))
        await self._audit.record(
            "auth.client_registered",
            client_id=response["client_id"],
            client_kind="dcr",
            detail={
                "client_name": str(response.get("client_name") or "")[:128],
                "redirect_hosts": sorted({urlsplit(u).netloc[:128] for u in response.get("redirect_uris", [])}),
                "token_endpoint_auth_method": response["token_endpoint_auth_method"],
                "address": address,
            },
        )
        return oauth_json(response, status_code=201)
