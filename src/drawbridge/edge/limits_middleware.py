"""Rate limiting at the edge: per source address on the authorization server's endpoints, per user and per client on
the MCP endpoint.

The source address is the connection's, or the one a trusted proxy reported (``[server] trusted_proxies``; the
proxy-headers middleware rewrites it before this runs): ``X-Forwarded-For`` from anyone else is ignored, so a client
cannot pick a fresh address per request. MCP limits key on the verified token, so they sit behind bearer auth.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from drawbridge.edge.rate_limit import LimiterUnavailable, RateLimit

_HTML = "<!doctype html><title>Too many requests</title><p>Too many attempts. Wait a moment and try again.</p>"


class AddressRateLimitMiddleware:
    """429 with ``Retry-After`` once an address passes the limit for a ``(method, path)``.

    Args:
        rules: ``(method, path)`` -> limit, e.g. ``("POST", "/token")``.
        html_paths: paths a browser sees (the answer is a small page instead of JSON).
    """

    def __init__(
        self, app: ASGIApp, *, rules: Mapping[tuple[str, str], RateLimit], html_paths: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.rules = dict(rules)
        self.html_paths = html_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method", "")
        # HEAD is served by the GET route: it must count as a GET, or it is a way around the limit.
        key = ("GET" if method == "HEAD" else method, scope.get("path", ""))
        limit = self.rules.get(key) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        html = scope["path"] in self.html_paths
        try:
            retry_after = await limit.hit(address)
        except LimiterUnavailable:
            await _refuse(send, 503, 5, html, "temporarily_unavailable", "rate limiting is unavailable; try again")
            return
        if retry_after is not None:
            await _refuse(send, 429, retry_after, html, "too_many_requests", "too many requests from this address")
            return
        await self.app(scope, receive, send)


class McpRateLimitMiddleware:
    """Per-user and per-client limits on MCP requests, from the token the bearer middleware verified."""

    def __init__(self, app: ASGIApp, *, per_user: RateLimit, per_client: RateLimit) -> None:
        self.app = app
        self.per_user = per_user
        self.per_client = per_client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = getattr(scope.get("user"), "access_token", None) if scope["type"] == "http" else None
        if token is None:
            await self.app(scope, receive, send)
            return
        try:
            retry_after = await self.per_user.hit(str(token.subject)) or await self.per_client.hit(token.client_id)
        except LimiterUnavailable:
            await _json_rpc_refusal(send, 503, 5, "rate limiting is unavailable; try again shortly")
            return
        if retry_after is not None:
            await _json_rpc_refusal(send, 429, retry_after, f"rate limited: retry after {retry_after} s")
            return
        await self.app(scope, receive, send)


async def _refuse(  # noqa: PLR0917 - private; every caller passes all six
    send: Send, status: int, retry_after: int, html: bool, error: str, description: str
) -> None:
    if html:
        body, content_type = _HTML.encode(), b"text/html; charset=utf-8"
    else:
        body = json.dumps({"error": error, "error_description": description}).encode()
        content_type = b"application/json"
    await _send(send, status, retry_after, body, content_type)


async def _json_rpc_refusal(send: Send, status: int, retry_after: int, message: str) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": message}}).encode()
    await _send(send, status, retry_after, body, b"application/json")


async def _send(send: Send, status: int, retry_after: int, body: bytes, content_type: bytes) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
