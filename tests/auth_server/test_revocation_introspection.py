"""Token revocation (RFC 7009) and token introspection (RFC 7662) on a live server."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests.auth_server.oauth_flow import Flow, add_user
from tests.conftest import LiveServer

USER = "alice"
WITH_REFRESH = ["authorization_code", "refresh_token"]
INACTIVE = {"active": False}


@pytest.fixture
async def user_id(live_server: LiveServer) -> str:
    return await add_user(live_server.settings, live_server.clock, USER, ("support",))


@pytest.fixture
async def flow(live_server: LiveServer, http: httpx.AsyncClient, user_id: str) -> Flow:
    flow = Flow(http, live_server.settings.resource_url)
    await flow.register(grant_types=WITH_REFRESH)
    return flow


@pytest.fixture
async def tokens(flow: Flow) -> dict[str, Any]:
    return await flow.sign_in(USER)


@pytest.fixture
async def resource_server(live_server: LiveServer, http: httpx.AsyncClient) -> Flow:
    """A confidential client (a resource server that introspects)."""
    rs = Flow(http, live_server.settings.resource_url)
    await rs.register(token_endpoint_auth_method="client_secret_basic")
    return rs


def assert_error(response: httpx.Response, error: str, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


async def introspection(rs: Flow, token: str) -> dict[str, Any]:
    response = await rs.introspect(token)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


# --- revocation --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token", "unknown_hint"])
async def test_revoking_the_current_refresh_token_stops_it(
    flow: Flow, tokens: dict[str, Any], hint: str | None
) -> None:
    extra = {"token_type_hint": hint} if hint else {}

    response = await flow.revoke(tokens["refresh_token"], **extra)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert_error(await flow.refresh(tokens["refresh_token"]), "invalid_grant", 400)


async def test_revoking_a_spent_refresh_token_revokes_its_whole_family(flow: Flow, tokens: dict[str, Any]) -> None:
    newest = (await flow.refresh(tokens["refresh_token"])).json()["refresh_token"]

    assert (await flow.revoke(tokens["refresh_token"])).status_code == 200

    assert_error(await flow.refresh(newest), "invalid_grant", 400)


async def test_revoked_refresh_token_introspects_inactive(
    flow: Flow, tokens: dict[str, Any], resource_server: Flow
) -> None:
    assert (await flow.revoke(tokens["refresh_token"])).status_code == 200

    assert await introspection(resource_server, tokens["refresh_token"]) == INACTIVE


async def test_revoking_an_access_token_makes_it_introspect_inactive(
    flow: Flow, tokens: dict[str, Any], resource_server: Flow
) -> None:
    assert (await introspection(resource_server, tokens["access_token"]))["active"] is True

    response = await flow.revoke(tokens["access_token"], token_type_hint="access_token")

    assert response.status_code == 200, response.text
    assert await introspection(resource_server, tokens["access_token"]) == INACTIVE


async def test_revoking_a_token_twice_answers_200_both_times(flow: Flow, tokens: dict[str, Any]) -> None:
    for token in (tokens["access_token"], tokens["access_token"], tokens["refresh_token"], tokens["refresh_token"]):
        assert (await flow.revoke(token)).status_code == 200


@pytest.mark.parametrize(
    "token",
    [
        "drt_never-issued",
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJqdGkiOiJ4In0.",
        "x" * 4000,
    ],
)
async def test_unknown_or_garbage_tokens_are_revoked_with_200(flow: Flow, tokens: dict[str, Any], token: str) -> None:
    response = await flow.revoke(token)

    assert response.status_code == 200, response.text
    assert (await flow.refresh(tokens["refresh_token"])).status_code == 200


@pytest.mark.parametrize("kind", ["refresh_token", "access_token"])
async def test_a_client_cannot_revoke_another_clients_token(
    http: httpx.AsyncClient, flow: Flow, tokens: dict[str, Any], resource_server: Flow, kind: str
) -> None:
    other = Flow(http, flow.resource)
    await other.register(grant_types=WITH_REFRESH)

    response = await other.revoke(tokens[kind])

    assert response.status_code == 200, response.text
    assert (await introspection(resource_server, tokens[kind]))["active"] is True
    assert (await flow.refresh(tokens["refresh_token"])).status_code == 200


async def test_revocation_without_a_token_is_an_invalid_request(flow: Flow, tokens: dict[str, Any]) -> None:
    response = await flow.back_channel("/revoke", token_type_hint="refresh_token")

    assert_error(response, "invalid_request", 400)
    assert (await flow.refresh(tokens["refresh_token"])).status_code == 200


@pytest.mark.parametrize(
    ("form", "headers"),
    [
        pytest.param({"client_id": "no-such-client"}, {}, id="unknown-client"),
        pytest.param({}, {"authorization": "Basic " + _b64(b"no-such-client:secret")}, id="unknown-client-basic"),
    ],
)
async def test_revocation_by_an_unknown_client_is_refused_and_revokes_nothing(
    http: httpx.AsyncClient, flow: Flow, tokens: dict[str, Any], form: dict[str, str], headers: dict[str, str]
) -> None:
    response = await http.post("/revoke", data={"token": tokens["refresh_token"], **form}, headers=headers)

    assert_error(response, "invalid_client", 401)
    assert response.headers["www-authenticate"].startswith("Basic")
    assert (await flow.refresh(tokens["refresh_token"])).status_code == 200


async def test_confidential_client_with_a_wrong_secret_cannot_revoke(
    live_server: LiveServer, http: httpx.AsyncClient, user_id: str
) -> None:
    flow = Flow(http, live_server.settings.resource_url)
    await flow.register(token_endpoint_auth_method="client_secret_basic", grant_types=WITH_REFRESH)
    tokens = await flow.sign_in(USER)

    response = await http.post(
        "/revoke", data={"token": tokens["refresh_token"]}, auth=httpx.BasicAuth(flow.client_id, "wrong")
    )

    assert_error(response, "invalid_client", 401)
    assert response.headers["www-authenticate"] == 'Basic realm="drawbridge"'
    assert (await flow.refresh(tokens["refresh_token"])).status_code == 200


# --- introspection: who may ask ----------------------------------------------------------------------------------


async def test_public_client_may_not_introspect(flow: Flow, tokens: dict[str, Any]) -> None:
    response = await flow.introspect(tokens["access_token"])

    assert_error(response, "invalid_client", 401)
    assert "active" not in response.json()
    assert "www-authenticate" in response.headers


async def test_introspection_without_client_credentials_is_unauthorized(
    http: httpx.AsyncClient, tokens: dict[str, Any]
) -> None:
    response = await http.post("/introspect", data={"token": tokens["access_token"]})

    assert_error(response, "invalid_client", 401)
    assert "active" not in response.json()
    assert "www-authenticate" in response.headers


async def test_introspection_with_a_wrong_secret_is_unauthorized(
    http: httpx.AsyncClient, tokens: dict[str, Any], resource_server: Flow
) -> None:
    response = await http.post(
        "/introspect", data={"token": tokens["access_token"]}, auth=httpx.BasicAuth(resource_server.client_id, "nope")
    )

    assert_error(response, "invalid_client", 401)
    assert "active" not in response.json()
    assert response.headers["www-authenticate"] == 'Basic realm="drawbridge"'


async def test_introspection_without_a_token_is_an_invalid_request(resource_server: Flow) -> None:
    response = await resource_server.back_channel("/introspect")

    assert_error(response, "invalid_request", 400)


# --- introspection: access tokens --------------------------------------------------------------------------------


async def test_active_access_token_introspects_with_its_claims(
    live_server: LiveServer, flow: Flow, tokens: dict[str, Any], resource_server: Flow, user_id: str
) -> None:
    body = await introspection(resource_server, tokens["access_token"])

    now = int(live_server.clock.now())
    assert body["active"] is True
    assert body["token_type"] == "Bearer"
    assert body["iss"] == live_server.base_url
    assert body["sub"] == user_id
    assert body["client_id"] == flow.client_id
    assert body["scope"] == "orders:read customers:read"
    assert body["aud"] == live_server.settings.resource_url
    assert body["iat"] == now
    assert body["exp"] == now + 600
    assert body["jti"]
    assert body["username"] == USER


@pytest.mark.parametrize(("elapsed", "active"), [(629, True), (631, False)])
async def test_access_token_introspects_inactive_once_expired_beyond_the_leeway(
    live_server: LiveServer, tokens: dict[str, Any], resource_server: Flow, elapsed: int, active: bool
) -> None:
    live_server.clock.advance(elapsed)

    body = await introspection(resource_server, tokens["access_token"])

    if active:
        assert body["active"] is True
    else:
        assert body == INACTIVE


def _tamper_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    return f"{header}.{payload}.{_flip(signature, len(signature) // 2)}"


def _tamper_payload(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "orders:read customers:read refunds:write"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def _tamper_header(token: str) -> str:
    _header, payload, signature = token.split(".")
    return f"{_b64(json.dumps({'alg': 'none', 'typ': 'at+jwt'}).encode())}.{payload}.{signature}"


def _strip_signature(token: str) -> str:
    header, payload, _signature = token.split(".")
    return f"{header}.{payload}."


@pytest.mark.parametrize("tamper", [_tamper_signature, _tamper_payload, _tamper_header, _strip_signature])
async def test_tampered_access_token_introspects_inactive(
    tokens: dict[str, Any], resource_server: Flow, tamper: Any
) -> None:
    assert await introspection(resource_server, tamper(tokens["access_token"])) == INACTIVE


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "drt_never-issued", "x" * 4000])
async def test_unknown_token_introspects_inactive(resource_server: Flow, token: str) -> None:
    assert await introspection(resource_server, token) == INACTIVE


# --- introspection: refresh tokens -------------------------------------------------------------------------------


async def test_refresh_token_introspects_active_until_it_is_used(
    live_server: LiveServer, flow: Flow, tokens: dict[str, Any], resource_server: Flow, user_id: str
) -> None:
    body = await introspection(resource_server, tokens["refresh_token"])

    now = int(live_server.clock.now())
    assert body["active"] is True
    assert body["token_type"] == "refresh_token"
    assert body["sub"] == user_id
    assert body["client_id"] == flow.client_id
    assert body["scope"] == "orders:read customers:read"
    assert body["iat"] == now
    assert body["exp"] == now + live_server.settings.tokens.refresh_token_ttl

    newest = (await flow.refresh(tokens["refresh_token"])).json()["refresh_token"]

    assert await introspection(resource_server, tokens["refresh_token"]) == INACTIVE
    assert (await introspection(resource_server, newest))["active"] is True


async def test_refresh_token_introspects_inactive_once_expired(
    live_server: LiveServer, tokens: dict[str, Any], resource_server: Flow
) -> None:
    live_server.clock.advance(live_server.settings.tokens.refresh_token_ttl + 1)

    assert await introspection(resource_server, tokens["refresh_token"]) == INACTIVE


async def test_refresh_tokens_of_a_family_revoked_by_reuse_introspect_inactive(
    flow: Flow, tokens: dict[str, Any], resource_server: Flow
) -> None:
    newest = (await flow.refresh(tokens["refresh_token"])).json()["refresh_token"]
    assert (await flow.refresh(tokens["refresh_token"])).status_code == 400

    assert await introspection(resource_server, newest) == INACTIVE
