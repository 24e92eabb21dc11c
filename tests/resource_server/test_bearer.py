"""RFC 6750 bearer authentication of the MCP endpoint, with MCP's challenges (RFC 9728 discovery, step-up)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from drawbridge.keys.access_token import AccessTokenIssuer
from tests.auth_server.oauth_flow import Flow, add_user
from tests.conftest import LiveServer
from tests.resource_server.helpers import INIT, MCP_HEADERS, call, mcp_client, mint, post_mcp
from tests.toolsets import WRITES

PRM_PATH = "/.well-known/oauth-protected-resource"


def challenge(response: httpx.Response) -> dict[str, str]:
    """The auth-params of a ``WWW-Authenticate: Bearer …`` challenge (our values never contain ``", "``)."""
    header = response.headers["www-authenticate"]
    assert header.startswith("Bearer ")
    params = {}
    for part in header.removeprefix("Bearer ").split(", "):
        name, _, value = part.partition("=")
        params[name] = value.strip('"')
    return params


def assert_refused(response: httpx.Response, status: int, error: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    params = challenge(response)
    assert params.get("error") == error
    assert response.headers["cache-control"] == "no-store"
    return params


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(payload)), signature


# --- discovery -------------------------------------------------------------------------------------------------


async def test_no_credentials_gets_401_challenge_naming_metadata_and_baseline_scope(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    response = await post_mcp(http, INIT)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")
    params = challenge(response)
    assert "error" not in params
    assert params["resource_metadata"] == f"{live_server.base_url}{PRM_PATH}/mcp"
    assert params["scope"] == "orders:read"


@pytest.mark.parametrize("path", [f"{PRM_PATH}/mcp", PRM_PATH])
async def test_protected_resource_metadata_names_resource_issuer_and_scopes(
    live_server: LiveServer, http: httpx.AsyncClient, path: str
) -> None:
    response = await http.get(path)

    assert response.status_code == 200
    document = response.json()
    assert document["resource"] == f"{live_server.base_url}/mcp"
    assert document["authorization_servers"] == [live_server.settings.issuer]
    assert {"orders:read", "orders:refund"} <= set(document["scopes_supported"])
    assert "offline_access" not in document["scopes_supported"]
    assert document["bearer_methods_supported"] == ["header"]


async def test_metadata_url_from_the_challenge_answers(http: httpx.AsyncClient) -> None:
    url = challenge(await post_mcp(http, INIT))["resource_metadata"]

    response = await http.get(url)

    assert response.status_code == 200
    assert response.json()["resource"] == url.replace(PRM_PATH, "")


# --- malformed and invalid tokens ------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", ["Basic x", "Bearer", "bearer", "Token abc"])
async def test_malformed_authorization_header_is_invalid_request(http: httpx.AsyncClient, authorization: str) -> None:
    response = await post_mcp(http, INIT, Authorization=authorization)

    params = assert_refused(response, 400, "invalid_request")
    assert "resource_metadata" in params


async def test_two_authorization_headers_are_invalid_request(live_server: LiveServer, http: httpx.AsyncClient) -> None:
    token = mint(live_server)
    headers = [*MCP_HEADERS.items(), ("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]

    response = await http.post("/mcp", json=INIT, headers=headers)

    assert_refused(response, 400, "invalid_request")


async def test_expired_token_is_invalid_token(live_server: LiveServer, http: httpx.AsyncClient) -> None:
    token = mint(live_server)
    assert (await post_mcp(http, INIT, token)).status_code == 200

    live_server.clock.advance(600 + 31)

    assert_refused(await post_mcp(http, INIT, token), 401, "invalid_token")


async def test_expired_token_is_refused_even_when_never_seen_before(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    token = mint(live_server)
    live_server.clock.advance(600 + 31)

    assert_refused(await post_mcp(http, INIT, token), 401, "invalid_token")


def tamper_signature(server: LiveServer) -> str:
    header, payload, signature = mint(server).split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    return f"{header}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"


def tamper_payload(server: LiveServer) -> str:
    token = mint(server)
    header, _, signature = token.split(".")
    claims = segments(token)[1]
    claims["scope"] = "orders:read orders:refund"
    return f"{header}.{b64(json.dumps(claims).encode())}.{signature}"


def other_audience(server: LiveServer) -> str:
    return mint(server, audience="http://127.0.0.1:1/mcp")


def base_url_audience(server: LiveServer) -> str:
    return mint(server, audience=server.base_url)


def other_issuer(server: LiveServer) -> str:
    issuer = AccessTokenIssuer(server.components.keys, issuer="http://evil.example", ttl=600, clock=server.clock)
    token, _ = issuer.mint(
        subject="user-1", audience=server.settings.resource_url, client_id="test-client", scopes=("orders:read",)
    )
    return token


def resigned(server: LiveServer, *, same_kid: bool) -> str:
    """The server's own claims and header, signed by a key the server never had."""
    header, claims, _ = segments(mint(server))
    key = RSAKey.generate_key(2048) if header["alg"] == "RS256" else ECKey.generate_key("P-256")
    if not same_kid:
        header["kid"] = "not-a-known-kid"
    return jwt.encode(header, claims, key)


def unsigned(server: LiveServer) -> str:
    header, claims, _ = segments(mint(server))
    header["alg"] = "none"
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}."


