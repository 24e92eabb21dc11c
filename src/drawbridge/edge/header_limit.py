"""Header size cap, enforced by the app: uvicorn's httptools parser has no limit of its own (h11's applies only to
headers still arriving), so an oversized request line plus headers is refused here with 431 before any route,
token check or log line handles it."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

_BODY = b'{"error":"invalid_request","error_description":"request headers too large"}'


class HeaderLimitMiddleware:
    """Answer 431 when the request target plus headers exceed ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])  # ": " and CRLF
            if size > self.max_bytes:
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(_BODY)).encode()),
                    (b"connection", b"close"),
                ]
                await send({"type": "http.response.start", "status": 431, "headers": headers})
                await send({"type": "http.response.body", "body": _BODY})
                return
        await self.app(scope, receive, send)
