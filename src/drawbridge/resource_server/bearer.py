"""RFC 6750 bearer authentication in front of the MCP endpoint, with MCP's challenges.

- No credentials: ``401`` with ``WWW-Authenticate: Bearer resource_metadata="…", scope="…"`` and **no**
  ``error`` (RFC 6750 §3.1; the SDK's own middleware adds one).
- Invalid, expired, revoked, mis-signed, wrong-issuer or wrong-audience token: ``401 error="invalid_token"``.
- Valid token lacking what the called tool or resource needs: ``403 error="insufficient_scope"`` naming every
  scope needed (what was granted plus what is missing), so the client re-authorizes once (step-up).
The verified principal is handed to the SDK as ``scope["user"]``; the SDK binds sessions to it, so a session id
presented with another user's token is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import structlog
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from drawbridge.keys.access_token import AccessTokenClaims, InvalidAccessToken
from drawbridge.resource_server.tokens import TokenValidator

log = structlog.get_logger(__name__)

NeededScopes = Callable[[str, Any], frozenset[str] | None]


class BearerMiddleware:
    """Authenticate every request to the wrapped MCP app; challenge per MCP authorization."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        validator: TokenValidator,
        metadata_url: str,
        challenge_scopes: frozenset[str],
        needed_scopes: NeededScopes,
    ) -> None:
        self.app = app
        self._validator = validator
        self._metadata_url = metadata_url
        self._challenge_scopes = challenge_scopes
        self._needed = needed_scopes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        values = [v for k, v in scope["headers"] if k == b"authorization"]
        if not values:
            await self._challenge(send, 401, self._challenge_scopes, error=None)
            return
        scheme, _, token = values[0].decode("latin-1").partition(" ")
        if len(values) > 1 or scheme.lower() != "bearer" or not token.strip():
            await self._challenge(send, 400, self._challenge_scopes, error="invalid_request")
            return
        try:
            claims = await self._validator.validate(token.strip())
        except InvalidAccessToken as exc:
            log.info("mcp_token_refused", reason=exc.reason)
            await self._challenge(send, 401, self._challenge_scopes, error="invalid_token")
            return
        body, receive = await _buffer_body(receive) if scope["method"] == "POST" else (b"", receive)
        missing = self._missing_scopes(body, frozenset(claims.scopes))
        if missing:
            await self._challenge(send, 403, frozenset(claims.scopes) | missing, error="insufficient_scope")
            return
        scope["user"] = AuthenticatedUser(_access_token(token.strip(), claims))
        await self.app(scope, receive, send)

    def _missing_scopes(self, body: bytes, granted: frozenset[str]) -> frozenset[str]:
        try:
            message = json.loads(body) if body else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return frozenset()  # malformed JSON-RPC is the transport's to reject
        messages = message if isinstance(message, list) else [message]
        missing: set[str] = set()
        for item in messages:
            if isinstance(item, dict) and isinstance(item.get("method"), str):
                needed = self._needed(item["method"], item.get("params"))
                if needed is not None:
                    missing |= needed - granted
        return frozenset(missing)

    async def _challenge(self, send: Send, status: int, scopes: frozenset[str], *, error: str | None) -> None:
        parts = []
        if error:
            parts.append(f'error="{error}"')
        parts.append(f'resource_metadata="{self._metadata_url}"')
        if scopes:
            parts.append(f'scope="{" ".join(sorted(scopes))}"')
        body = json.dumps({"error": error or "unauthorized"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"www-authenticate", ("Bearer " + ", ".join(parts)).encode()),
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _access_token(token: str, claims: AccessTokenClaims) -> AccessToken:
    return AccessToken(
        token=token,
        client_id=claims.client_id,
        scopes=list(claims.scopes),
        expires_at=claims.expires_at,
        resource=claims.audience[0],
        subject=claims.subject,
        claims={
            "iss": claims.issuer,
            "roles": claims.raw.get("roles", []),
            "groups": claims.raw.get("groups", []),
            "preferred_username": claims.raw.get("preferred_username"),
            "jti": claims.jwt_id,
        },
    )


async def _buffer_body(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body (the edge already capped its size) and hand back a receive that replays it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay
