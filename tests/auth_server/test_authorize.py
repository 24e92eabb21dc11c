"""The authorization endpoint (OAuth 2.1 §4.1.1, RFC 7636, RFC 8707, RFC 9207) against a live server.

Errors about the client or its redirect URI are shown on our own page and never redirected; every other error
is redirected to the client with ``error``, ``state`` and ``iss``. Either way no request is stored and no code
is issued.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.auth_server.oauth_flow import (
    REDIRECT_URI,
    Flow,
    add_user,
    count_rows,
    hidden_fields,
    jwt_claims,
    page_error,
    query_of,
)
from tests.conftest import LiveServer

USER = "alice"


@pytest.fixture
async def user(live_server: LiveServer) -> str:
    return await add_user(live_server.settings, live_server.clock, USER)


@pytest.fixture
async def flow(live_server: LiveServer, http: httpx.AsyncClient) -> Flow:
    flow = Flow(http, live_server.settings.resource_url)
    await flow.register()
    return flow


async def assert_error_page(server: LiveServer, response: httpx.Response, error: str) -> None:
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers
    assert page_error(response.text) == error
    assert await count_rows(server.settings, "authorization_requests") == 0


async def assert_error_redirect(server: LiveServer, flow: Flow, response: httpx.Response, error: str) -> None:
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(flow.redirect_uri + "?")
    params = query_of(location)
    assert params["error"] == error
    assert params["state"] == flow.state
    assert params["iss"] == server.settings.issuer
    assert "code" not in params
    assert await count_rows(server.settings, "authorization_requests") == 0


@pytest.mark.usefixtures("user")
async def test_new_user_is_sent_to_login_then_consent_then_back_with_a_code(
    live_server: LiveServer, flow: Flow
) -> None:
    response = await flow.authorize()
    assert response.status_code == 303
    login_url = response.headers["location"]
    assert login_url.startswith("/login?request=")
    request_id = query_of(login_url)["request"]

    response = await flow.login(login_url, USER)
    assert response.status_code == 303
    consent_url = response.headers["location"]
    assert consent_url.startswith("/consent?")
    assert query_of(consent_url)["request"] == request_id

    page = await flow.http.get(consent_url)
    assert page.status_code == 200
    assert hidden_fields(page.text)["request"] == request_id

    response = await flow.consent(consent_url)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    params = query_of(location)
    assert params["code"]
    assert params["state"] == flow.state
    assert params["iss"] == live_server.settings.issuer


@pytest.mark.usefixtures("user")
async def test_signed_in_user_goes_straight_to_consent(flow: Flow) -> None:
    await flow.code_via_login(USER)

    response = await flow.authorize(scope="refunds:write")

    assert response.status_code == 303
    assert response.headers["location"].startswith("/consent?request=")


@pytest.mark.parametrize(
    ("overrides", "extra", "error"),
    [
        pytest.param({"client_id": "no-such-client"}, [], "invalid_client", id="unknown-client"),
        pytest.param({"client_id": None}, [], "invalid_request", id="missing-client"),
        pytest.param({}, [("client_id", "{client_id}")], "invalid_request", id="duplicated-client"),
        pytest.param({}, [("redirect_uri", REDIRECT_URI)], "invalid_request", id="duplicated-redirect-uri"),
        pytest.param({"redirect_uri": "http://127.0.0.1:9999/callback/extra"}, [], "invalid_request", id="suffix"),
        pytest.param({"redirect_uri": "http://127.0.0.1:9999/callbac"}, [], "invalid_request", id="prefix"),
        pytest.param({"redirect_uri": "HTTP://127.0.0.1:9999/callback"}, [], "invalid_request", id="scheme-case"),
        pytest.param({"redirect_uri": "http://127.0.0.1:9999/Callback"}, [], "invalid_request", id="path-case"),
        pytest.param({"redirect_uri": REDIRECT_URI + "?x=1"}, [], "invalid_request", id="query-added"),
        pytest.param(
            {"redirect_uri": "http://evil.example@127.0.0.1:9999/callback"}, [], "invalid_request", id="userinfo"
        ),
        pytest.param({"redirect_uri": "https://evil.example/callback"}, [], "invalid_request", id="foreign"),
        pytest.param({"redirect_uri": ""}, [], "invalid_request", id="empty-redirect-uri"),
    ],
)
async def test_bad_client_or_redirect_uri_shows_the_error_page(
    live_server: LiveServer,
    flow: Flow,
    overrides: dict[str, str | None],
    extra: list[tuple[str, str]],
    error: str,
) -> None:
    query = list(flow.authorize_params(**overrides).items())
    query += [(name, value.format(client_id=flow.client_id)) for name, value in extra]

    response = await flow.http.get(f"/authorize?{urlencode(query)}")

    await assert_error_page(live_server, response, error)


async def test_missing_redirect_uri_means_the_only_registered_one(flow: Flow) -> None:
    response = await flow.authorize(redirect_uri=None)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?")


@pytest.mark.usefixtures("user")
async def test_code_requested_without_redirect_uri_is_redeemed_without_one(flow: Flow) -> None:
    """RFC 6749 §4.1.3 and OAuth 2.1 §4.1.3: redirect_uri is required at the token endpoint only if it was sent."""
    code = await flow.code_via_login(USER, redirect_uri=None)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": flow.verifier,
        "resource": flow.resource,
    }

    response = await flow.token(**form)

    assert response.status_code == 200, response.text


async def test_missing_redirect_uri_is_refused_when_several_are_registered(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    flow = Flow(http, live_server.settings.resource_url)
    await flow.register(redirect_uris=[REDIRECT_URI, "http://127.0.0.1:9999/other"])

    response = await flow.authorize(redirect_uri=None)

    await assert_error_page(live_server, response, "invalid_request")


@pytest.mark.usefixtures("user")
async def test_loopback_redirect_port_may_vary(flow: Flow) -> None:
    """RFC 8252 §7.3: native apps listen on an ephemeral port, so a loopback IP literal's port is not compared."""
    flow.redirect_uri = "http://127.0.0.1:12345/callback"

    response = await flow.redeem(await flow.code_via_login(USER))

    assert response.status_code == 200, response.text


