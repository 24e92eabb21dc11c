"""Host and Origin validation (DNS-rebinding protection), on the SDK's own checks, configured explicitly.

The SDK enables its checks automatically only on localhost; Drawbridge always passes explicit allow-lists.
A request whose ``Origin`` is present and not allowed gets 403; an unexpected ``Host`` gets 421.
"""

from __future__ import annotations

from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send


class OriginMiddleware:
    """Refuse requests from unexpected hosts or browser origins before anything else looks at them."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: list[str], allowed_origins: list[str]) -> None:
        self.app = app
        self._check = TransportSecurityMiddleware(
            TransportSecuritySettings(
                enable_dns_rebinding_protection=True, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins
            )
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] != "OPTIONS":
            # Content-type is the transport's to judge (GET/DELETE carry none); only Host and Origin here.
            refusal = await self._check.validate_request(Request(scope, receive), is_post=False)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
