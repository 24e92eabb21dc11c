"""The login and consent pages: credentials, CSRF, sessions, escaping, security headers and remembered consent.

A scripted browser (``Flow``) drives a live server. Refusals assert the status or ``error`` code and that no
session or code was written.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import httpx
import pytest

from drawbridge.identity import UserDirectory
from drawbridge.storage.database import create_engine
from drawbridge.storage.sql import SqlUserRepository
from tests.auth_server.oauth_flow import (
    PASSWORD,
    REDIRECT_URI,
    Flow,
    add_user,
    count_rows,
    hidden_fields,
    jwt_claims,
    page_error,
    query_of,
    set_cookies,
    set_disabled,
)
from tests.conftest import LiveServer

USER = "alice"
SESSION_COOKIE = "drawbridge_session"
CSRF_COOKIE = "drawbridge_csrf"
FOREIGN_ORIGIN = "https://evil.example"


@pytest.fixture
async def flow(live_server: LiveServer, http: httpx.AsyncClient) -> Flow:
    await add_user(live_server.settings, live_server.clock, USER)
    flow = Flow(http, live_server.settings.resource_url)
    await flow.register()
    return flow


async def login_url(flow: Flow, **overrides: str | None) -> str:
    response = await flow.authorize(**overrides)
    assert response.status_code == 303
    location: str = response.headers["location"]
    assert location.startswith("/login?")
    return location


async def consent_url(flow: Flow, **overrides: str | None) -> str:
    response = await flow.login(await login_url(flow, **overrides), USER)
    assert response.status_code == 303
    location: str = response.headers["location"]
    assert location.startswith("/consent?")
    return location


async def consent_form(flow: Flow, **overrides: str | None) -> dict[str, str | list[str]]:
    page = await flow.http.get(await consent_url(flow, **overrides))
    assert page.status_code == 200
    offered = re.findall(r'name="scope" value="([^"]+)"', page.text)
    return {**hidden_fields(page.text), "action": "approve", "scope": offered}


def without_nonces(page: str, username: str) -> str:
    return re.sub(r'nonce="[^"]*"', "", page).replace(f'value="{username}"', 'value=""')


async def assert_not_signed_in(server: LiveServer, flow: Flow, request_id: str) -> None:
    assert SESSION_COOKIE not in flow.http.cookies
    assert await count_rows(server.settings, "login_sessions") == 0
    response = await flow.http.get("/consent", params={"request": request_id})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?")


# Login


@pytest.mark.parametrize(
    ("username", "password", "disable"),
    [
        pytest.param(USER, "wrong password!", False, id="wrong-password"),
        pytest.param("mallory", PASSWORD, False, id="unknown-user"),
        pytest.param(USER, PASSWORD, True, id="disabled-user"),
        pytest.param(USER, "", False, id="empty-password"),
    ],
)
async def test_failed_login_answers_401_and_starts_no_session(
    live_server: LiveServer, flow: Flow, username: str, password: str, disable: bool
) -> None:
    if disable:
        await set_disabled(live_server.settings, live_server.clock, USER)
    url = await login_url(flow)

    response = await flow.login(url, username, password)

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert SESSION_COOKIE not in set_cookies(response)
    assert hidden_fields(response.text)["request"] == query_of(url)["request"]  # still the login form
    await assert_not_signed_in(live_server, flow, query_of(url)["request"])


async def test_unknown_and_disabled_users_look_exactly_like_a_wrong_password(
    live_server: LiveServer, flow: Flow
) -> None:
    await add_user(live_server.settings, live_server.clock, "bob")
    await set_disabled(live_server.settings, live_server.clock, "bob")
    url = await login_url(flow)
    attempts = {USER: "wrong password!", "mallory": PASSWORD, "bob": PASSWORD}

    responses = {name: await flow.login(url, name, password) for name, password in attempts.items()}

    shapes = {
        (response.status_code, tuple(sorted(response.headers.keys())), without_nonces(response.text, name))
        for name, response in responses.items()
    }
    assert len(shapes) == 1


async def test_password_longer_than_the_maximum_is_wrong_even_when_it_starts_with_the_password(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    """A 1024-character password followed by anything else is a different, wrong password."""
    longest = "p" * 1024
    engine = create_engine(live_server.settings.database_url, schema=live_server.settings.storage.schema_name)
    try:
        await UserDirectory(SqlUserRepository(engine), live_server.clock).add_user("carol", longest, ())
    finally:
        await engine.dispose()
    flow = Flow(http, live_server.settings.resource_url)
    await flow.register()
    url = await login_url(flow)

    response = await flow.login(url, "carol", longest + "-and-more")

    assert response.status_code == 401
    await assert_not_signed_in(live_server, flow, query_of(url)["request"])


async def test_submitted_username_is_escaped_on_the_login_page(flow: Flow) -> None:
    response = await flow.login(await login_url(flow), '"><script>alert(1)</script>', PASSWORD)

    assert response.status_code == 401
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;" in response.text


async def test_successful_login_replaces_any_earlier_session(live_server: LiveServer, flow: Flow) -> None:
    """Session fixation: every login issues a new session id and forgets the old one."""
    await flow.login(await login_url(flow), USER)
    old_session = flow.http.cookies[SESSION_COOKIE]
    request_id = query_of((await flow.authorize()).headers["location"])["request"]
    second = await flow.login(f"/login?request={request_id}", USER)

    assert second.status_code == 303
    assert flow.http.cookies[SESSION_COOKIE] != old_session
    assert await count_rows(live_server.settings, "login_sessions") == 1
    new_session = flow.http.cookies[SESSION_COOKIE]
    for session, step in ((old_session, "/login?"), (new_session, "/consent?")):
        async with live_server.client(cookies={SESSION_COOKIE: session}) as browser:
            response = await browser.get("/authorize", params=flow.authorize_params())
        assert response.headers["location"].startswith(step)


async def test_user_disabled_after_login_must_sign_in_again(live_server: LiveServer, flow: Flow) -> None:
    await consent_url(flow)
    await set_disabled(live_server.settings, live_server.clock, USER)

    response = await flow.authorize()

    assert response.headers["location"].startswith("/login?")


@pytest.mark.parametrize(
    ("token", "origin"),
    [
        pytest.param(None, None, id="missing-token"),
        pytest.param("forged-token", None, id="wrong-token"),
        pytest.param("", None, id="empty-token"),
        pytest.param("{cookie}", FOREIGN_ORIGIN, id="foreign-origin"),
        pytest.param("{cookie}", "null", id="null-origin"),
        pytest.param("{cookie}", "http://127.0.0.1", id="same-host-other-port"),
    ],
)
async def test_login_without_a_valid_csrf_token_or_from_a_foreign_origin_is_refused(
    live_server: LiveServer, flow: Flow, token: str | None, origin: str | None
) -> None:
    url = await login_url(flow)
    page = await flow.http.get(url)
    fields = {**hidden_fields(page.text), "username": USER, "password": PASSWORD}
    fields.pop("csrf_token")
    if token is not None:
        fields["csrf_token"] = token.format(cookie=flow.http.cookies[CSRF_COOKIE])
    headers = {"Origin": origin} if origin else {}

    response = await flow.http.post("/login", data=fields, headers=headers)

    assert response.status_code == 403
    assert page_error(response.text) == "invalid_request"
    assert SESSION_COOKIE not in set_cookies(response)
    await assert_not_signed_in(live_server, flow, query_of(url)["request"])


async def test_login_without_the_csrf_cookie_is_refused(live_server: LiveServer, flow: Flow) -> None:
    url = await login_url(flow)
    page = await flow.http.get(url)
    fields = {**hidden_fields(page.text), "username": USER, "password": PASSWORD}
    flow.http.cookies.clear()

    response = await flow.http.post("/login", data=fields)

    assert response.status_code == 403
    await assert_not_signed_in(live_server, flow, query_of(url)["request"])


async def test_login_from_our_own_origin_is_accepted(live_server: LiveServer, flow: Flow) -> None:
    page = await flow.http.get(await login_url(flow))
    fields = {**hidden_fields(page.text), "username": USER, "password": PASSWORD}

    response = await flow.http.post("/login", data=fields, headers={"Origin": live_server.base_url})

    assert response.status_code == 303
    assert SESSION_COOKIE in set_cookies(response)


@pytest.mark.parametrize("page", ["/login", "/consent"])
async def test_unknown_request_id_shows_the_error_page(live_server: LiveServer, flow: Flow, page: str) -> None:
    await consent_url(flow)  # signed in, so /consent would otherwise go on

    response = await flow.http.get(page, params={"request": "no-such-request"})

    assert response.status_code == 400
    assert page_error(response.text) == "invalid_request"
    assert await count_rows(live_server.settings, "authorization_codes") == 0


# Consent


@pytest.mark.parametrize(
    ("token", "origin"),
    [
        pytest.param(None, None, id="missing-token"),
        pytest.param("forged-token", None, id="wrong-token"),
        pytest.param("{cookie}", FOREIGN_ORIGIN, id="foreign-origin"),
    ],
)
async def test_consent_without_a_valid_csrf_token_or_from_a_foreign_origin_issues_no_code(
    live_server: LiveServer, flow: Flow, token: str | None, origin: str | None
) -> None:
    form = await consent_form(flow)
    form.pop("csrf_token")
    if token is not None:
        form["csrf_token"] = token.format(cookie=flow.http.cookies[CSRF_COOKIE])
    headers = {"Origin": origin} if origin else {}

    response = await flow.http.post("/consent", data=form, headers=headers)

    assert response.status_code == 403
    assert "location" not in response.headers
    assert page_error(response.text) == "invalid_request"
    assert await count_rows(live_server.settings, "authorization_codes") == 0
    assert await count_rows(live_server.settings, "consents") == 0


async def test_client_name_is_escaped_on_login_and_consent_pages(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    await add_user(live_server.settings, live_server.clock, USER)
    flow = Flow(http, live_server.settings.resource_url)
    await flow.register(client_name="<script>alert(1)</script>")
    login = await login_url(flow)

    pages = [(await http.get(login)).text]
    consent = (await flow.login(login, USER)).headers["location"]
    pages.append((await http.get(consent)).text)

    for page in pages:
        assert "&lt;script&gt;" in page
        assert "<script>alert" not in page


async def test_consent_page_says_a_registered_client_is_unverified_and_shows_the_redirect_host(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    await add_user(live_server.settings, live_server.clock, USER)
    flow = Flow(http, live_server.settings.resource_url, redirect_uri="https://client-app.example/oauth/callback")
    await flow.register(client_name="Helpful Agent")

    page = await http.get(await consent_url(flow))

    assert page.status_code == 200
    assert "unverified" in page.text
    assert "client-app.example" in page.text


@pytest.mark.parametrize("page", ["login", "consent", "error"])
async def test_pages_forbid_framing_scripts_and_caching(flow: Flow, page: str) -> None:
    urls = {"error": "/login?request=unknown"}
    if page == "login":
        urls[page] = await login_url(flow)
    elif page == "consent":
        urls[page] = await consent_url(flow)

    response = await flow.http.get(urls[page])

    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert "script-src" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert "no-store" in response.headers["cache-control"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_cookies_are_http_only_and_same_site_lax_without_secure_on_dev_http(flow: Flow) -> None:
    page = await flow.http.get(await login_url(flow))
    fields = {**hidden_fields(page.text), "username": USER, "password": PASSWORD}
    login = await flow.http.post("/login", data=fields)

    cookies = {**set_cookies(page), **set_cookies(login)}

    assert set(cookies) == {CSRF_COOKIE, SESSION_COOKIE}
    for attributes in cookies.values():
        assert "httponly" in attributes
        assert "samesite=lax" in attributes
        assert "path=/" in attributes
        assert "secure" not in attributes
    assert not any(name.startswith("__Host-") for name in cookies)


@pytest.mark.parametrize(
    ("action", "scopes"),
    [
        pytest.param("deny", None, id="deny"),
        pytest.param("approve", [], id="approve-nothing"),
        pytest.param(None, None, id="no-action"),
    ],
)
async def test_denied_consent_redirects_access_denied_and_remembers_nothing(
    live_server: LiveServer, flow: Flow, action: str | None, scopes: list[str] | None
) -> None:
    form = await consent_form(flow)
    if action is None:
        form.pop("action")
    else:
        form["action"] = action
    if scopes is not None:
        form["scope"] = scopes

    response = await flow.http.post("/consent", data=form)

    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    params = query_of(location)
    assert params["error"] == "access_denied"
    assert params["state"] == flow.state
    assert params["iss"] == live_server.settings.issuer
    assert "code" not in params
    assert await count_rows(live_server.settings, "authorization_codes") == 0
    assert await count_rows(live_server.settings, "consents") == 0
    again = await flow.http.get((await flow.authorize()).headers["location"])
    assert again.status_code == 200  # the consent page is shown again


async def test_granting_a_subset_limits_the_token_to_it(flow: Flow) -> None:
    consent = await consent_url(flow, scope="orders:read customers:read")

    response = await flow.consent(consent, scopes=["orders:read"])
    token = await flow.redeem(query_of(response.headers["location"])["code"])

    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "orders:read"
    assert jwt_claims(token.json()["access_token"])["scope"] == "orders:read"


async def test_consent_form_cannot_add_scopes_that_were_not_requested(flow: Flow) -> None:
    consent = await consent_url(flow, scope="orders:read")

    response = await flow.consent(consent, scopes=["orders:read", "refunds:write", "customers:read"])
    token = await flow.redeem(query_of(response.headers["location"])["code"])

    assert token.status_code == 200, token.text
    assert jwt_claims(token.json()["access_token"])["scope"] == "orders:read"


async def test_remembered_consent_skips_the_page_for_the_same_scopes(live_server: LiveServer, flow: Flow) -> None:
    await flow.code_via_login(USER, scope="orders:read customers:read")

    response = await flow.authorize(scope="customers:read orders:read")
    skipped = await flow.http.get(response.headers["location"])

    assert skipped.status_code == 303
    location = skipped.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    params = query_of(location)
    assert params["state"] == flow.state
    assert params["iss"] == live_server.settings.issuer
    token = await flow.redeem(params["code"])
    assert token.status_code == 200, token.text
    assert set(token.json()["scope"].split()) == {"orders:read", "customers:read"}


async def test_remembered_consent_skips_the_page_for_fewer_scopes(flow: Flow) -> None:
    await flow.code_via_login(USER, scope="orders:read customers:read")

    response = await flow.authorize(scope="orders:read")
    skipped = await flow.http.get(response.headers["location"])

    assert skipped.status_code == 303
    assert "code" in query_of(skipped.headers["location"])


async def test_wider_scope_than_remembered_shows_the_consent_page_again(live_server: LiveServer, flow: Flow) -> None:
    await flow.code_via_login(USER, scope="orders:read")

    response = await flow.authorize(scope="orders:read refunds:write")
    page = await flow.http.get(response.headers["location"])

    assert page.status_code == 200
    assert 'name="scope" value="refunds:write"' in page.text
    assert await count_rows(live_server.settings, "authorization_codes") == 1


async def test_partly_granted_consent_is_asked_again_for_the_rest(flow: Flow) -> None:
    consent = await consent_url(flow, scope="orders:read customers:read")
    await flow.consent(consent, scopes=["orders:read"])

    response = await flow.authorize(scope="orders:read customers:read")
    page = await flow.http.get(response.headers["location"])

    assert page.status_code == 200


async def test_remembered_consent_is_per_client(live_server: LiveServer, flow: Flow) -> None:
    await flow.code_via_login(USER, scope="orders:read")
    other = Flow(flow.http, live_server.settings.resource_url)
    await other.register()

    response = await other.authorize(scope="orders:read")
    page = await flow.http.get(response.headers["location"])

    assert page.status_code == 200


@pytest.mark.parametrize(
    ("registered", "requested", "target"),
    [
        pytest.param(REDIRECT_URI, REDIRECT_URI, "http://127.0.0.1:9999", id="loopback"),
        pytest.param(REDIRECT_URI, "http://127.0.0.1:12345/callback", "http://127.0.0.1:12345", id="loopback-port"),
        pytest.param(
            "https://client-app.example/cb", "https://client-app.example/cb", "https://client-app.example", id="https"
        ),
        pytest.param("com.example.app:/callback", "com.example.app:/callback", "com.example.app:", id="private-use"),
    ],
)
async def test_consent_page_lets_the_form_redirect_to_the_client(
    live_server: LiveServer, http: httpx.AsyncClient, registered: str, requested: str, target: str
) -> None:
    """Browsers apply CSP form-action to the redirect after a form post, so the client's origin must be allowed."""
    await add_user(live_server.settings, live_server.clock, USER)
    flow = Flow(http, live_server.settings.resource_url, redirect_uri=registered)
    await flow.register()
    flow.redirect_uri = requested

    page = await http.get(await consent_url(flow))

    directives = dict(d.strip().split(" ", 1) for d in page.headers["content-security-policy"].split(";"))
    assert directives["form-action"].split() == ["'self'", target]


