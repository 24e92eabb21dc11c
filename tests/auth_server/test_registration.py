"""RFC 7591 Dynamic Client Registration against a live server.

Refusals assert the RFC 7591 §3.2.2 ``error`` code and that no client was stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.auth_server.oauth_flow import REDIRECT_URI, Flow, add_user, count_rows, page_error
from tests.conftest import LiveServer

USER = "alice"


async def register(http: httpx.AsyncClient, **metadata: Any) -> httpx.Response:
    return await http.post("/register", json={"redirect_uris": [REDIRECT_URI], **metadata})


async def authorize_status(server: LiveServer, http: httpx.AsyncClient, client_id: str) -> int:
    """The status /authorize answers for this client: 303 onwards when it exists, 400 (our error page) when not."""
    response = await Flow(http, server.settings.resource_url, client_id=client_id).authorize()
    if response.status_code == 400:
        assert page_error(response.text) == "invalid_client"
    return response.status_code


async def test_public_client_is_registered_with_its_metadata_and_no_secret(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    metadata = {
        "redirect_uris": [REDIRECT_URI, "http://[::1]/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "Example Agent",
        "client_uri": "https://agent.example",
        "scope": "orders:read customers:read",
        "software_id": "example-agent",
        "software_version": "1.2.3",
    }
    response = await http.post("/register", json=metadata)

    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["client_id"]
    assert body["client_id_issued_at"] == int(live_server.clock.now())
    assert {k: body[k] for k in metadata} == metadata
    assert "client_secret" not in body
    assert "client_secret_expires_at" not in body
    assert await authorize_status(live_server, http, body["client_id"]) == 303


async def test_defaults_are_filled_in_and_returned(http: httpx.AsyncClient) -> None:
    response = await register(http, token_endpoint_auth_method="none")

    assert response.status_code == 201
    body = response.json()
    assert body["grant_types"] == ["authorization_code"]
    assert body["response_types"] == ["code"]
    assert body["token_endpoint_auth_method"] == "none"


async def test_omitted_auth_method_means_client_secret_basic(http: httpx.AsyncClient) -> None:
    response = await register(http)

    assert response.status_code == 201
    body = response.json()
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["client_secret"]
    assert body["client_secret_expires_at"] == 0


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_confidential_client_gets_a_secret_that_works_at_the_token_endpoint(
    live_server: LiveServer, http: httpx.AsyncClient, method: str
) -> None:
    await add_user(live_server.settings, live_server.clock, USER)
    flow = Flow(http, live_server.settings.resource_url)
    registered = await flow.register(token_endpoint_auth_method=method)
    secret = registered["client_secret"]
    assert isinstance(secret, str)
    assert len(secret) >= 32
    assert registered["client_secret_expires_at"] == 0
    assert registered["token_endpoint_auth_method"] == method

    code = await flow.code_via_login(USER)
    if method == "client_secret_post":
        flow.client_secret = None  # send the secret in the form instead of Basic
        response = await flow.redeem(code, client_secret=secret)
    else:
        response = await flow.redeem(code)

    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"


async def test_wrong_client_secret_is_refused_at_the_token_endpoint(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    await add_user(live_server.settings, live_server.clock, USER)
    flow = Flow(http, live_server.settings.resource_url)
    await flow.register(token_endpoint_auth_method="client_secret_basic")
    code = await flow.code_via_login(USER)
    flow.client_secret = "not-the-secret"

    response = await flow.redeem(code)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "access_token" not in response.json()


@pytest.mark.parametrize(
    "redirect_uris",
    [
        pytest.param(["http://app.example/callback"], id="http-not-loopback"),
        pytest.param(["https://app.example/callback#frag"], id="fragment"),
        pytest.param(["javascript:alert(1)"], id="javascript-scheme"),
        pytest.param(["/callback"], id="relative"),
        pytest.param(["https://user:pass@app.example/callback"], id="userinfo"),
        pytest.param([REDIRECT_URI, "http://app.example/callback"], id="one-bad-among-good"),
        pytest.param([], id="empty-list"),
        pytest.param(["https://app.example/" + "a" * 2100], id="too-long"),
        pytest.param([123], id="not-a-string"),
        pytest.param("https://app.example/callback", id="string-not-list"),
    ],
)
async def test_bad_redirect_uris_are_refused(
    live_server: LiveServer, http: httpx.AsyncClient, redirect_uris: Any
) -> None:
    response = await http.post("/register", json={"redirect_uris": redirect_uris, "token_endpoint_auth_method": "none"})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"
    assert response.headers["cache-control"] == "no-store"
    assert await count_rows(live_server.settings, "clients") == 0


@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param({"grant_types": ["client_credentials"]}, id="grant-client-credentials"),
        pytest.param({"grant_types": ["implicit"]}, id="grant-implicit"),
        pytest.param({"grant_types": ["authorization_code", "password"]}, id="grant-password"),
        pytest.param({"grant_types": ["refresh_token"]}, id="refresh-without-code"),
        pytest.param({"grant_types": []}, id="no-grant-types"),
        pytest.param({"response_types": ["token"]}, id="response-type-token"),
        pytest.param({"response_types": ["code", "token"]}, id="response-type-code-and-token"),
        pytest.param({"token_endpoint_auth_method": "private_key_jwt"}, id="auth-private-key-jwt"),
        pytest.param({"token_endpoint_auth_method": "client_secret_jwt"}, id="auth-client-secret-jwt"),
        pytest.param({"token_endpoint_auth_method": "magic"}, id="auth-unknown"),
        pytest.param({"scope": "admin"}, id="scope-unsupported"),
        pytest.param({"scope": "orders:read admin"}, id="scope-partly-unsupported"),
        pytest.param({"client_name": 123}, id="client-name-not-string"),
        pytest.param({"client_name": "x" * 201}, id="client-name-too-long"),
        pytest.param({"application_type": "service"}, id="application-type-unknown"),
    ],
)
async def test_bad_client_metadata_is_refused(
    live_server: LiveServer, http: httpx.AsyncClient, metadata: dict[str, Any]
) -> None:
    response = await register(http, **{"token_endpoint_auth_method": "none", **metadata})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    assert response.headers["cache-control"] == "no-store"
    assert await count_rows(live_server.settings, "clients") == 0


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(b"{not json", "application/json", id="not-json"),
        pytest.param(b"\xff\xfe{}", "application/json", id="not-utf8"),
        pytest.param(b"", "application/json", id="empty-body"),
        pytest.param(f'["{REDIRECT_URI}"]'.encode(), "application/json", id="json-array"),
        pytest.param(b'"redirect_uris"', "application/json", id="json-string"),
        pytest.param(b"null", "application/json", id="json-null"),
        pytest.param(f"redirect_uris={REDIRECT_URI}".encode(), "application/x-www-form-urlencoded", id="form"),
        pytest.param(f'{{"redirect_uris": ["{REDIRECT_URI}"]}}'.encode(), "text/plain", id="json-as-text-plain"),
        pytest.param(f'{{"redirect_uris": ["{REDIRECT_URI}"]}}'.encode(), None, id="no-content-type"),
    ],
)
async def test_bodies_that_are_not_a_json_object_are_refused(
    live_server: LiveServer, http: httpx.AsyncClient, content: bytes, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await http.post("/register", content=content, headers=headers)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    assert await count_rows(live_server.settings, "clients") == 0


async def test_json_content_type_with_charset_is_accepted(http: httpx.AsyncClient) -> None:
    content = f'{{"redirect_uris": ["{REDIRECT_URI}"], "token_endpoint_auth_method": "none"}}'.encode()
    response = await http.post(
        "/register", content=content, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert response.status_code == 201


async def test_unknown_fields_are_ignored_and_cannot_choose_the_client_id_or_secret(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    response = await register(
        http,
        token_endpoint_auth_method="none",
        client_id="chosen-by-client",
        client_secret="chosen-secret",
        client_id_issued_at=1,
        software_statement="eyJhbGciOiJub25lIn0.e30.",
        x_vendor_extension={"nested": True},
    )

    assert response.status_code == 201
    body = response.json()
    assert body["client_id"] != "chosen-by-client"
    assert body["client_id_issued_at"] == int(live_server.clock.now())
    assert "client_secret" not in body
    assert "software_statement" not in body
    assert "x_vendor_extension" not in body
    assert await authorize_status(live_server, http, "chosen-by-client") == 400


async def test_registrations_beyond_the_rate_limit_are_refused_with_retry_after(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(auth={"registration": {"rate_limit": "2/minute"}})
    async with server.client() as http:
        first = await register(http, token_endpoint_auth_method="none")
        second = await register(http, token_endpoint_auth_method="none")
        third = await register(http, token_endpoint_auth_method="none")

    assert [first.status_code, second.status_code] == [201, 201]
    assert third.status_code == 429
    assert 1 <= int(third.headers["retry-after"]) <= 60
    assert "client_id" not in third.json()
    assert await count_rows(server.settings, "clients") == 2


async def test_unused_registrations_expire_but_used_ones_stay(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(auth={"registration": {"unused_client_ttl": 60}})
    await add_user(server.settings, server.clock, USER)
    async with server.client() as http:
        unused = (await register(http, token_endpoint_auth_method="none")).json()["client_id"]
        used = Flow(http, server.settings.resource_url)
        await used.register()
        assert (await used.redeem(await used.code_via_login(USER))).status_code == 200

        server.clock.advance(61)
        await register(http, token_endpoint_auth_method="none")  # registering sweeps expired registrations

        assert await authorize_status(server, http, unused) == 400
        assert await authorize_status(server, http, used.client_id) == 303
    assert await count_rows(server.settings, "clients") == 2


async def test_unused_registrations_younger_than_the_ttl_stay(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(auth={"registration": {"unused_client_ttl": 60}})
    async with server.client() as http:
        first = (await register(http, token_endpoint_auth_method="none")).json()["client_id"]
        server.clock.advance(59)
        await register(http, token_endpoint_auth_method="none")

        assert await authorize_status(server, http, first) == 303
    assert await count_rows(server.settings, "clients") == 2
