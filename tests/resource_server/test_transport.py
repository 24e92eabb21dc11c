"""The MCP endpoint's transport: both protocol eras on one URL, sessions bound to their principal, and the edge
checks in front of it (Host, Origin and CORS, protocol version, body size)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from mcp_types import UNSUPPORTED_PROTOCOL_VERSION
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from tests.conftest import LiveServer
from tests.resource_server.helpers import INIT, call, mcp_client, mint, post_mcp
from tests.toolsets import WRITES

BOTH = ("orders:read", "orders:refund")
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}
APP_ORIGIN = "https://app.example"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type,mcp-protocol-version",
}


def rpc_messages(response: httpx.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages of a response, whether sent as JSON or as an SSE stream."""
    if response.headers["content-type"].startswith("text/event-stream"):
        return [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:") and line[5:]]
    return [response.json()]


def rpc_result(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    (message,) = (m for m in rpc_messages(response) if "result" in m or "error" in m)
    assert "result" in message, message
    result: dict[str, Any] = message["result"]
    return result


async def open_session(http: httpx.AsyncClient, token: str, **headers: str) -> str:
    response = await post_mcp(http, INIT, token, **headers)
    assert response.status_code == 200, response.text
    session_id = response.headers["mcp-session-id"]
    assert (await post_mcp(http, INITIALIZED, token, **{"Mcp-Session-Id": session_id})).status_code == 202
    return session_id


@pytest.fixture
def writes() -> list[tuple[str, int, str]]:
    """The destructive tool's record, as it was before the test (compare to show nothing was done)."""
    return list(WRITES)


# --- both protocol eras ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "era"), [("legacy", HANDSHAKE_PROTOCOL_VERSIONS), ("auto", MODERN_PROTOCOL_VERSIONS)])
async def test_official_client_lists_and_calls_in_both_eras(
    live_server: LiveServer, mode: str, era: tuple[str, ...]
) -> None:
    async with mcp_client(live_server, mint(live_server, subject="era-user"), mode=mode) as client:
        assert client.protocol_version in era
        tools = await client.list_tools()
        result = await client.call_tool("lookup_item", {"item_id": 5})

    assert [t.name for t in tools.tools] == ["lookup_item"]
    assert not result.is_error
    assert result.structured_content == {"item_id": 5, "label": "item-5", "caller": "era-user"}


async def test_raw_legacy_initialize_opens_a_session(live_server: LiveServer, http: httpx.AsyncClient) -> None:
    response = await post_mcp(http, INIT, mint(live_server))

    assert response.status_code == 200
    assert response.headers["mcp-session-id"]
    assert rpc_result(response)["protocolVersion"] == INIT["params"]["protocolVersion"]  # type: ignore[index]


# --- sessions belong to their principal ------------------------------------------------------------------------


async def test_session_is_refused_to_another_subject(
    live_server: LiveServer, http: httpx.AsyncClient, writes: list[Any]
) -> None:
    session = await open_session(http, mint(live_server, scopes=BOTH, subject="owner"))
    intruder = mint(live_server, scopes=BOTH, subject="intruder")

    listed = await post_mcp(http, TOOLS_LIST, intruder, **{"Mcp-Session-Id": session})
    called = await post_mcp(
        http, call("remove_item", {"item_id": 3, "note": "x"}), intruder, **{"Mcp-Session-Id": session}
    )

    assert listed.status_code == 404
    assert called.status_code == 404
    assert writes == WRITES


async def test_session_is_refused_to_another_client_of_the_same_subject(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    session = await open_session(http, mint(live_server, subject="owner", client_id="client-a"))

    response = await post_mcp(
        http, TOOLS_LIST, mint(live_server, subject="owner", client_id="client-b"), **{"Mcp-Session-Id": session}
    )

    assert response.status_code == 404


async def test_session_accepts_a_fresh_token_of_the_same_subject(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    first = mint(live_server, subject="owner")
    session = await open_session(http, first)
    live_server.clock.advance(300)
    fresh = mint(live_server, subject="owner")
    assert fresh != first

    response = await post_mcp(http, TOOLS_LIST, fresh, **{"Mcp-Session-Id": session})

    assert [t["name"] for t in rpc_result(response)["tools"]] == ["lookup_item"]


async def test_unknown_session_id_is_not_found(live_server: LiveServer, http: httpx.AsyncClient) -> None:
    response = await post_mcp(http, TOOLS_LIST, mint(live_server), **{"Mcp-Session-Id": "0" * 32})

    assert response.status_code == 404


# --- Origin, CORS and Host -------------------------------------------------------------------------------------


async def test_foreign_origin_is_refused_before_anything_runs(
    live_server: LiveServer, http: httpx.AsyncClient, writes: list[Any]
) -> None:
    token = mint(live_server, scopes=BOTH)
    session = await open_session(http, token)
    body = call("remove_item", {"item_id": 4, "note": "x"})

    refused = await post_mcp(http, body, token, Origin="http://evil.example", **{"Mcp-Session-Id": session})
    opening = await post_mcp(http, INIT, token, Origin="http://evil.example")

    assert refused.status_code == 403
    assert opening.status_code == 403
    assert "mcp-session-id" not in opening.headers
    assert writes == WRITES
    # Control: the same call without the foreign Origin runs.
    assert not rpc_result(await post_mcp(http, body, token, **{"Mcp-Session-Id": session}))["isError"]
    assert len(WRITES) == len(writes) + 1


async def test_foreign_origin_is_refused_even_without_a_token(http: httpx.AsyncClient) -> None:
    response = await post_mcp(http, INIT, Origin="http://evil.example")

    assert response.status_code == 403


async def test_own_origin_is_accepted(live_server: LiveServer, http: httpx.AsyncClient) -> None:
    response = await post_mcp(http, INIT, mint(live_server), Origin=live_server.base_url)

    assert response.status_code == 200


async def test_configured_origin_is_accepted(live_server_factory: Callable[..., LiveServer]) -> None:
    server = live_server_factory(mcp={"allowed_origins": [APP_ORIGIN]})
    async with server.client() as http:
        response = await post_mcp(http, INIT, mint(server), Origin=APP_ORIGIN)

    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "mcp-session-id" in response.headers["access-control-expose-headers"].lower()


async def test_preflight_from_a_configured_origin_is_allowed(live_server_factory: Callable[..., LiveServer]) -> None:
    server = live_server_factory(mcp={"allowed_origins": [APP_ORIGIN]})
    async with server.client() as http:
        preflight = await http.options("/mcp", headers={"Origin": APP_ORIGIN, **PREFLIGHT})

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    allowed_headers = preflight.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "mcp-protocol-version"} <= set(allowed_headers.replace(" ", "").split(","))


async def test_challenge_to_a_configured_origin_is_readable_by_the_browser(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(mcp={"allowed_origins": [APP_ORIGIN]})
    async with server.client() as http:
        response = await post_mcp(http, INIT, Origin=APP_ORIGIN)

    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "www-authenticate" in response.headers["access-control-expose-headers"].lower()


@pytest.mark.parametrize("origin", ["http://evil.example", "https://app.example.evil.example", "null"])
async def test_preflight_from_an_unlisted_origin_gets_no_allow_origin(
    live_server_factory: Callable[..., LiveServer], origin: str
) -> None:
    server = live_server_factory(mcp={"allowed_origins": [APP_ORIGIN]})
    async with server.client() as http:
        preflight = await http.options("/mcp", headers={"Origin": origin, **PREFLIGHT})
        response = await post_mcp(http, INIT, mint(server), Origin=origin)

    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in response.headers
    assert response.status_code == 403


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.evil.example"])
async def test_unexpected_host_is_misdirected(live_server: LiveServer, http: httpx.AsyncClient, host: str) -> None:
    response = await post_mcp(http, INIT, mint(live_server), Host=host)

    assert response.status_code == 421
    assert "mcp-session-id" not in response.headers


async def test_configured_extra_host_is_accepted(live_server_factory: Callable[..., LiveServer]) -> None:
    server = live_server_factory(mcp={"allowed_hosts": ["mcp.internal.example"]})
    async with server.client() as http:
        response = await post_mcp(http, INIT, mint(server), Host="mcp.internal.example")

    assert response.status_code == 200, response.text


async def test_public_url_host_is_accepted(live_server_factory: Callable[..., LiveServer]) -> None:
    """Behind a proxy: the server listens on loopback and is reached as its public URL's host."""
    server = live_server_factory(server={"public_url": "http://mcp.example.test"})
    loopback = f"http://127.0.0.1:{server.settings.server.port}"
    async with httpx.AsyncClient(base_url=loopback, timeout=10) as http:
        response = await post_mcp(http, INIT, mint(server), Host="mcp.example.test", Origin="http://mcp.example.test")

    assert response.status_code == 200, response.text


# --- protocol version ------------------------------------------------------------------------------------------


async def test_unsupported_protocol_version_header_is_bad_request(
    live_server: LiveServer, http: httpx.AsyncClient, writes: list[Any]
) -> None:
    token = mint(live_server, scopes=BOTH)
    session = await open_session(http, token)
    body = call("remove_item", {"item_id": 6, "note": "x"})

    in_session = await post_mcp(http, body, token, **{"Mcp-Session-Id": session, "MCP-Protocol-Version": "1999-01-01"})
    opening = await post_mcp(http, INIT, token, **{"MCP-Protocol-Version": "1999-01-01"})

    assert in_session.status_code == 400
    assert opening.status_code == 400
    assert "mcp-session-id" not in opening.headers
    assert writes == WRITES


async def test_unsupported_version_in_a_modern_envelope_is_named(
    live_server: LiveServer, http: httpx.AsyncClient, writes: list[Any]
) -> None:
    body = call("remove_item", {"item_id": 6, "note": "x"})
    body["params"]["_meta"] = {
        "io.modelcontextprotocol/protocolVersion": "1999-01-01",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    headers = {"MCP-Protocol-Version": "1999-01-01", "Mcp-Method": "tools/call", "Mcp-Name": "remove_item"}

    response = await post_mcp(http, body, mint(live_server, scopes=BOTH), **headers)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == UNSUPPORTED_PROTOCOL_VERSION
    assert writes == WRITES


# --- body size -------------------------------------------------------------------------------------------------


def padded_call(size: int) -> bytes:
    body = call("lookup_item", {"item_id": 1})
    body["params"]["_meta"] = {"pad": "x" * size}
    return json.dumps(body).encode()


async def test_body_over_the_cap_is_too_large(live_server_factory: Callable[..., LiveServer]) -> None:
    server = live_server_factory(server={"max_body_bytes": 4096})
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with server.client() as http:
        token = mint(server)
        session = await open_session(http, token)
        headers |= {"Authorization": f"Bearer {token}", "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}
        declared = await http.post("/mcp", content=padded_call(5000), headers=headers)
        anonymous = await http.post("/mcp", content=padded_call(5000), headers={"Content-Type": "application/json"})
        fits = await http.post("/mcp", content=padded_call(3000), headers=headers)

    assert declared.status_code == 413
    assert anonymous.status_code == 413
    assert fits.status_code == 200


async def test_chunked_body_over_the_cap_is_too_large(live_server_factory: Callable[..., LiveServer]) -> None:
    server = live_server_factory(server={"max_body_bytes": 4096})
    payload = padded_call(5000)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 1024):
            yield payload[start : start + 1024]

    async with server.client() as http:
        token = mint(server)
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        headers["Authorization"] = f"Bearer {token}"
        response = await http.post("/mcp", content=chunks(), headers=headers)

    assert "content-length" not in response.request.headers
    assert response.status_code == 413


async def test_trailing_whitespace_in_mcp_headers_is_accepted(live_server: LiveServer) -> None:
    # MCP 2026-07-28 (SEP-2243): header values are compared without surrounding whitespace. httpx refuses to send
    # such a header, so this request is written to the socket by hand.
    token = mint(live_server)
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {
                "name": "lookup_item",
                "arguments": {"item_id": 1},
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                },
            },
        }
    ).encode()
    host = live_server.base_url.removeprefix("http://")
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n"
        f"Mcp-Method: tools/call\r\nMcp-Name: lookup_item  \r\nAuthorization: Bearer {token}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    address, port = host.split(":")
    reader, writer = await asyncio.open_connection(address, int(port))
    writer.write(head + body)
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    assert status_line.split()[1] == b"200", status_line
