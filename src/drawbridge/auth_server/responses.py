"""Rendering OAuth errors and token responses (RFC 6749 §5.1, §5.2)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from drawbridge.auth_server.errors import InvalidClient, OAuthError, TooManyRequests

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_json(body: dict[str, Any], status_code: int = 200) -> JSONResponse:
    """A JSON response that no cache may keep (it may carry tokens)."""
    return JSONResponse(body, status_code=status_code, headers=NO_STORE)


def oauth_error(error: OAuthError, *, basic_attempted: bool = False) -> JSONResponse:
    """The RFC error object with the right status and challenge headers."""
    response = oauth_json(error.as_json(), error.status_code)
    if isinstance(error, InvalidClient):
        # RFC 6749 §5.2: a 401 must carry a challenge; Basic names the scheme the client should use.
        response.headers["WWW-Authenticate"] = 'Basic realm="drawbridge"' if basic_attempted else "Basic"
    if isinstance(error, TooManyRequests):
        response.headers["Retry-After"] = str(error.retry_after)
    return response
