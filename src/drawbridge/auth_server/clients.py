"""Finding and authenticating clients: registered ones (RFC 7591) and URL-identified ones (CIMD).

Client secrets are 256-bit random values, so a SHA-256 digest at rest is as strong as a slow hash and keeps
token-endpoint authentication cheap; comparison is constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from drawbridge.auth_server.client_metadata import (
    ClientMetadataError,
    ClientMetadataResolver,
    is_client_id_url,
)
from drawbridge.auth_server.digests import digest
from drawbridge.auth_server.errors import InvalidClient, InvalidRequest
from drawbridge.auth_server.models import Client
from drawbridge.storage.repositories import ClientRecord, ClientRepository


class UnknownClient(InvalidClient):
    """No client with this id (or its metadata document could not be used)."""

    def __init__(self, description: str, *, reason: str = "unknown_client") -> None:
        super().__init__(description)
        self.reason = reason


class ClientRegistry:
    """Looks clients up by id: https URLs through CIMD, everything else in the registration store."""

    def __init__(
        self,
        repository: ClientRepository,
        metadata: ClientMetadataResolver | None,
        *,
        static: Mapping[str, Client] | None = None,
    ) -> None:
        self._repository = repository
        self._metadata = metadata
        self._static = dict(static or {})

    async def get(self, client_id: str) -> Client:
        """The client with this id.

        Raises:
            UnknownClient: not registered, or its metadata document is unusable (``reason`` says why).
        """
        if "\x00" in client_id or len(client_id) > 2048:
            raise UnknownClient("malformed client_id", reason="malformed")
        if client_id in self._static:
            return self._static[client_id]
        if is_client_id_url(client_id):
            if self._metadata is None:
                raise UnknownClient("client ID metadata documents are disabled", reason="cimd_disabled")
            try:
                document = await self._metadata.resolve(client_id)
            except ClientMetadataError as exc:
                raise UnknownClient("client metadata document unusable", reason=exc.reason) from exc
            return Client(
                client_id=document.client_id,
                client_name=document.client_name,
                redirect_uris=tuple(document.redirect_uris),
                grant_types=tuple(document.grant_types),
                token_endpoint_auth_method=document.token_endpoint_auth_method,
                scope=document.scope,
                kind="cimd",
                client_uri=document.client_uri,
                logo_uri=document.logo_uri,
            )
        record = await self._repository.get(client_id)
        if record is None:
            raise UnknownClient("unknown client")
        return client_from_record(record)

    async def touch(self, client: Client, at: float) -> None:
        """Note that a registered client obtained a token (it is then never expired as unused)."""
        if client.kind == "dcr":
            await self._repository.touch(client.client_id, at)

    async def authenticate(self, form: Mapping[str, str], authorization: str | None) -> Client:
        """Authenticate the client of a token-endpoint request (OAuth 2.1 §2.4).

        Exactly one method may be used, and it must be the one the client registered.

        Raises:
            InvalidClient: unknown client, wrong secret, or the wrong authentication method.
            InvalidRequest: more than one authentication method.
        """
        basic = _parse_basic(authorization)
        posted_secret = form.get("client_secret")
        if basic and (posted_secret or (form.get("client_id") and form["client_id"] != basic[0])):
            raise InvalidRequest("use one client authentication method")
        if basic:
            client_id, secret, method = basic[0], basic[1], "client_secret_basic"
        elif posted_secret is not None:
            client_id, secret, method = form.get("client_id", ""), posted_secret, "client_secret_post"
        else:
            client_id, secret, method = form.get("client_id", ""), None, "none"
        if not client_id:
            raise InvalidClient("client authentication required")  # RFC 6749 §5.2: none included
        try:
            client = await self.get(client_id)
        except UnknownClient as exc:
            raise InvalidClient("client authentication failed") from exc
        if client.token_endpoint_auth_method != method:
            raise InvalidClient("client authentication failed")
        if method != "none" and not _secret_matches(client, secret or ""):
            raise InvalidClient("client authentication failed")
        return client


def static_client(client_id: str, secret: str, *, name: str, grant_types: tuple[str, ...]) -> Client:
    """A confidential client defined in configuration rather than registered."""
    return Client(
        client_id=client_id,
        client_name=name,
        redirect_uris=(),
        grant_types=grant_types,
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name, not a secret
        scope=None,
        kind="static",
        secret_hash=digest(secret),
    )


def client_from_record(record: ClientRecord) -> Client:
    """The :class:`Client` for a stored registration."""
    meta: dict[str, Any] = record.metadata
    return Client(
        client_id=record.client_id,
        client_name=meta.get("client_name"),
        redirect_uris=tuple(meta.get("redirect_uris", ())),
        grant_types=tuple(meta.get("grant_types", ("authorization_code",))),
        token_endpoint_auth_method=meta.get("token_endpoint_auth_method", "none"),
        scope=meta.get("scope"),
        kind="dcr",
        secret_hash=record.secret_hash,
        client_uri=meta.get("client_uri"),
        logo_uri=meta.get("logo_uri"),
    )


def _secret_matches(client: Client, secret: str) -> bool:
    if client.secret_hash is None:
        return False
    return hmac.compare_digest(digest(secret), client.secret_hash)


def _parse_basic(authorization: str | None) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1: Basic credentials, each part form-urlencoded before base64."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("unsupported authentication scheme")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClient("malformed Basic credentials") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("malformed Basic credentials")
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))
