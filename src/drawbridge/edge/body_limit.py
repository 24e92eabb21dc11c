"""Request body size and time caps: a declared ``Content-Length`` over the cap is refused before reading, a chunked
body is cut off as soon as it passes the cap (no unbounded buffering of attacker-sized bodies), and a body that
trickles in slower than the time budget is refused with 408 (slow-body clients holding connections open)."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_TOO_LARGE = b'{"error":"invalid_request","error_description":"request body too large"}'
_TOO_SLOW = b'{"error":"request_timeout","error_description":"the request body came too slowly"}'


class BodyTooLarge(Exception):
    """Raised inside the receive wrapper once the body passes the cap; never escapes the middleware."""


class BodyTooSlow(Exception):
    """Raised inside the receive wrapper when the body's time budget runs out; never escapes the middleware."""


class _BodyReader:
    """``receive`` with a running byte count and a deadline, both only until the body is complete."""

    def __init__(self, receive: Receive, *, max_bytes: int, deadline: float) -> None:
        self._receive = receive
        self._max_bytes = max_bytes
        self._deadline = deadline
        self._received = 0
        self._done = False

    async def __call__(self) -> Message:
        if self._done:  # after the body, receive() waits for the disconnect (streams): no deadline
            return await self._receive()
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            raise BodyTooSlow from None
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._max_bytes:
                raise BodyTooLarge
            self._done = not message.get("more_body", False)
        return message


class BodyLimitMiddleware:
    """Answer 413 to requests whose body exceeds ``max_bytes``, 408 to those not received within ``timeout``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _refuse(send, 413, _TOO_LARGE)
            return
        reader = _BodyReader(
            receive, max_bytes=self.max_bytes, deadline=asyncio.get_running_loop().time() + self.timeout
        )
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, reader, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await _refuse(send, 413, _TOO_LARGE)
        except BodyTooSlow:
            if not response_started:
                await _refuse(send, 408, _TOO_SLOW)


async def _refuse(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 408:  # the client is not sending its body: the connection is of no further use
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
