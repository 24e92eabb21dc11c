"""Strip optional whitespace around header values (RFC 9110 §5.5: OWS is not part of a field value).

h11 strips leading whitespace but keeps trailing whitespace, so an ``Mcp-Name: "tool  "`` header would not match
the body's tool name; the MCP 2026-07-28 transport requires servers to accept such values.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HeaderWhitespaceMiddleware:
    """Normalize header values by stripping surrounding spaces and tabs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = dict(scope)
            scope["headers"] = [(name, value.strip(b" \t")) for name, value in scope["headers"]]
        await self.app(scope, receive, send)
