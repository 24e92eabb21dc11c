"""RFC 8693 token exchange: the MCP server trades the user's token for a narrow token for a downstream API.

End to end through the demo (the official MCP SDK client calls request_refund, which opens a case at the demo
payments API with an exchanged token), the payments API's own refusals, the /token grant's refusals, and the
TokenExchanger's cache against the live server's real /token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from drawbridge.demo.payments import PaymentsApi
from drawbridge.exchange import ExchangeError, TokenExchanger
from tests.auth_server.oauth_flow import Flow, add_user, jwt_claims
from tests.conftest import LiveServer
from tests.resource_server.helpers import REFUNDER, mcp_client, mint

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
SECRET = "s3cret-for-tests"
MCP_AUTH = httpx.BasicAuth("drawbridge-mcp", SECRET)
REFUND = ("orders:read", "orders:refund")


@pytest.fixture
def server(live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    return live_server_factory(mcp={"toolset": "drawbridge.demo:toolset"}, exchange={"client_secret": SECRET})


def payments_url(server: LiveServer) -> str:
    return f"{server.base_url}/demo/payments"


def payments_api(server: LiveServer) -> PaymentsApi:
    api = server.components.toolset.routes[0].routes[0].endpoint.__self__  # type: ignore[attr-defined]
    assert isinstance(api, PaymentsApi)
    return api


async def exchange(
    server: LiveServer,
    subject_token: str | None,
    *,
    auth: httpx.Auth | None = MCP_AUTH,
    fields: dict[str, str] | None = None,
    **form: str,
) -> httpx.Response:
    data = {"grant_type": TOKEN_EXCHANGE, "subject_token_type": ACCESS_TOKEN_TYPE, **(fields or {}), **form}
    if subject_token is not None:
        data["subject_token"] = subject_token
    data.setdefault("resource", payments_url(server))
    async with server.client() as http:
        if auth is None:
            return await http.post("/token", data=data)
        return await http.post("/token", data=data, auth=auth)


def assert_refused(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert "access_token" not in body


async def open_case(server: LiveServer, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with server.client() as http:
        return await http.post("/demo/payments/refunds", json={"order_id": 2, "amount_pence": 8498}, headers=headers)


# 1. End to end through MCP ------------------------------------------------------------------------------------


async def test_refund_through_mcp_opens_a_case_with_an_exchanged_narrow_token(server: LiveServer) -> None:
    token_posts: list[str] = []

    async def record(request: httpx.Request) -> None:
        if request.url.path == "/token":
            token_posts.append(request.url.path)

    server.components.http.event_hooks["request"].append(record)
    token = mint(server, scopes=REFUND, subject="user-42", **REFUNDER)
    async with mcp_client(server, token) as client:
        first = await client.call_tool("request_refund", {"order_id": 2, "reason": "damaged"})
        assert not first.is_error, first
        cases = payments_api(server).cases
        assert len(cases) == 1
        case = cases[0]
        assert case["on_behalf_of"] == "user-42"
        assert case["audience"] == payments_url(server)
        assert case["scope"] == "orders:refund"  # orders:read dropped: least privilege
        assert case["actor"] == "drawbridge-mcp"
        assert case["order_id"] == 2

        # Asking again for the same order returns the request on file: no second case.
        again = await client.call_tool("request_refund", {"order_id": 2, "reason": "damaged"})
        assert not again.is_error
        assert len(payments_api(server).cases) == 1

        # Another order: a second case, but the exchanged token came from the cache.
        other = await client.call_tool("request_refund", {"order_id": 3, "reason": "damaged"})
        assert not other.is_error, other
    cases = payments_api(server).cases
    assert [c["order_id"] for c in cases] == [2, 3]
    assert all(c["on_behalf_of"] == "user-42" for c in cases)
    assert len(token_posts) == 1


async def test_refund_through_mcp_fails_without_a_case_when_the_user_lacks_refund_scope(server: LiveServer) -> None:
    # The MCP tool is refused by the guard before any exchange; the payments API never hears of it.
    token = mint(server, scopes=("orders:read",), subject="user-42")
    async with mcp_client(server, token) as client:
        # The 403 insufficient_scope challenge reaches the SDK client as an error response.
        with pytest.raises(MCPError):
            await client.call_tool("request_refund", {"order_id": 2, "reason": "damaged"})
    assert payments_api(server).cases == []


# 2. The downstream API refuses whatever is not an exchanged token for it -------------------------------------


async def test_payments_refuses_a_request_without_a_token(server: LiveServer) -> None:
    response = await open_case(server, None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert payments_api(server).cases == []


async def test_payments_refuses_the_users_own_mcp_token(server: LiveServer) -> None:
    response = await open_case(server, mint(server, scopes=REFUND, subject="user-42"))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert response.json()["error"] == "invalid_token"
    assert payments_api(server).cases == []


async def test_payments_refuses_a_token_for_another_api(server: LiveServer) -> None:
    token = mint(server, scopes=("orders:refund",), audience=f"{server.base_url}/other-api")
    response = await open_case(server, token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert payments_api(server).cases == []


async def test_payments_refuses_an_expired_exchanged_token(server: LiveServer) -> None:
    issued = await exchange(server, mint(server, scopes=REFUND))
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert (await open_case(server, body["access_token"])).status_code == 201
    server.clock.advance(body["expires_in"] + 1)
    response = await open_case(server, body["access_token"])
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert len(payments_api(server).cases) == 1


async def test_payments_refuses_a_token_without_the_refund_scope(server: LiveServer) -> None:
    token = mint(server, scopes=("orders:read",), audience=payments_url(server))
    response = await open_case(server, token)
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert payments_api(server).cases == []


async def test_payments_refuses_a_forged_token(server: LiveServer) -> None:
    token = mint(server, scopes=("orders:refund",), audience=payments_url(server))
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    response = await open_case(server, forged)
    assert response.status_code == 401
    assert payments_api(server).cases == []


# 3. The grant at /token ----------------------------------------------------------------------------------------


async def test_exchange_issues_a_narrow_short_lived_token_naming_the_actor(server: LiveServer) -> None:
    subject = mint(server, scopes=REFUND, subject="user-42", client_id="claude")
    response = await exchange(server, subject)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "orders:refund"
    assert body["expires_in"] == 300
    assert "refresh_token" not in body
    claims = jwt_claims(body["access_token"])
    assert claims["sub"] == "user-42"
    assert claims["aud"] == payments_url(server)
    assert claims["act"] == {"sub": "drawbridge-mcp"}
    assert claims["client_id"] == "drawbridge-mcp"
    assert claims["scope"] == "orders:refund"
    assert claims["iss"] == server.settings.issuer
    assert claims["exp"] - claims["iat"] == 300


async def test_exchange_accepts_audience_instead_of_resource_and_an_explicit_scope(server: LiveServer) -> None:
    response = await exchange(
        server, mint(server, scopes=REFUND), resource="", audience=payments_url(server), scope="orders:refund"
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "orders:refund"


async def test_exchange_refuses_a_scope_the_subject_token_lacks(server: LiveServer) -> None:
    subject = mint(server, scopes=("orders:read",))
    assert_refused(await exchange(server, subject, scope="orders:refund"), 400, "invalid_scope")
    # Without an explicit scope there is still nothing the API accepts.
    assert_refused(await exchange(server, subject), 400, "invalid_scope")


async def test_exchange_refuses_a_scope_the_api_does_not_allow(server: LiveServer) -> None:
    subject = mint(server, scopes=REFUND)
    assert_refused(await exchange(server, subject, scope="orders:read"), 400, "invalid_scope")
    assert_refused(await exchange(server, subject, scope="orders:refund orders:read"), 400, "invalid_scope")


@pytest.mark.parametrize(
    "target",
    [
        {"resource": "http://127.0.0.1:1/x"},
        {"resource": "", "audience": "http://127.0.0.1:1/x"},
        {"resource": "MCP"},  # the MCP endpoint itself is not a downstream API
    ],
)
async def test_exchange_refuses_an_unregistered_target(server: LiveServer, target: dict[str, str]) -> None:
    if target.get("resource") == "MCP":
        target = {"resource": server.settings.resource_url}
    assert_refused(await exchange(server, mint(server, scopes=REFUND), fields=target), 400, "invalid_target")


async def test_exchange_refuses_resource_and_audience_naming_different_targets(server: LiveServer) -> None:
    response = await exchange(
        server, mint(server, scopes=REFUND), resource=payments_url(server), audience="http://127.0.0.1:1/x"
    )
    assert_refused(response, 400, "invalid_target")


@pytest.mark.parametrize(
    ("form", "omit_subject"),
    [
        ({}, True),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:refresh_token"}, False),
        ({"subject_token_type": ""}, False),
        ({"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"}, False),
        ({"actor_token": "x", "actor_token_type": ACCESS_TOKEN_TYPE}, False),
        ({"resource": ""}, False),
    ],
)
async def test_exchange_refuses_a_malformed_request(
    server: LiveServer, form: dict[str, str], omit_subject: bool
) -> None:
    subject = None if omit_subject else mint(server, scopes=REFUND)
    assert_refused(await exchange(server, subject, fields=form), 400, "invalid_request")


async def test_exchange_refuses_a_tampered_subject_token(server: LiveServer) -> None:
    header, payload, signature = mint(server, scopes=REFUND).split(".")
    assert_refused(await exchange(server, f"{header}.{payload}.{signature[:-4]}AAAA"), 400, "invalid_grant")
    assert_refused(await exchange(server, "not-a-jwt"), 400, "invalid_grant")


async def test_exchange_refuses_an_expired_subject_token(server: LiveServer) -> None:
    subject = mint(server, scopes=REFUND, ttl=60)
    server.clock.advance(3600)
    assert_refused(await exchange(server, subject), 400, "invalid_grant")


async def test_exchange_refuses_a_downstream_token_as_subject_no_chaining(server: LiveServer) -> None:
    issued = await exchange(server, mint(server, scopes=REFUND))
    assert issued.status_code == 200, issued.text
    assert_refused(await exchange(server, issued.json()["access_token"]), 400, "invalid_grant")
    minted_for_payments = mint(server, scopes=("orders:refund",), audience=payments_url(server))
    assert_refused(await exchange(server, minted_for_payments), 400, "invalid_grant")


async def test_exchange_refuses_a_revoked_subject_token(server: LiveServer) -> None:
    await add_user(server.settings, server.clock, "carol")
    async with server.client() as http:
        flow = Flow(http, resource=server.settings.resource_url)
        await flow.register()
        tokens = await flow.sign_in("carol", scope="orders:read orders:refund")
        subject = tokens["access_token"]
        assert (await exchange(server, subject)).status_code == 200
        revoked = await flow.revoke(subject)
        assert revoked.status_code == 200, revoked.text
    assert_refused(await exchange(server, subject), 400, "invalid_grant")


async def test_exchange_refuses_a_public_dcr_client(server: LiveServer) -> None:
    subject = mint(server, scopes=REFUND)
    async with server.client() as http:
        flow = Flow(http, resource=server.settings.resource_url)
        await flow.register()
        response = await exchange(server, subject, auth=None, client_id=flow.client_id)
    assert_refused(response, 400, "unauthorized_client")


async def test_exchange_refuses_a_confidential_dcr_client_not_configured_for_the_api(server: LiveServer) -> None:
    subject = mint(server, scopes=REFUND)
    async with server.client() as http:
        flow = Flow(http, resource=server.settings.resource_url)
        registered = await flow.register(token_endpoint_auth_method="client_secret_basic")
    assert flow.client_secret, registered
    response = await exchange(server, subject, auth=httpx.BasicAuth(flow.client_id, flow.client_secret))
    assert_refused(response, 400, "unauthorized_client")


@pytest.mark.parametrize(
    "auth",
    [
        httpx.BasicAuth("drawbridge-mcp", "wrong-secret"),
        httpx.BasicAuth("drawbridge-mcp", ""),
        httpx.BasicAuth("nobody", SECRET),
    ],
)
async def test_exchange_refuses_a_client_that_fails_authentication(server: LiveServer, auth: httpx.Auth) -> None:
    response = await exchange(server, mint(server, scopes=REFUND), auth=auth)
    assert_refused(response, 401, "invalid_client")


async def test_exchange_refuses_the_mcp_client_without_credentials(server: LiveServer) -> None:
    response = await exchange(server, mint(server, scopes=REFUND), auth=None, client_id="drawbridge-mcp")
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] in ("invalid_client", "unauthorized_client")
    assert "access_token" not in response.json()


# 4. TokenExchanger against the live /token ---------------------------------------------------------------------


async def test_exchanger_caches_per_user_audience_scope_and_subject_until_near_expiry(server: LiveServer) -> None:
    subject = mint(server, scopes=REFUND, subject="user-42", ttl=3600)
    payments = payments_url(server)
    async with httpx.AsyncClient(timeout=10) as http:
        exchanger = TokenExchanger(
            http,
            token_endpoint=f"{server.base_url}/token",
            client_id="drawbridge-mcp",
            client_secret=SECRET,
            clock=server.clock,
        )

        async def token_for(**kw: Any) -> str:
            args: dict[str, Any] = {"user": "user-42", "subject_token": subject, "audience": payments, "scopes": None}
            args.update(kw)
            return await exchanger.token_for(**args)

        first = await token_for()
        assert await token_for() == first
        assert jwt_claims(first)["scope"] == "orders:refund"

        explicit = await token_for(scopes=("orders:refund",))
        assert explicit != first
        assert await token_for(scopes=("orders:refund",)) == explicit

        other_user = await token_for(user="user-7")
        assert other_user not in (first, explicit)

        newer_subject = mint(server, scopes=REFUND, subject="user-42", ttl=3600)
        assert await token_for(subject_token=newer_subject) not in (first, explicit, other_user)

        server.clock.advance(300 - 30 - 1)
        assert await token_for() == first
        server.clock.advance(2)
        renewed = await token_for()
        assert renewed != first
        assert await token_for() == renewed


async def test_exchanger_raises_with_the_oauth_error_code(server: LiveServer) -> None:
    payments = payments_url(server)
    async with httpx.AsyncClient(timeout=10) as http:

        def exchanger(secret: str = SECRET) -> TokenExchanger:
            return TokenExchanger(
                http,
                token_endpoint=f"{server.base_url}/token",
                client_id="drawbridge-mcp",
                client_secret=secret,
                clock=server.clock,
            )

        read_only = mint(server, scopes=("orders:read",))
        with pytest.raises(ExchangeError) as scope_error:
            await exchanger().token_for(user="u", subject_token=read_only, audience=payments, scopes=None)
        assert scope_error.value.reason == "invalid_scope"

        subject = mint(server, scopes=REFUND)
        with pytest.raises(ExchangeError) as target_error:
            await exchanger().token_for(user="u", subject_token=subject, audience="http://127.0.0.1:1/x", scopes=None)
        assert target_error.value.reason == "invalid_target"

        with pytest.raises(ExchangeError) as client_error:
            await exchanger("wrong").token_for(user="u", subject_token=subject, audience=payments, scopes=None)
        assert client_error.value.reason == "invalid_client"

        # A refusal is not cached: the same exchanger succeeds once the request is acceptable.
        good = exchanger()
        with pytest.raises(ExchangeError):
            await good.token_for(user="u", subject_token=subject, audience=payments, scopes=("orders:read",))
        assert await good.token_for(user="u", subject_token=subject, audience=payments, scopes=("orders:refund",))


async def test_exchanger_reports_an_unreachable_token_endpoint(server: LiveServer) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        exchanger = TokenExchanger(
            http,
            token_endpoint="http://127.0.0.1:1/token",
            client_id="drawbridge-mcp",
            client_secret=SECRET,
            clock=server.clock,
        )
        with pytest.raises(ExchangeError) as error:
            await exchanger.token_for(
                user="u", subject_token=mint(server, scopes=REFUND), audience=payments_url(server), scopes=None
            )
    assert error.value.reason == "token_endpoint_unreachable"
