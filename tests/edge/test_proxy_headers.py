"""Per-address limits behind reverse proxies: ``X-Forwarded-For`` is believed only from ``[server] trusted_proxies``.

From anyone else a client could name a fresh address per request and never be limited; from a trusted proxy each
forwarded address is its own bucket, and what the client put in front of the proxy's entry does not count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.edge.refusals import assert_oauth_refusal

MINUTE = 60
REDIRECT = "http://127.0.0.1:9999/callback"


async def token_request(http: httpx.AsyncClient, forwarded_for: str | None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return await http.post("/token", data={"grant_type": "authorization_code", "code": "x"}, headers=headers)


async def registration(http: httpx.AsyncClient, forwarded_for: str | None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    metadata = {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}
    return await http.post("/register", json=metadata, headers=headers)


Send = Callable[[httpx.AsyncClient, str | None], Any]
ENDPOINTS = [
    pytest.param(token_request, {"rate_limits": {"token_per_address": "2/minute"}}, id="token"),
    pytest.param(registration, {"auth": {"registration": {"rate_limit": "2/minute"}}}, id="register"),
]


@pytest.mark.parametrize(("send", "limit"), ENDPOINTS)
@pytest.mark.parametrize("trusted", [(), ("10.0.0.1",)], ids=["no-proxies", "other-proxy"])
async def test_forwarded_for_from_an_untrusted_peer_does_not_escape_the_address_limit(
    live_server_factory: Callable[..., LiveServer], send: Send, limit: dict[str, Any], trusted: tuple[str, ...]
) -> None:
    server = live_server_factory(server={"trusted_proxies": trusted}, **limit)
    async with server.client() as http:
        passed = [await send(http, f"203.0.113.{n}") for n in (1, 2)]
        refused = await send(http, "203.0.113.3")

    assert [r.status_code == 429 for r in passed] == [False, False]
    assert_oauth_refusal(refused, 429, "too_many_requests", window=MINUTE)


@pytest.mark.parametrize(("send", "limit"), ENDPOINTS)
async def test_a_trusted_proxy_gets_one_bucket_per_forwarded_address(
    live_server_factory: Callable[..., LiveServer], send: Send, limit: dict[str, Any]
) -> None:
    server = live_server_factory(server={"trusted_proxies": ("127.0.0.1",)}, **limit)
    async with server.client() as http:
        distinct = [await send(http, f"203.0.113.{n}") for n in (1, 2, 3)]
        repeated = [await send(http, "203.0.113.1") for _ in range(2)]
        proxy_itself = [await send(http, None) for _ in range(3)]

    assert [r.status_code == 429 for r in distinct] == [False, False, False]
    assert repeated[0].status_code != 429
    assert_oauth_refusal(repeated[1], 429, "too_many_requests", window=MINUTE)
    assert [r.status_code == 429 for r in proxy_itself] == [False, False, True]


async def test_addresses_a_client_puts_before_the_proxys_entry_do_not_escape_the_limit(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    # The proxy appends the address it saw; everything left of it is whatever the client sent.
    server = live_server_factory(
        server={"trusted_proxies": ("127.0.0.1",)}, rate_limits={"token_per_address": "2/minute"}
    )
    async with server.client() as http:
        passed = [await token_request(http, f"198.51.100.{n}, 203.0.113.7") for n in (1, 2)]
        refused = await token_request(http, "198.51.100.3, 203.0.113.7")
        other_client = await token_request(http, "198.51.100.3, 203.0.113.8")

    assert [r.status_code == 429 for r in passed] == [False, False]
    assert_oauth_refusal(refused, 429, "too_many_requests", window=MINUTE)
    assert other_client.status_code != 429