async def test_concurrent_consent_submissions_issue_one_code(live_server: LiveServer, flow: Flow) -> None:
    form = await consent_form(flow)

    responses = await asyncio.gather(*(flow.http.post("/consent", data=form) for _ in range(5)))

    assert sorted(r.status_code for r in responses) == [303, 400, 400, 400, 400]
    assert await count_rows(live_server.settings, "authorization_codes") == 1


async def test_double_submitted_consent_issues_one_code(live_server: LiveServer, flow: Flow) -> None:
    form = await consent_form(flow)

    first = await flow.http.post("/consent", data=form)
    second = await flow.http.post("/consent", data=form)

    assert first.status_code == 303
    assert "code" in query_of(first.headers["location"])
    assert second.status_code == 400
    assert "location" not in second.headers
    assert page_error(second.text) == "invalid_request"
    assert await count_rows(live_server.settings, "authorization_codes") == 1


# Expiry


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_expired_request_shows_the_error_page_at_login(live_server: LiveServer, flow: Flow, method: str) -> None:
    url = await login_url(flow)
    page = await flow.http.get(url)
    fields = {**hidden_fields(page.text), "username": USER, "password": PASSWORD}
    live_server.clock.advance(live_server.settings.auth.authorization_request_ttl + 1)

    if method == "GET":
        response = await flow.http.get(url)
    else:
        response = await flow.http.post("/login", data=fields)

    assert response.status_code == 400
    assert page_error(response.text) == "invalid_request"
    assert SESSION_COOKIE not in set_cookies(response)
    assert await count_rows(live_server.settings, "login_sessions") == 0


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_expired_request_shows_the_error_page_at_consent(
    live_server: LiveServer, flow: Flow, method: str
) -> None:
    form = await consent_form(flow)
    live_server.clock.advance(live_server.settings.auth.authorization_request_ttl + 1)

    if method == "GET":
        response = await flow.http.get("/consent", params={"request": form["request"]})
    else:
        response = await flow.http.post("/consent", data=form)

    assert response.status_code == 400
    assert "location" not in response.headers
    assert page_error(response.text) == "invalid_request"
    assert await count_rows(live_server.settings, "authorization_codes") == 0


async def test_request_just_before_expiry_still_works(live_server: LiveServer, flow: Flow) -> None:
    form = await consent_form(flow)
    live_server.clock.advance(live_server.settings.auth.authorization_request_ttl - 1)

    response = await flow.http.post("/consent", data=form)

    assert response.status_code == 303
    assert "code" in query_of(response.headers["location"])


async def test_expired_login_session_sends_the_user_back_to_login(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(auth={"session_ttl": 120})
    await add_user(server.settings, server.clock, USER)
    async with server.client() as http:
        flow = Flow(http, server.settings.resource_url)
        await flow.register()
        form = await consent_form(flow)
        server.clock.advance(121)

        shown = await http.get("/consent", params={"request": form["request"]})
        submitted = await http.post("/consent", data=form)
        fresh = await flow.authorize()

    for response in (shown, submitted):
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?request={form['request']}"
    assert fresh.headers["location"].startswith("/login?")
    assert await count_rows(server.settings, "authorization_codes") == 0
