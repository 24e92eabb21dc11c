"""RFC 8414 authorization server metadata (also served as OpenID Connect discovery).

MCP clients build the well-known URL from the issuer and MUST reject a document whose ``issuer`` differs, so
``issuer`` is exactly the configured base URL. PKCE support must be advertised or clients refuse to proceed.
"""

from __future__ import annotations

from typing import Any

from drawbridge.auth_server.config import AuthServerConfig
from drawbridge.auth_server.models import TOKEN_EXCHANGE

AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]
SECRET_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def authorization_server_metadata(config: AuthServerConfig, *, signing_algorithms: list[str]) -> dict[str, Any]:
    """The metadata document."""
    issuer = config.issuer
    document: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "scopes_supported": list(config.scopes),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", TOKEN_EXCHANGE],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": SECRET_AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": config.client_metadata_enabled,
        "access_token_signing_alg_values_supported": signing_algorithms,
        "resource_indicators_supported": True,
    }
    if config.registration_enabled:
        document["registration_endpoint"] = f"{issuer}/register"
    return document
