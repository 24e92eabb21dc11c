"""Helpers for resource-server tests: tokens minted by the running server's own issuer, and MCP clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import LiveServer

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}


VERIFIED_CLIENT = "https://client.example/drawbridge-tests.json"  # a CIMD-shaped client_id: verified for policies
REFUNDER: dict[str, Any] = {"roles": ("support", "refunds"), "client_id": VERIFIED_CLIENT}  # the demo's refund path


def mint(
    server: LiveServer,
    *,
    scopes: tuple[str, ...] = ("orders:read",),
    subject: str = "user-1",
    roles: tuple[str, ...] = ("support",),
    username: str | None = None,
    **kw: Any,
) -> str:
    """A token from the server's own issuer and keys (what /token would issue), without the browser dance."""
    extra: dict[str, Any] = {"roles": list(roles)}
    if username is not None:
        extra["preferred_username"] = username
    token, _ = server.components.auth_server.tokens.mint(
        subject=subject,
        audience=kw.pop("audience", server.settings.resource_url),
        client_id=kw.pop("client_id", "test-client"),
        scopes=scopes,
        extra=extra,
        **kw,
    )
    return token


async def post_mcp(
    http: httpx.AsyncClient, body: dict[str, Any], token: str | None = None, **headers: str
) -> httpx.Response:
    all_headers = {**MCP_HEADERS, **headers}
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    return await http.post("/mcp", json=body, headers=all_headers)


def call(name: str, arguments: dict[str, Any], request_id: int = 2) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


@asynccontextmanager
async def mcp_client(server: LiveServer, token: str, mode: str = "auto") -> AsyncIterator[Client]:
    """The official SDK client over streamable HTTP with a bearer token."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
        transport = streamable_http_client(server.settings.resource_url, http_client=http)
        async with Client(transport, mode=mode) as client:  # type: ignore[arg-type]
            yield client