@pytest.mark.usefixtures("user")
async def test_code_redirect_goes_to_the_requested_loopback_port(flow: Flow) -> None:
    flow.redirect_uri = "http://127.0.0.1:12345/callback"
    login = (await flow.authorize()).headers["location"]
    consent = (await flow.login(login, USER)).headers["location"]

    response = await flow.consent(consent)

    assert response.headers["location"].startswith("http://127.0.0.1:12345/callback?")


@pytest.mark.parametrize(
    ("overrides", "extra", "error"),
    [
        pytest.param({"code_challenge": None}, [], "invalid_request", id="missing-challenge"),
        pytest.param({"code_challenge_method": "plain"}, [], "invalid_request", id="plain"),
        pytest.param({"code_challenge_method": None}, [], "invalid_request", id="missing-method"),
        pytest.param({"code_challenge": "too-short"}, [], "invalid_request", id="short-challenge"),
        pytest.param({"code_challenge": "+" * 43}, [], "invalid_request", id="malformed-challenge"),
        pytest.param({"response_type": "token"}, [], "unsupported_response_type", id="response-type-token"),
        pytest.param({"response_type": "code token"}, [], "unsupported_response_type", id="response-type-hybrid"),
        pytest.param({"resource": None}, [], "invalid_target", id="missing-resource"),
        pytest.param({"resource": "https://other.example/mcp"}, [], "invalid_target", id="other-resource"),
        pytest.param({"resource": "{base}"}, [], "invalid_target", id="base-url-resource"),
        pytest.param({"resource": "{base}/mcp/"}, [], "invalid_target", id="trailing-slash-resource"),
        pytest.param({"scope": "admin:all"}, [], "invalid_scope", id="unknown-scope"),
        pytest.param({"scope": "orders:read admin:all"}, [], "invalid_scope", id="partly-unknown-scope"),
        pytest.param({}, [("scope", "orders:read")], "invalid_request", id="duplicated-scope"),
        pytest.param({}, [("code_challenge", "{challenge}")], "invalid_request", id="duplicated-challenge"),
        pytest.param({}, [("resource", "{resource}")], "invalid_request", id="duplicated-resource"),
    ],
)
async def test_bad_request_is_redirected_back_with_an_error(
    live_server: LiveServer,
    flow: Flow,
    overrides: dict[str, str | None],
    extra: list[tuple[str, str]],
    error: str,
) -> None:
    base = live_server.base_url
    params = flow.authorize_params(**{k: v and v.format(base=base) for k, v in overrides.items()})
    values = {"challenge": params.get("code_challenge", ""), "resource": flow.resource}
    query = list(params.items()) + [(name, value.format(**values)) for name, value in extra]

    response = await flow.http.get(f"/authorize?{urlencode(query)}")

    await assert_error_redirect(live_server, flow, response, error)