def not_a_jwt(_server: LiveServer) -> str:
    return "definitely-not-a-token"


@pytest.mark.parametrize(
    "forge",
    [
        tamper_signature,
        tamper_payload,
        other_audience,
        base_url_audience,
        other_issuer,
        lambda s: resigned(s, same_kid=True),
        lambda s: resigned(s, same_kid=False),
        unsigned,
        not_a_jwt,
    ],
    ids=[
        "tampered-signature",
        "tampered-payload",
        "other-audience",
        "base-url-audience",
        "other-issuer",
        "foreign-key-same-kid",
        "foreign-key-unknown-kid",
        "alg-none",
        "not-a-jwt",
    ],
)
async def test_forged_or_misdirected_token_is_invalid_token(
    live_server: LiveServer, http: httpx.AsyncClient, forge: Callable[[LiveServer], str]
) -> None:
    before = list(WRITES)

    response = await post_mcp(http, call("remove_item", {"item_id": 1, "note": "x"}), forge(live_server))

    params = assert_refused(response, 401, "invalid_token")
    assert "resource_metadata" in params
    assert before == WRITES


async def test_unforged_token_of_the_same_shape_is_accepted(live_server: LiveServer, http: httpx.AsyncClient) -> None:
    """Control for the forgeries above: the untouched token passes the same request path."""
    response = await post_mcp(http, INIT, mint(live_server))

    assert response.status_code == 200
    assert "mcp-session-id" in response.headers


# --- revocation ------------------------------------------------------------------------------------------------


async def revoked_token(server: LiveServer, http: httpx.AsyncClient) -> tuple[str, Flow]:
    await add_user(server.settings, server.clock, "alice", ("support",))
    flow = Flow(http, server.settings.resource_url)
    await flow.register()
    tokens = await flow.sign_in("alice", scope="orders:read")
    return tokens["access_token"], flow


async def test_revoked_token_is_refused_at_once_without_revocation_cache(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(mcp={"revocation_check_seconds": 0})
    async with server.client() as http:
        token, flow = await revoked_token(server, http)
        assert (await post_mcp(http, INIT, token)).status_code == 200

        assert (await flow.revoke(token)).status_code == 200

        assert_refused(await post_mcp(http, INIT, token), 401, "invalid_token")


async def test_revoked_token_is_refused_within_the_revocation_check_interval(live_server: LiveServer) -> None:
    async with live_server.client() as http:
        token, flow = await revoked_token(live_server, http)
        assert (await post_mcp(http, INIT, token)).status_code == 200
        assert (await flow.revoke(token)).status_code == 200

        # Still cached: the revocation list is consulted at most every 10 s per token.
        assert (await post_mcp(http, INIT, token)).status_code == 200
        live_server.clock.advance(9)
        assert (await post_mcp(http, INIT, token)).status_code == 200
        live_server.clock.advance(1)

        assert_refused(await post_mcp(http, INIT, token), 401, "invalid_token")
        assert_refused(await post_mcp(http, INIT, token), 401, "invalid_token")


async def test_revoked_token_never_seen_before_is_refused(live_server: LiveServer) -> None:
    async with live_server.client() as http:
        token, flow = await revoked_token(live_server, http)
        assert (await flow.revoke(token)).status_code == 200

        assert_refused(await post_mcp(http, INIT, token), 401, "invalid_token")


# --- scopes ----------------------------------------------------------------------------------------------------


async def test_destructive_tool_without_its_scope_is_insufficient_scope(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    before = list(WRITES)

    response = await post_mcp(http, call("remove_item", {"item_id": 7, "note": "gone"}), mint(live_server))

    params = assert_refused(response, 403, "insufficient_scope")
    assert set(params["scope"].split()) == {"orders:read", "orders:refund"}
    assert params["resource_metadata"] == f"{live_server.base_url}{PRM_PATH}/mcp"
    assert before == WRITES


async def test_batch_hiding_a_destructive_call_is_insufficient_scope(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    before = list(WRITES)
    batch = [call("lookup_item", {"item_id": 1}, 2), call("remove_item", {"item_id": 7, "note": "gone"}, 3)]
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {mint(live_server)}"}

    response = await http.post("/mcp", json=batch, headers=headers)

    params = assert_refused(response, 403, "insufficient_scope")
    assert "orders:refund" in params["scope"].split()
    assert before == WRITES


async def test_reading_a_resource_without_its_scope_is_insufficient_scope(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    body = {"jsonrpc": "2.0", "id": 2, "method": "resources/read", "params": {"uri": "items://1"}}

    response = await post_mcp(http, body, mint(live_server, scopes=("orders:refund",)))

    params = assert_refused(response, 403, "insufficient_scope")
    assert set(params["scope"].split()) == {"orders:read", "orders:refund"}


async def test_token_with_both_scopes_runs_the_destructive_tool(live_server: LiveServer) -> None:
    before = len(WRITES)
    token = mint(live_server, scopes=("orders:read", "orders:refund"), subject="refunder-7")

    async with mcp_client(live_server, token, mode="legacy") as client:
        result = await client.call_tool("remove_item", {"item_id": 9, "note": "duplicate"})

    assert not result.is_error
    assert result.structured_content == {"removed": 9}
    assert len(WRITES) == before + 1
    assert WRITES[-1] == ("refunder-7", 9, "duplicate")
