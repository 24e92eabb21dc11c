"""The Redis path of the rate limits: counters kept under the configured prefix on the loopback Redis, shared by
replicas, and refusals (fail closed) when Redis cannot be reached.

Replicas here are two live servers on one database and one public URL, as two processes behind a load balancer
would be; each is reached on its own port.
"""

from __future__ import annotations

import gc
import ipaddress
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from drawbridge.app import build_app
from tests.auth_server.oauth_flow import Flow, add_user, count_rows, hidden_fields
from tests.conftest import LiveServer, SettingsFactory
from tests.edge.conftest import REDIS_URL, UNREACHABLE_REDIS_URL, redis_keys
from tests.edge.refusals import (
    assert_json_rpc_refusal,
    assert_oauth_refusal,
    assert_page_refusal,
    call_tool,
    tool_result,
    unused_codes,
)
from tests.edge.sockets import tcp_peers
from tests.live_server import bind_loopback, serve_in_thread
from tests.resource_server.helpers import mint
from tests.toolsets import WRITES

USER = "alice"
BOTH = ("orders:read", "orders:refund")
MINUTE = 60
LOOPBACK = ipaddress.IPv4Address("127.0.0.1")
FAIL_CLOSED_RETRY = 30  # a 503's Retry-After must still be a short, positive wait


def own_client(server: LiveServer, **kwargs: Any) -> httpx.AsyncClient:
    """A client for this very replica (its ``base_url`` is the shared public URL, which is the first one's)."""
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.settings.server.port}", timeout=10, **kwargs)


async def guess_code(http: httpx.AsyncClient, n: int) -> httpx.Response:
    return await http.post("/token", data={"grant_type": "authorization_code", "code": f"guess-{n}"})


async def test_counters_live_in_redis_under_the_prefix_and_only_loopback_is_contacted(
    live_server_factory: Callable[..., LiveServer], redis_prefix: str
) -> None:
    server = live_server_factory(rate_limits={"storage_url": REDIS_URL, "key_prefix": redis_prefix})
    async with server.client() as http:
        counted = await guess_code(http, 1)
        peers = tcp_peers()  # while the server runs: its pools hold their connections open

    assert counted.status_code != 429
    keys = redis_keys(redis_prefix)
    assert keys, "no counter was written to Redis under the configured prefix"
    assert all(key.startswith(f"{redis_prefix}:".encode()) for key in keys)
    assert (LOOPBACK, 6379) in peers
    assert {address for address, _ in peers} == {LOOPBACK}, f"connections beyond 127.0.0.1: {sorted(map(str, peers))}"


async def test_replicas_sharing_a_redis_prefix_share_their_counters(
    live_server_factory: Callable[..., LiveServer], redis_prefix: str, writes: list[Any]
) -> None:
    limits = {
        "storage_url": REDIS_URL,
        "key_prefix": redis_prefix,
        "token_per_address": "2/minute",
        "mcp_per_user": "2/minute",
    }
    first = live_server_factory(rate_limits=limits)
    second = live_server_factory(rate_limits=limits, server={"public_url": first.base_url})
    alice = mint(first, scopes=BOTH, subject="alice")
    bob = mint(first, scopes=BOTH, subject="bob")
    async with own_client(first) as one, own_client(second) as two:
        guesses = [await guess_code(one, n) for n in range(2)]
        token_refused = await guess_code(two, 3)
        calls = [await call_tool(one, alice, "remove_item", {"item_id": n, "note": "ok"}) for n in (1, 2)]
        call_refused = await call_tool(two, alice, "remove_item", {"item_id": 3, "note": "limited"})
        other_user = await call_tool(two, bob, "remove_item", {"item_id": 4, "note": "ok"})

    assert [r.status_code == 429 for r in guesses] == [False, False]
    assert_oauth_refusal(token_refused, 429, "too_many_requests", window=MINUTE)
    assert [tool_result(r)["isError"] for r in calls] == [False, False]
    assert_json_rpc_refusal(call_refused, 429, window=MINUTE)
    assert tool_result(other_user)["isError"] is False, "the second replica does not serve at all"
    assert [*writes, ("alice", 1, "ok"), ("alice", 2, "ok"), ("bob", 4, "ok")] == WRITES


# --- Redis unreachable: fail closed ------------------------------------------------------------------------------


@pytest.fixture
def replicas(live_server_factory: Callable[..., LiveServer]) -> tuple[LiveServer, LiveServer]:
    """A replica with its counters in memory, and one whose Redis cannot be reached, sharing database and URL."""
    healthy = live_server_factory()
    broken = live_server_factory(
        rate_limits={"storage_url": UNREACHABLE_REDIS_URL}, server={"public_url": healthy.base_url}
    )
    return healthy, broken