async def test_registered_scope_is_not_a_ceiling_so_clients_can_step_up(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    # MCP clients register with the scope of their first challenge, then step up to the union (403
    # insufficient_scope): the user's consent decides, not the registration.
    await add_user(live_server.settings, live_server.clock, USER)
    flow = Flow(http, live_server.settings.resource_url)
    await flow.register(scope="orders:read")

    code = await flow.code_via_login(USER, scope="orders:read customers:read")

    tokens = (await flow.redeem(code)).json()
    assert tokens["scope"] == "orders:read customers:read"


async def test_scope_outside_what_the_server_grants_is_invalid_scope(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    flow = Flow(http, live_server.settings.resource_url)
    await flow.register(scope="orders:read")

    response = await flow.authorize(scope="orders:read admin:everything")

    await assert_error_redirect(live_server, flow, response, "invalid_scope")


async def test_error_redirect_without_state_carries_no_state(live_server: LiveServer, flow: Flow) -> None:
    response = await flow.authorize(state=None, code_challenge=None)

    assert response.status_code == 302
    params = query_of(response.headers["location"])
    assert params["error"] == "invalid_request"
    assert params["iss"] == live_server.settings.issuer
    assert "state" not in params


async def test_redirects_keep_the_query_of_the_registered_uri(live_server: LiveServer, http: httpx.AsyncClient) -> None:
    await add_user(live_server.settings, live_server.clock, USER)
    flow = Flow(http, live_server.settings.resource_url, redirect_uri=REDIRECT_URI + "?tenant=7")
    await flow.register()

    refused = await flow.authorize(code_challenge=None)
    code = await flow.code_via_login(USER)

    assert query_of(refused.headers["location"])["tenant"] == "7"
    assert query_of(refused.headers["location"])["error"] == "invalid_request"
    assert code


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        pytest.param(None, "orders:read", id="no-scope"),
        pytest.param("", "orders:read", id="empty-scope"),
        pytest.param("offline_access", "orders:read", id="only-offline-access"),
        pytest.param("customers:read offline_access", "customers:read", id="offline-access-dropped"),
        pytest.param("orders:read orders:read", "orders:read", id="repeated-scope-once"),
    ],
)
@pytest.mark.usefixtures("user")
async def test_token_gets_the_default_scope_and_never_offline_access(
    flow: Flow, requested: str | None, granted: str
) -> None:
    response = await flow.redeem(await flow.code_via_login(USER, scope=requested))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == granted
    assert jwt_claims(body["access_token"])["scope"] == granted


@pytest.mark.usefixtures("user")
async def test_default_scope_is_what_the_consent_page_offers(flow: Flow) -> None:
    login = (await flow.authorize(scope=None)).headers["location"]
    consent = (await flow.login(login, USER)).headers["location"]

    page = await flow.http.get(consent)

    assert page.status_code == 200
    assert 'name="scope" value="orders:read"' in page.text
    assert 'name="scope" value="customers:read"' not in page.text
    assert 'value="offline_access"' not in page.text


@pytest.mark.usefixtures("user")
async def test_state_comes_back_verbatim_and_cannot_add_parameters(live_server: LiveServer, flow: Flow) -> None:
    flow.state = "s&code=injected&iss=https://evil.example&error=x"

    refused = await flow.authorize(code_challenge=None)
    code = await flow.code_via_login(USER)

    refused_params = parse_qs(urlsplit(refused.headers["location"]).query)
    assert refused_params["state"] == [flow.state]
    assert refused_params["iss"] == [live_server.settings.issuer]
    assert refused_params["error"] == ["invalid_request"]
    assert "code" not in refused_params
    assert code != "injected"
