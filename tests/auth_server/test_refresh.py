"""The refresh_token grant with rotation and reuse detection (OAuth 2.1 §4.3, RFC 9700 §4.14.2, RFC 6749 §6)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.auth_server.oauth_flow import Flow, add_user, set_disabled
from tests.conftest import LiveServer

USER = "alice"
WITH_REFRESH = ["authorization_code", "refresh_token"]
FULL_SCOPE = "orders:read customers:read"


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
    """The first token response of a signed-in user."""
    return await flow.sign_in(USER)


def assert_refused(response: httpx.Response, error: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert not {"access_token", "refresh_token"} & body.keys()
    assert response.headers["cache-control"] == "no-store"


async def refreshed(flow: Flow, refresh_token: str, **extra: str) -> dict[str, Any]:
    response = await flow.refresh(refresh_token, **extra)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def claims(token: str) -> dict[str, Any]:
    """The claims of a JWT issued in the same test (its signature is covered by test_token.py)."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


async def test_refresh_answers_a_new_access_token_and_a_new_refresh_token(
    live_server: LiveServer, flow: Flow, tokens: dict[str, Any], user_id: str
) -> None:
    live_server.clock.advance(300)

    body = await refreshed(flow, tokens["refresh_token"])

    assert body.keys() == {"access_token", "token_type", "expires_in", "scope", "refresh_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == FULL_SCOPE
    assert body["refresh_token"] != tokens["refresh_token"]
    assert body["access_token"] != tokens["access_token"]
    access = claims(body["access_token"])
    assert (access["sub"], access["client_id"], access["scope"]) == (user_id, flow.client_id, FULL_SCOPE)
    assert access["aud"] == live_server.settings.resource_url
    assert access["iat"] == int(live_server.clock.now())


async def test_rotation_chains_and_each_spent_refresh_token_is_refused(flow: Flow, tokens: dict[str, Any]) -> None:
    chain = [tokens["refresh_token"]]
    for _ in range(3):
        chain.append((await refreshed(flow, chain[-1]))["refresh_token"])
    assert len(set(chain)) == len(chain)

    assert_refused(await flow.refresh(chain[0]), "invalid_grant")


@pytest.mark.parametrize("reused", [0, 1], ids=["first", "middle"])
async def test_reusing_a_spent_refresh_token_revokes_the_whole_family(
    flow: Flow, tokens: dict[str, Any], reused: int
) -> None:
    chain = [tokens["refresh_token"]]
    for _ in range(2):
        chain.append((await refreshed(flow, chain[-1]))["refresh_token"])

    assert_refused(await flow.refresh(chain[reused]), "invalid_grant")

    assert_refused(await flow.refresh(chain[-1]), "invalid_grant")


async def test_reuse_in_one_family_leaves_the_users_other_sessions_alone(
    live_server: LiveServer, flow: Flow, tokens: dict[str, Any]
) -> None:
    other_session = await flow.sign_in(USER)
    newest = (await refreshed(flow, tokens["refresh_token"]))["refresh_token"]

    assert_refused(await flow.refresh(tokens["refresh_token"]), "invalid_grant")

    assert_refused(await flow.refresh(newest), "invalid_grant")
    assert (await flow.refresh(other_session["refresh_token"])).status_code == 200


async def test_concurrent_refreshes_with_one_token_issue_once_and_then_revoke_the_family(
    flow: Flow, tokens: dict[str, Any]
) -> None:
    responses = await asyncio.gather(*(flow.refresh(tokens["refresh_token"]) for _ in range(4)))

    (winner,) = [r for r in responses if r.status_code == 200]
    for response in responses:
        if response is not winner:
            assert_refused(response, "invalid_grant")
    assert_refused(await flow.refresh(winner.json()["refresh_token"]), "invalid_grant")


async def test_narrowed_scope_gives_a_narrower_access_token_and_keeps_the_grant(
    flow: Flow, tokens: dict[str, Any]
) -> None:
    narrow = await refreshed(flow, tokens["refresh_token"], scope="orders:read")

    assert narrow["scope"] == "orders:read"
    assert claims(narrow["access_token"])["scope"] == "orders:read"

    full = await refreshed(flow, narrow["refresh_token"], scope=FULL_SCOPE)
    assert full["scope"] == FULL_SCOPE
    assert claims(full["access_token"])["scope"] == FULL_SCOPE
    unspecified = await refreshed(flow, full["refresh_token"])
    assert unspecified["scope"] == FULL_SCOPE


@pytest.mark.parametrize(
    "scope",
    ["orders:read refunds:write", "refunds:write", "orders:read admin", f"{FULL_SCOPE} refunds:write"],
)
async def test_widened_scope_is_refused(flow: Flow, tokens: dict[str, Any], scope: str) -> None:
    response = await flow.refresh(tokens["refresh_token"], scope=scope)

    assert_refused(response, "invalid_scope")


REFUSED_PARAMETERS: list[Any] = [
    pytest.param({"scope": "orders:read refunds:write"}, "invalid_scope", id="widened-scope"),
    pytest.param({"resource": "http://127.0.0.1:1/mcp"}, "invalid_target", id="other-resource"),
]


@pytest.mark.parametrize(("extra", "error"), REFUSED_PARAMETERS)
async def test_refused_refresh_request_does_not_spend_the_refresh_token(
    flow: Flow, tokens: dict[str, Any], extra: dict[str, str], error: str
) -> None:
    """RFC 6749 §6: the old refresh token may be revoked *after* a new one is issued; a refusal issues none."""
    assert_refused(await flow.refresh(tokens["refresh_token"], **extra), error)

    assert (await flow.refresh(tokens["refresh_token"])).status_code == 200


async def test_other_resource_is_refused_with_invalid_target(flow: Flow, tokens: dict[str, Any]) -> None:
    response = await flow.refresh(tokens["refresh_token"], resource="http://127.0.0.1:1/mcp")

    assert_refused(response, "invalid_target")


async def test_the_authorized_resource_may_be_named_again(
    live_server: LiveServer, flow: Flow, tokens: dict[str, Any]
) -> None:
    body = await refreshed(flow, tokens["refresh_token"], resource=live_server.settings.resource_url)

    assert claims(body["access_token"])["aud"] == live_server.settings.resource_url


@pytest.mark.parametrize(("elapsed", "status"), [(119, 200), (121, 400)])
async def test_refresh_token_lives_for_the_refresh_token_ttl(
    live_server_factory: Callable[..., LiveServer], elapsed: int, status: int
) -> None:
    server = live_server_factory(tokens={"refresh_token_ttl": 120})
    await add_user(server.settings, server.clock, USER)
    async with server.client() as http:
        flow = Flow(http, server.settings.resource_url)
        await flow.register(grant_types=WITH_REFRESH)
        first = await flow.sign_in(USER)
        server.clock.advance(elapsed)

        response = await flow.refresh(first["refresh_token"])

        if status == 200:
            assert response.status_code == 200, response.text
        else:
            assert_refused(response, "invalid_grant")


async def test_rotated_refresh_token_gets_a_fresh_lifetime(live_server_factory: Callable[..., LiveServer]) -> None:
    server = live_server_factory(tokens={"refresh_token_ttl": 120})
    await add_user(server.settings, server.clock, USER)
    async with server.client() as http:
        flow = Flow(http, server.settings.resource_url)
        await flow.register(grant_types=WITH_REFRESH)
        first = await flow.sign_in(USER)
        server.clock.advance(100)
        second = await refreshed(flow, first["refresh_token"])
        server.clock.advance(100)

        third = await refreshed(flow, second["refresh_token"])
        server.clock.advance(121)

        assert_refused(await flow.refresh(third["refresh_token"]), "invalid_grant")


async def test_another_clients_refresh_token_is_refused_and_stays_usable_by_its_owner(
    live_server: LiveServer, http: httpx.AsyncClient, flow: Flow, tokens: dict[str, Any]
) -> None:
    thief = Flow(http, live_server.settings.resource_url)
    await thief.register(grant_types=WITH_REFRESH)

    assert_refused(await thief.refresh(tokens["refresh_token"]), "invalid_grant")

    assert (await flow.refresh(tokens["refresh_token"])).status_code == 200


async def test_refresh_for_a_disabled_user_is_refused(
    live_server: LiveServer, flow: Flow, tokens: dict[str, Any]
) -> None:
    await set_disabled(live_server.settings, live_server.clock, USER)

    assert_refused(await flow.refresh(tokens["refresh_token"]), "invalid_grant")


@pytest.mark.parametrize(
    ("refresh_token", "error"),
    [
        pytest.param(None, "invalid_request", id="missing"),
        pytest.param("drt_not-one-we-issued", "invalid_grant", id="unknown"),
        pytest.param("garbage", "invalid_grant", id="garbage"),
    ],
)
async def test_missing_or_unknown_refresh_token_is_refused(
    flow: Flow, tokens: dict[str, Any], refresh_token: str | None, error: str
) -> None:
    form = {"grant_type": "refresh_token"}
    if refresh_token is not None:
        form["refresh_token"] = refresh_token

    assert_refused(await flow.token(**form), error)


async def test_access_token_cannot_be_used_as_a_refresh_token(flow: Flow, tokens: dict[str, Any]) -> None:
    assert_refused(await flow.refresh(tokens["access_token"]), "invalid_grant")


async def test_confidential_client_must_authenticate_to_refresh(
    live_server: LiveServer, http: httpx.AsyncClient, user_id: str
) -> None:
    flow = Flow(http, live_server.settings.resource_url)
    await flow.register(token_endpoint_auth_method="client_secret_basic", grant_types=WITH_REFRESH)
    refresh_token = (await flow.sign_in(USER))["refresh_token"]

    unauthenticated = await http.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": flow.client_id}
    )

    assert_refused(unauthenticated, "invalid_client", 401)
    assert (await flow.refresh(refresh_token)).status_code == 200
