"""RFC 9728 OAuth 2.0 Protected Resource Metadata for the MCP endpoint.

Clients find the authorization server here. ``authorization_servers`` must be string-identical to the AS
metadata's ``issuer``, and ``resource`` is the canonical MCP URL clients send as the RFC 8707 ``resource``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def protected_resource_metadata(*, resource: str, issuer: str, scopes: list[str], resource_name: str) -> dict[str, Any]:
    """The metadata document (``offline_access`` is never listed: MCP authorization §scope selection)."""
    return {
        "resource": resource,
        "authorization_servers": [issuer],
        "scopes_supported": [s for s in scopes if s != "offline_access"],
        "bearer_methods_supported": ["header"],
        "resource_name": resource_name,
        "resource_signing_alg_values_supported": ["RS256", "ES256"],
    }


def metadata_paths(resource: str) -> list[str]:
    """The root well-known path and the path-inserted one for the MCP endpoint (RFC 9728 §3.1)."""
    path = urlsplit(resource).path.rstrip("/")
    root = "/.well-known/oauth-protected-resource"
    return [root, root + path] if path else [root]


def metadata_url(resource: str) -> str:
    """The absolute URL named in ``WWW-Authenticate: Bearer resource_metadata=...``."""
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}{metadata_paths(resource)[-1]}"
