"""A minimal MCP client over HTTP/1.1 keep-alive: the official SDK client's messages and headers, less CPU.

One :class:`RawSession` opens a session the way ``mcp.Client`` does (captured from its traffic):

- ``stateful``: ``initialize`` (2025-11-25) → ``Mcp-Session-Id`` → ``notifications/initialized`` (202) → a
  standalone ``GET`` SSE stream held open on a second connection → ``tools/list``; calls carry the session id and
  ``MCP-Protocol-Version``; closing sends ``DELETE``.
- ``stateless``: ``server/discover`` (2026-07-28) → ``tools/list``; every request carries the per-request
  envelope in ``params._meta`` and the routing headers ``MCP-Protocol-Version``, ``Mcp-Method``, ``Mcp-Name``.

Responses are parsed whether JSON or SSE, and checked: HTTP 200, a JSON-RPC result (not an error) for our id.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any, cast
from urllib.parse import urlsplit

import httptools

LEGACY, MODERN = "2025-11-25", "2026-07-28"
_ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "drawbridge-bench", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


class CallFailed(Exception):
    """A request got no usable answer: a non-2xx status, a JSON-RPC error, or a broken connection."""


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection carrying one request at a time; responses parsed by httptools (C)."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[tuple[int, dict[bytes, bytes], bytes]] | None = None
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(CallFailed(f"bad HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(CallFailed(f"connection closed: {exc}"))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((self._parser.get_status_code(), self._headers, b"".join(self._body)))

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def send(self, request: bytes) -> asyncio.Future[tuple[int, dict[bytes, bytes], bytes]]:
        """Write ``request``; the future resolves with (status, headers, body) when the response is complete."""
        if self._transport is None or self._transport.is_closing():
            raise CallFailed("connection closed")
        self._headers, self._body = {}, []
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return self._waiter

    @property
    def closed(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class RawSession:
    """One MCP session (its own connection and bearer token) in ``mode`` stateful or stateless."""

    def __init__(self, url: str, token: str | None, mode: str) -> None:
        parts = urlsplit(url)
        if parts.hostname != "127.0.0.1":
            raise ValueError("the benchmark only loads loopback servers")
        self._address = (parts.hostname, parts.port or 80)
        self._path = parts.path.encode()
        self._mode = mode
        base = [b"Host: " + parts.netloc.encode(), b"Accept: application/json, text/event-stream"]
        if token:
            base.append(b"Authorization: Bearer " + token.encode())
        self._base = base
        self._ids = itertools.count(1)
        self._session_id: bytes | None = None
        self._conn: _Connection | None = None
        self._stream: _Connection | None = None

    async def open(self) -> None:
        """Open the connection and the session, then list tools (what an agent does first)."""
        self._conn = await self._connect()
        if self._mode == "stateful":
            headers, result = await self._rpc(
                "initialize",
                {"protocolVersion": LEGACY, "capabilities": {}}
                | {"clientInfo": _ENVELOPE["io.modelcontextprotocol/clientInfo"]},
            )
            self._session_id = headers.get(b"mcp-session-id")
            if not self._session_id or result.get("protocolVersion") != LEGACY:
                raise CallFailed("initialize returned no session or another protocol version")
            status, _, _ = await self._post(b'{"jsonrpc":"2.0","method":"notifications/initialized"}', [])
            if status != 202:
                raise CallFailed(f"notifications/initialized: HTTP {status}")
            self._stream = await self._connect()
            # The standalone stream the SDK client opens too: held open, never read, ended by close().
            stream = self._stream.send(self._request(b"GET", b"", [b"Cache-Control: no-store"]))
            stream.add_done_callback(_retrieve)
        else:
            _, result = await self._rpc("server/discover", {})
            if MODERN not in result.get("supportedVersions", ()):
                raise CallFailed("server/discover does not offer 2026-07-28")
        await self._rpc("tools/list", {})

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> bool:
        """One tools/call; True when the result is not an error and carries structured content."""
        _, result = await self._rpc("tools/call", {"name": name, "arguments": arguments}, name=name)
        return result.get("isError") is False and bool(result.get("structuredContent"))

    async def close(self) -> None:
        """End the session (``DELETE`` when stateful) and close the connections."""
        try:
            if self._session_id and self._conn is not None:
                await asyncio.wait_for(self._conn.send(self._request(b"DELETE", b"", [])), 5)
        except (CallFailed, TimeoutError):
            pass  # the server may already have dropped it; the session is over either way
        finally:
            for conn in (self._conn, self._stream):
                if conn is not None:
                    conn.close()

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Connection, *self._address)
        return conn

    async def _rpc(
        self, method: str, params: dict[str, Any], *, name: str | None = None
    ) -> tuple[dict[bytes, bytes], dict[str, Any]]:
        request_id = next(self._ids)
        extra = []
        if self._mode == "stateless":
            params = params | {"_meta": _ENVELOPE}
            extra = [b"Mcp-Method: " + method.encode()] + ([b"Mcp-Name: " + name.encode()] if name else [])
        body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}).encode()
        status, headers, payload = await self._post(body, extra)
        if status != 200:
            raise CallFailed(f"{method}: HTTP {status} {payload[:120]!r}")
        message = _message(headers, payload, request_id)
        if "error" in message:
            raise CallFailed(
                f"{method}: JSON-RPC error {message['error'].get('code')} {message['error'].get('message')}"
            )
        return headers, message["result"]

    async def _post(self, body: bytes, extra: list[bytes]) -> tuple[int, dict[bytes, bytes], bytes]:
        if self._conn is None:
            raise CallFailed("the session is not open")
        if self._conn.closed:
            # The server closed an idle keep-alive connection (uvicorn: after 5 s): reconnect, as HTTP clients do.
            self._conn = await self._connect()
        headers = [b"Content-Type: application/json", b"Content-Length: " + str(len(body)).encode(), *extra]
        return await self._conn.send(self._request(b"POST", body, headers))

    def _request(self, method: bytes, body: bytes, headers: list[bytes]) -> bytes:
        lines = [method + b" " + self._path + b" HTTP/1.1", *self._base, *headers]
        if self._session_id:
            lines += [b"Mcp-Session-Id: " + self._session_id, b"MCP-Protocol-Version: " + LEGACY.encode()]
        elif self._mode == "stateless":
            lines.append(b"MCP-Protocol-Version: " + MODERN.encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a future nobody awaits as seen, so its exception (the connection closed) is not reported."""
    if not future.cancelled():
        future.exception()


def _message(headers: dict[bytes, bytes], payload: bytes, request_id: int) -> dict[str, Any]:
    """The JSON-RPC response for ``request_id``, from a JSON body or an SSE stream."""
    if headers.get(b"content-type", b"").startswith(b"text/event-stream"):
        for line in payload.splitlines():
            if line.startswith(b"data:") and line[5:].strip():
                message = json.loads(line[5:])
                if isinstance(message, dict) and message.get("id") == request_id:
                    return message
        raise CallFailed("the SSE stream ended without our response")
    message = json.loads(payload)
    if not isinstance(message, dict) or message.get("id") != request_id:
        raise CallFailed("the response does not answer our request")
    return message
