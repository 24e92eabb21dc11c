"""What the edge tests send and how they check a refusal: a one-request MCP tool call (no session), the shape of
429/503 answers, and the rows that show whether a refused request reached its handler."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import func, select

from drawbridge.settings import Settings
from drawbridge.storage import tables
from drawbridge.storage.database import create_engine
from tests.resource_server.helpers import MCP_HEADERS

MODERN = "2026-07-28"  # a single POST carries the whole call: one request is one rate-limit hit


async def call_tool(http: httpx.AsyncClient, token: str, name: str, arguments: dict[str, Any]) -> httpx.Response:
    """``tools/call`` in the MCP 2026-07-28 envelope: no initialize, no session."""
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {
            "name": name,
            "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
    headers = {
        **MCP_HEADERS,
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/call",
        "Mcp-Name": name,
        "Authorization": f"Bearer {token}",
    }
    return await http.post("/mcp", json=body, headers=headers)


def tool_result(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC result of a tool call answered with JSON or an SSE stream; fails on anything else."""
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("text/event-stream"):
        lines = [line[5:] for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()]
        messages = [json.loads(line) for line in lines]
    else:
        messages = [response.json()]
    (message,) = (m for m in messages if "result" in m or "error" in m)
    assert "result" in message, message
    result: dict[str, Any] = message["result"]
    return result


def retry_after(response: httpx.Response, *, window: int) -> int:
    """The ``Retry-After`` seconds: a positive integer no longer than the limit's window."""
    value = response.headers.get("retry-after")
    assert value is not None, "no Retry-After"
    assert value.isdigit(), f"Retry-After must be delta-seconds, got {value!r}"
    seconds = int(value)
    assert 1 <= seconds <= window, f"Retry-After {seconds} outside 1..{window}"
    return seconds


def assert_oauth_refusal(response: httpx.Response, status: int, error: str, *, window: int) -> None:
    """A JSON refusal in the RFC 6749 error shape, not cacheable, with Retry-After."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff", "refusals carry the security headers too"
    retry_after(response, window=window)


def assert_page_refusal(response: httpx.Response, status: int, *, window: int) -> None:
    """A refusal a browser sees: a small HTML page, Retry-After, no cookie set."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().lower().startswith("<!doctype html>")
    assert "set-cookie" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff", "refusals carry the security headers too"
    retry_after(response, window=window)


def assert_json_rpc_refusal(response: httpx.Response, status: int, *, window: int) -> None:
    """An MCP refusal: a JSON-RPC error object (no result) with Retry-After."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    assert "result" not in body
    assert isinstance(body["error"]["code"], int)
    assert response.headers["x-content-type-options"] == "nosniff", "refusals carry the security headers too"
    retry_after(response, window=window)


async def unused_codes(settings: Settings) -> int:
    """Authorization codes issued and not yet redeemed."""
    engine = create_engine(settings.database_url, schema=settings.storage.schema_name)
    try:
        async with engine.connect() as conn:
            codes = tables.authorization_codes
            query = select(func.count()).select_from(codes).where(codes.c.used_at.is_(None))
            return int(await conn.scalar(query) or 0)
    finally:
        await engine.dispose()
