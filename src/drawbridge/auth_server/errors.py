"""OAuth error objects (RFC 6749 §4.1.2.1 and §5.2, RFC 7591 §3.2.2, RFC 7009, RFC 8707, RFC 8693).

Raised deep in the flows, rendered once by the endpoint as the RFC's JSON (``Cache-Control: no-store``) or as
an ``error=`` redirect. ``description`` is safe to show to the client: it never echoes secrets.
"""

from __future__ import annotations

from typing import ClassVar

from drawbridge.errors import DrawbridgeError


class OAuthError(DrawbridgeError):
    """An error with an RFC-defined ``error`` code."""

    error: ClassVar[str] = "server_error"
    status_code: ClassVar[int] = 400

    def __init__(self, description: str = "") -> None:
        super().__init__(description or self.error)
        self.description = description

    def as_json(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    """Client authentication failed (RFC 6749 §5.2): 401, with a Basic challenge when Basic was tried."""

    error = "invalid_client"
    status_code = 401


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"


class UnsupportedTokenType(OAuthError):
    error = "unsupported_token_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidTarget(OAuthError):
    """RFC 8707 §2: the requested resource is not one this server issues tokens for."""

    error = "invalid_target"


class AccessDenied(OAuthError):
    error = "access_denied"
    status_code = 403


class InvalidRedirectUri(OAuthError):
    """RFC 7591 §3.2.2."""

    error = "invalid_redirect_uri"


class InvalidClientMetadata(OAuthError):
    """RFC 7591 §3.2.2."""

    error = "invalid_client_metadata"


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status_code = 503


class TooManyRequests(OAuthError):
    """Rate limited; rendered with ``Retry-After``."""

    error = "too_many_requests"
    status_code = 429

    def __init__(self, description: str = "", *, retry_after: int = 60) -> None:
        super().__init__(description)
        self.retry_after = retry_after
