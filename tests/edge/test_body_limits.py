"""Request bodies: over ``[server] max_body_bytes`` they are refused with 413, declared or chunked; slower than
``[server] body_timeout_seconds`` they get 408 and the connection is closed (a slow-body client cannot hold it).

Refusals are shown on ``/register``, where a body that got through would leave a client row.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.auth_server.oauth_flow import count_rows
from tests.conftest import LiveServer

CAP = 1024
BUDGET = 0.5  # seconds for the whole body
REDIRECT = "http://127.0.0.1:9999/callback"


def registration_body(size: int) -> bytes:
    """A valid registration of exactly ``size`` bytes (padded with a member RFC 7591 §2 says to ignore)."""
    body: dict[str, Any] = {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "x_pad": ""}
    body["x_pad"] = "x" * (size - len(json.dumps(body)))
    encoded = json.dumps(body).encode()
    assert len(encoded) == size
    return encoded


async def chunked(payload: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(payload), 256):
        yield payload[start : start + 256]


@pytest.fixture
def capped(live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    return live_server_factory(server={"max_body_bytes": CAP, "body_timeout_seconds": BUDGET})


async def test_a_body_at_the_cap_is_accepted(capped: LiveServer) -> None:
    async with capped.client() as http:
        declared = await http.post(
            "/register", content=registration_body(CAP), headers={"Content-Type": "application/json"}
        )
        streamed = await http.post(
            "/register", content=chunked(registration_body(CAP)), headers={"Content-Type": "application/json"}
        )

    assert "content-length" not in streamed.request.headers
    assert [declared.status_code, streamed.status_code] == [201, 201]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_over_the_cap_is_refused_with_413_and_stores_nothing(capped: LiveServer, framing: str) -> None:
    payload = registration_body(CAP + 1)
    content = payload if framing == "content-length" else chunked(payload)
    async with capped.client() as http:
        response = await http.post("/register", content=content, headers={"Content-Type": "application/json"})

    assert ("content-length" in response.request.headers) is (framing == "content-length")
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"
    assert await count_rows(capped.settings, "clients") == 0


async def read_answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """Status line and body of the answer, reading until the server closes the connection (bounded)."""
    async with asyncio.timeout(5):
        raw = await reader.read()
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], body


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def open_slow_registration(server: LiveServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Send a registration's headers declaring 100 bytes of body, and none of the body yet."""
    port = server.settings.server.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST /register HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n".encode()
    )
    await writer.drain()
    return reader, writer


async def test_a_body_that_stalls_gets_408_and_the_connection_closes(capped: LiveServer) -> None:
    loop = asyncio.get_running_loop()
    reader, writer = await open_slow_registration(capped)
    started = loop.time()
    writer.write(b'{"redirect_uris"')
    await writer.drain()

    status, body = await read_answer(reader)  # returns only once the server closed the connection
    elapsed = loop.time() - started
    await close(writer)

    assert status.split()[1] == b"408", status
    assert json.loads(body)["error"] == "request_timeout"
    assert elapsed >= BUDGET * 0.8, f"refused after {elapsed:.2f} s, before the {BUDGET} s budget ran out"
    async with capped.client() as http:
        after = await http.post(
            "/register", content=registration_body(200), headers={"Content-Type": "application/json"}
        )
    assert after.status_code == 201, "a normal request after the slow one is not served"
    assert await count_rows(capped.settings, "clients") == 1


async def test_a_body_trickling_in_gets_408_at_the_budget_not_per_chunk(capped: LiveServer) -> None:
    # One byte every 0.1 s never leaves the connection idle for long, and the body is still incomplete when the
    # 0.5 s budget runs out. The bytes stop just before it (4 of 100), so the server's close after its 408 never
    # meets a byte in flight: a reset there can discard the answer before the test reads it.
    reader, writer = await open_slow_registration(capped)
    sent = 0

    async def trickle() -> None:
        nonlocal sent
        with contextlib.suppress(ConnectionError):
            for _ in range(4):
                writer.write(b"x")
                await writer.drain()
                sent += 1
                await asyncio.sleep(0.1)

    sender = asyncio.create_task(trickle())
    try:
        status, _ = await read_answer(reader)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        await close(writer)

    assert status.split()[1] == b"408", status
    assert 1 < sent < 100, f"{sent} bytes sent before the answer"
    assert await count_rows(capped.settings, "clients") == 0
