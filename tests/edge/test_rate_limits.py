"""429 with Retry-After on every limited endpoint, with the counters in memory and in Redis.

Each test spends a small limit, shows the requests under it pass, then that the next one is refused before its
handler runs: no code redeemed, no authorization request or session stored, no client registered, no tool run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.auth_server.oauth_flow import Flow, add_user, count_rows
from tests.conftest import LiveServer
from tests.edge.refusals import (
    assert_json_rpc_refusal,
    assert_oauth_refusal,
    assert_page_refusal,
    call_tool,
    tool_result,
    unused_codes,
)
from tests.resource_server.helpers import mint
from tests.toolsets import WRITES

USER = "alice"
BOTH = ("orders:read", "orders:refund")
MINUTE = 60


async def test_token_requests_past_the_address_limit_get_429_and_redeem_nothing(
    live_server_factory: Callable[..., LiveServer], counters: dict[str, Any]
) -> None:
    server = live_server_factory(rate_limits={**counters, "token_per_address": "2/minute"})
    await add_user(server.settings, server.clock, USER)
    async with server.client() as http:
        flow = Flow(http, server.settings.resource_url)
        await flow.register()
        code = await flow.code_via_login(USER)
        guesses = [await flow.redeem(f"guessed-{n}") for n in range(2)]
        refused = await flow.redeem(code)

    assert [(r.status_code, r.json()["error"]) for r in guesses] == [(400, "invalid_grant")] * 2
    assert_oauth_refusal(refused, 429, "too_many_requests", window=MINUTE)
    assert "access_token" not in refused.json()
    assert await unused_codes(server.settings) == 1, "the refused request redeemed the code"


async def test_authorize_past_the_address_limit_gets_a_429_page_and_stores_no_request(
    live_server_factory: Callable[..., LiveServer], counters: dict[str, Any]
) -> None:
    server = live_server_factory(rate_limits={**counters, "authorize_per_address": "2/minute"})
    async with server.client() as http:
        flow = Flow(http, server.settings.resource_url)
        await flow.register()
        passed = [await flow.authorize() for _ in range(2)]
        refused = await flow.authorize()

    assert [r.status_code for r in passed] == [303, 303]
    assert_page_refusal(refused, 429, window=MINUTE)
    assert "location" not in refused.headers
    assert await count_rows(server.settings, "authorization_requests") == 2


async def test_head_requests_to_authorize_count_against_the_address_limit(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    # Starlette answers HEAD through the GET route: a HEAD runs the whole authorization request handler.
    server = live_server_factory(rate_limits={"authorize_per_address": "2/minute"})
    async with server.client() as http:
        flow = Flow(http, server.settings.resource_url)
        await flow.register()
        heads = [await http.head("/authorize", params=flow.authorize_params()) for _ in range(3)]

    stored = await count_rows(server.settings, "authorization_requests")
    assert heads[2].status_code == 429, (
        f"HEAD /authorize answered {[r.status_code for r in heads]} and stored {stored} authorization requests past "
        'a limit of 2: the limit is keyed on ("GET", "/authorize") only, and Starlette serves HEAD via the GET route'
    )
    assert stored == 2


async def test_login_posts_past_the_address_limit_get_a_429_page_and_start_no_session(
    live_server_factory: Callable[..., LiveServer], counters: dict[str, Any]
) -> None:
    server = live_server_factory(rate_limits={**counters, "login_per_address": "2/minute"})
    await add_user(server.settings, server.clock, USER)
    async with server.client() as http:
        flow = Flow(http, server.settings.resource_url)
        await flow.register()
        login_page = (await flow.authorize()).headers["location"]
        wrong = [await flow.login(login_page, USER, password=f"wrong {n}") for n in range(2)]
        # The right password now: credential stuffing is stopped by count, not by whether the guess is good.
        refused = await flow.login(login_page, USER)

    assert [r.status_code for r in wrong] == [401, 401]
    assert_page_refusal(refused, 429, window=MINUTE)
    assert "location" not in refused.headers
    assert await count_rows(server.settings, "login_sessions") == 0


async def test_registrations_past_the_address_limit_get_429_and_store_no_client(
    live_server_factory: Callable[..., LiveServer], counters: dict[str, Any]
) -> None:
    server = live_server_factory(rate_limits=counters, auth={"registration": {"rate_limit": "2/minute"}})
    metadata = {"redirect_uris": ["http://127.0.0.1:9999/callback"], "token_endpoint_auth_method": "none"}
    async with server.client() as http:
        passed = [await http.post("/register", json=metadata) for _ in range(2)]
        refused = await http.post("/register", json=metadata)

    assert [r.status_code for r in passed] == [201, 201]
    assert_oauth_refusal(refused, 429, "too_many_requests", window=MINUTE)
    assert "client_id" not in refused.json()
    assert await count_rows(server.settings, "clients") == 2


async def test_mcp_user_past_its_limit_is_refused_while_another_user_of_the_client_is_not(
    live_server_factory: Callable[..., LiveServer], counters: dict[str, Any], writes: list[Any]
) -> None:
    server = live_server_factory(rate_limits={**counters, "mcp_per_user": "2/minute", "mcp_per_client": "100/minute"})
    alice = mint(server, scopes=BOTH, subject="alice", client_id="shared-client")
    bob = mint(server, scopes=BOTH, subject="bob", client_id="shared-client")
    async with server.client() as http:
        passed = [await call_tool(http, alice, "remove_item", {"item_id": n, "note": "ok"}) for n in (1, 2)]
        refused = await call_tool(http, alice, "remove_item", {"item_id": 3, "note": "limited"})
        other_user = await call_tool(http, bob, "remove_item", {"item_id": 4, "note": "ok"})

    assert [tool_result(r)["isError"] for r in passed] == [False, False]
    assert_json_rpc_refusal(refused, 429, window=MINUTE)
    assert tool_result(other_user)["isError"] is False
    assert [*writes, ("alice", 1, "ok"), ("alice", 2, "ok"), ("bob", 4, "ok")] == WRITES


async def test_mcp_client_past_its_limit_is_refused_for_all_its_users_but_not_other_clients(
    live_server_factory: Callable[..., LiveServer], counters: dict[str, Any], writes: list[Any]
) -> None:
    server = live_server_factory(rate_limits={**counters, "mcp_per_user": "100/minute", "mcp_per_client": "3/minute"})
    alice = mint(server, scopes=BOTH, subject="alice", client_id="busy-client")
    bob = mint(server, scopes=BOTH, subject="bob", client_id="busy-client")
    carol = mint(server, scopes=BOTH, subject="carol", client_id="quiet-client")
    async with server.client() as http:
        passed = [
            await call_tool(http, token, "remove_item", {"item_id": n, "note": "ok"})
            for n, token in ((1, alice), (2, bob), (3, alice))
        ]
        refused = [
            await call_tool(http, token, "remove_item", {"item_id": 9, "note": "limited"}) for token in (alice, bob)
        ]
        other_client = await call_tool(http, carol, "remove_item", {"item_id": 5, "note": "ok"})

    assert [tool_result(r)["isError"] for r in passed] == [False, False, False]
    for response in refused:
        assert_json_rpc_refusal(response, 429, window=MINUTE)
    assert tool_result(other_client)["isError"] is False
    assert [*writes, ("alice", 1, "ok"), ("bob", 2, "ok"), ("alice", 3, "ok"), ("carol", 5, "ok")] == WRITES