@pytest.fixture
async def clients(
    replicas: tuple[LiveServer, LiveServer],
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """A client for each replica."""
    healthy, broken = replicas
    async with own_client(healthy) as one, own_client(broken) as two:
        yield one, two


async def test_token_requests_fail_closed_when_redis_is_unreachable(
    replicas: tuple[LiveServer, LiveServer], clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    healthy, _ = replicas
    await add_user(healthy.settings, healthy.clock, USER)
    flow = Flow(clients[0], healthy.settings.resource_url)
    await flow.register()
    code = await flow.code_via_login(USER)

    flow.http = clients[1]
    refused = await flow.redeem(code)
    assert_oauth_refusal(refused, 503, "temporarily_unavailable", window=FAIL_CLOSED_RETRY)
    assert await unused_codes(healthy.settings) == 1, "the refused request redeemed the code"

    flow.http = clients[0]
    assert (await flow.redeem(code)).status_code == 200, "the code was valid: the refusal was the limiter's"


async def test_authorize_and_login_fail_closed_when_redis_is_unreachable(
    replicas: tuple[LiveServer, LiveServer], clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    healthy, _ = replicas
    await add_user(healthy.settings, healthy.clock, USER)
    flow = Flow(clients[0], healthy.settings.resource_url)
    await flow.register()
    params = flow.authorize_params()
    login_page = (await clients[0].get("/authorize", params=params)).headers["location"]
    form = {
        **hidden_fields((await clients[0].get(login_page)).text),
        "username": USER,
        "password": "correct horse battery",
    }

    clients[1].cookies = clients[0].cookies  # one browser: the CSRF cookie goes with the form to either replica
    authorize_refused = await clients[1].get("/authorize", params=params)
    login_refused = await clients[1].post("/login", data=form)

    assert_page_refusal(authorize_refused, 503, window=FAIL_CLOSED_RETRY)
    assert_page_refusal(login_refused, 503, window=FAIL_CLOSED_RETRY)
    assert "drawbridge_csrf=" in login_refused.request.headers["cookie"]
    assert await count_rows(healthy.settings, "authorization_requests") == 1
    assert await count_rows(healthy.settings, "login_sessions") == 0
    assert (await clients[0].post("/login", data=form)).status_code == 303, "the form was valid: the limiter refused"


async def test_registration_fails_closed_with_503_when_redis_is_unreachable(
    replicas: tuple[LiveServer, LiveServer], clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    healthy, _ = replicas
    metadata = {"redirect_uris": ["http://127.0.0.1:9999/callback"], "token_endpoint_auth_method": "none"}

    refused = await clients[1].post("/register", json=metadata)

    assert await count_rows(healthy.settings, "clients") == 0
    assert refused.status_code == 503, (
        f"POST /register with the limiter's Redis down answered {refused.status_code}, not 503 + Retry-After: "
        "RegistrationEndpoint lets LimiterUnavailable escape (it catches OAuthError only)"
    )
    assert_oauth_refusal(refused, 503, "temporarily_unavailable", window=FAIL_CLOSED_RETRY)


async def test_mcp_calls_fail_closed_when_redis_is_unreachable(
    replicas: tuple[LiveServer, LiveServer], clients: tuple[httpx.AsyncClient, httpx.AsyncClient], writes: list[Any]
) -> None:
    healthy, _ = replicas
    token = mint(healthy, scopes=BOTH, subject="alice")

    refused = await call_tool(clients[1], token, "remove_item", {"item_id": 1, "note": "limited"})
    served = await call_tool(clients[0], token, "remove_item", {"item_id": 2, "note": "ok"})

    assert_json_rpc_refusal(refused, 503, window=FAIL_CLOSED_RETRY)
    assert tool_result(served)["isError"] is False
    assert [*writes, ("alice", 2, "ok")] == WRITES


# --- shutdown ----------------------------------------------------------------------------------------------------


async def test_a_stopped_server_leaves_no_redis_connection_open(
    make_settings: SettingsFactory, redis_prefix: str
) -> None:
    sock = bind_loopback()
    port = sock.getsockname()[1]
    settings = make_settings(
        server={"port": port, "public_url": f"http://127.0.0.1:{port}"},
        rate_limits={"storage_url": REDIS_URL, "key_prefix": redis_prefix},
    )
    app = build_app(settings)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with serve_in_thread(app, sock):
            async with httpx.AsyncClient(base_url=settings.base_url) as http:
                assert (await guess_code(http, 1)).status_code != 429
        del app
        gc.collect()

    leaked = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaked == [], (
        "the server stopped without closing the rate limiter's Redis connection (the app's lifespan never closes "
        f"RateLimits' storage): {leaked}"
    )
