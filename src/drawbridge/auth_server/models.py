"""The authorization server's view of a client, whichever way it identified itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from drawbridge.exchange.client import TOKEN_EXCHANGE

ClientKind = Literal["dcr", "cimd", "static"]
CONFIDENTIAL_METHODS = ("client_secret_basic", "client_secret_post")
__all__ = ["CONFIDENTIAL_METHODS", "TOKEN_EXCHANGE", "Client", "ClientKind"]


@dataclass(frozen=True, slots=True)
class Client:
    """A client known to the authorization server.

    ``kind`` is ``cimd`` when the client_id is an https URL whose metadata document we fetched (the host is then
    verified: it served the document), ``dcr`` when it registered itself (nothing about it is verified), and
    ``static`` for clients defined in configuration (the MCP server's own, for token exchange).
    """

    client_id: str
    client_name: str | None
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    token_endpoint_auth_method: str
    scope: str | None
    kind: ClientKind
    secret_hash: str | None = None
    client_uri: str | None = None
    logo_uri: str | None = None

    @property
    def confidential(self) -> bool:
        return self.token_endpoint_auth_method in CONFIDENTIAL_METHODS

    @property
    def verified_origin(self) -> str | None:
        """The host that vouches for this client (its CIMD URL's host), or None when unverified."""
        return urlsplit(self.client_id).hostname if self.kind == "cimd" else None

    @property
    def display_name(self) -> str:
        return self.client_name or self.client_id
