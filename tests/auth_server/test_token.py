"""The token endpoint with the authorization_code grant (OAuth 2.1 §4.1.3, RFC 7636 §4.6, RFC 8707, RFC 9068).

Every test drives a real server over HTTP: a scripted user signs in and consents, and the client redeems the code.
Refusals assert the status and ``error`` code, and that no token came back.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.auth_server.oauth_flow import REDIRECT_URI, Flow, add_user, pkce_pair
from tests.conftest import LiveServer

USER = "alice"
OTHER_REDIRECT_URI = "http://127.0.0.1:9999/other-callback"
WITH_REFRESH = ["authorization_code", "refresh_token"]
ROUNDS = 10  # concurrent-redemption rounds: a race that loses even one round is caught


@pytest.fixture
async def user_id(live_server: LiveServer) -> str:
    return await add_user(live_server.settings, live_server.clock, USER, ("support",))


@pytest.fixture
async def flow(live_server: LiveServer, http: httpx.AsyncClient, user_id: str) -> Flow:
    """A public client registered for refresh tokens and for two redirect URIs."""
    flow = Flow(http, live_server.settings.resource_url)
    await flow.register(grant_types=WITH_REFRESH, redirect_uris=[REDIRECT_URI, OTHER_REDIRECT_URI])
    return flow


@pytest.fixture
async def resource_server(live_server: LiveServer, http: httpx.AsyncClient) -> Flow:
    """A confidential client that may introspect."""
    rs = Flow(http, live_server.settings.resource_url)
    await rs.register(token_endpoint_auth_method="client_secret_basic")
    return rs


def redemption(flow: Flow, code: str, /, **overrides: str | None) -> dict[str, str]:
    """The authorization_code token request form; a ``None`` override leaves the parameter out."""
    form: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": flow.redirect_uri,
        "code_verifier": flow.verifier,
        "resource": flow.resource,
        **overrides,
    }
    return {k: v for k, v in form.items() if v is not None}


def assert_refused(response: httpx.Response, error: str, status: int = 400) -> None:
    """An RFC 6749 §5.2 error response that issued nothing."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert not {"access_token", "refresh_token"} & body.keys()
    assert response.headers["cache-control"] == "no-store"


async def published_keys(http: httpx.AsyncClient) -> KeySet:
    response = await http.get("/jwks")
    assert response.status_code == 200
    return KeySet.import_key_set(response.json())


# --- successful redemption ---------------------------------------------------------------------------------------


async def test_code_redemption_answers_bearer_token_and_refresh_token_uncached(flow: Flow) -> None:
    response = await flow.redeem(await flow.code_via_login(USER))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert body.keys() == {"access_token", "token_type", "expires_in", "scope", "refresh_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "orders:read customers:read"
    assert body["refresh_token"]


async def test_no_refresh_token_for_a_client_not_registered_for_the_refresh_grant(
    live_server: LiveServer, http: httpx.AsyncClient, user_id: str
) -> None:
    flow = Flow(http, live_server.settings.resource_url)
    await flow.register(grant_types=["authorization_code"])

    body = await flow.sign_in(USER)

    assert body["access_token"]
    assert "refresh_token" not in body


async def test_access_token_is_an_rfc9068_jwt_verifiable_against_the_jwks(
    live_server: LiveServer, http: httpx.AsyncClient, flow: Flow, user_id: str
) -> None:
    body = await flow.sign_in(USER)
    keys = await published_keys(http)

    algorithm = live_server.settings.keys.algorithm  # ES256 in tests (cheap keys); RS256 is covered in test_keys
    token = jwt.decode(body["access_token"], keys, algorithms=[algorithm])

    assert token.header["typ"] == "at+jwt"
    assert token.header["alg"] == algorithm
    assert token.header["kid"] in {key.kid for key in keys.keys}
    claims = token.claims
    base = live_server.base_url
    assert claims["iss"] == base
    assert claims["sub"] == user_id
    assert claims["aud"] == f"{base}/mcp"
    assert claims["client_id"] == flow.client_id
    assert claims["scope"] == "orders:read customers:read"
    assert claims["iat"] == int(live_server.clock.now())
    assert claims["exp"] - claims["iat"] == 600
    assert claims["jti"]


async def test_every_access_token_has_its_own_jti(flow: Flow) -> None:
    first = await flow.sign_in(USER)
    second = await flow.sign_in(USER)

    assert _claims(first["access_token"])["jti"] != _claims(second["access_token"])["jti"]


async def test_resource_may_be_left_out_at_the_token_endpoint_and_the_authorized_one_is_used(
    live_server: LiveServer, flow: Flow
) -> None:
    code = await flow.code_via_login(USER)

    response = await flow.token(**redemption(flow, code, resource=None))

    assert response.status_code == 200, response.text
    assert _claims(response.json()["access_token"])["aud"] == live_server.settings.resource_url


async def test_confidential_client_redeems_with_basic_credentials(
    live_server: LiveServer, http: httpx.AsyncClient, user_id: str
) -> None:
    flow = Flow(http, live_server.settings.resource_url)
    await flow.register(token_endpoint_auth_method="client_secret_basic")

    body = await flow.sign_in(USER)

    assert _claims(body["access_token"])["client_id"] == flow.client_id


async def test_confidential_client_redeems_with_client_secret_post(
    live_server: LiveServer, http: httpx.AsyncClient, user_id: str
) -> None:
    flow = Flow(http, live_server.settings.resource_url)
    await flow.register(token_endpoint_auth_method="client_secret_post")
    secret, flow.client_secret = flow.client_secret, None
    code = await flow.code_via_login(USER)

    response = await flow.token(**redemption(flow, code), client_secret=secret or "")

    assert response.status_code == 200, response.text
    assert _claims(response.json()["access_token"])["client_id"] == flow.client_id


# --- refused redemptions -----------------------------------------------------------------------------------------


REFUSED_REDEMPTIONS: list[Any] = [
    pytest.param({"code_verifier": pkce_pair()[0]}, "invalid_grant", id="wrong-code-verifier"),
    pytest.param({"code_verifier": None}, "invalid_grant", id="missing-code-verifier"),
    pytest.param({"code_verifier": "short"}, "invalid_grant", id="malformed-code-verifier"),
    pytest.param({"redirect_uri": OTHER_REDIRECT_URI}, "invalid_grant", id="other-registered-redirect-uri"),
    pytest.param({"redirect_uri": "http://127.0.0.1:9999/unregistered"}, "invalid_grant", id="unknown-redirect-uri"),
    pytest.param({"redirect_uri": None}, "invalid_grant", id="missing-redirect-uri"),
    pytest.param({"code": "not-a-code-we-issued"}, "invalid_grant", id="unknown-code"),
    pytest.param({"code": None}, "invalid_request", id="missing-code"),
    pytest.param({"resource": "http://127.0.0.1:1/mcp"}, "invalid_target", id="other-resource"),
]


@pytest.mark.parametrize(("overrides", "error"), REFUSED_REDEMPTIONS)
async def test_redemption_that_does_not_match_the_authorization_is_refused(
    flow: Flow, overrides: dict[str, str | None], error: str
) -> None:
    code = await flow.code_via_login(USER)

    response = await flow.token(**redemption(flow, code, **overrides))

    assert_refused(response, error)


async def test_replayed_code_is_refused_and_revokes_what_the_first_redemption_issued(
    flow: Flow, resource_server: Flow
) -> None:
    code = await flow.code_via_login(USER)
    first = await flow.redeem(code)
    assert first.status_code == 200, first.text
    issued = first.json()
    assert (await resource_server.introspect(issued["access_token"])).json()["active"] is True

    replay = await flow.redeem(code)

    assert_refused(replay, "invalid_grant")
    assert_refused(await flow.refresh(issued["refresh_token"]), "invalid_grant")
    assert (await resource_server.introspect(issued["access_token"])).json() == {"active": False}


async def test_concurrent_redemptions_of_one_code_issue_tokens_once(flow: Flow) -> None:
    code = await flow.code_via_login(USER)

    responses = await asyncio.gather(*(flow.redeem(code) for _ in range(4)))

    assert sorted(r.status_code for r in responses) == [200, 400, 400, 400]
    for response in responses:
        if response.status_code == 400:
            assert_refused(response, "invalid_grant")


async def test_concurrent_replays_always_revoke_what_the_winning_redemption_issued(
    flow: Flow, resource_server: Flow
) -> None:
    """A replay racing the first redemption must still revoke its tokens: no round may leave them usable."""
    leaked = []
    for _ in range(ROUNDS):
        code = await flow.code_via_login(USER)
        responses = await asyncio.gather(flow.redeem(code), flow.redeem(code))
        (winner,) = [r.json() for r in responses if r.status_code == 200]
        refreshed = await flow.refresh(winner["refresh_token"])
        introspected = (await resource_server.introspect(winner["access_token"])).json()
        if refreshed.status_code == 200 or introspected["active"]:
            leaked.append((refreshed.status_code, introspected["active"]))

    assert leaked == []


async def test_code_redeemed_by_another_client_is_refused_and_is_burnt_for_its_own_client_too(
    live_server: LiveServer, http: httpx.AsyncClient, flow: Flow
) -> None:
    other = Flow(http, live_server.settings.resource_url)
    await other.register()
    code = await flow.code_via_login(USER)
    other.verifier = flow.verifier

    stolen = await other.redeem(code)

    assert_refused(stolen, "invalid_grant")
    assert_refused(await flow.redeem(code), "invalid_grant")


@pytest.mark.parametrize(("elapsed", "status"), [(59, 200), (61, 400)])
async def test_code_lives_for_the_authorization_code_ttl(
    live_server: LiveServer, flow: Flow, elapsed: int, status: int
) -> None:
    code = await flow.code_via_login(USER)
    live_server.clock.advance(elapsed)

    response = await flow.redeem(code)

    if status == 200:
        assert response.status_code == 200, response.text
    else:
        assert_refused(response, "invalid_grant")


# --- grant types -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "grant_type",
    ["password", "client_credentials", "implicit", "urn:ietf:params:oauth:grant-type:device_code", "x" * 500],
)
async def test_unsupported_grant_type_is_refused(flow: Flow, grant_type: str) -> None:
    response = await flow.token(grant_type=grant_type, username=USER, password="x", scope="orders:read")

    assert_refused(response, "unsupported_grant_type")


async def test_missing_grant_type_is_an_invalid_request(flow: Flow) -> None:
    code = await flow.code_via_login(USER)

    response = await flow.token(**redemption(flow, code, grant_type=None))

    assert_refused(response, "invalid_request")


async def test_client_not_registered_for_refresh_tokens_may_not_refresh(
    live_server: LiveServer, http: httpx.AsyncClient, flow: Flow
) -> None:
    refresh_token = (await flow.sign_in(USER))["refresh_token"]
    no_refresh = Flow(http, live_server.settings.resource_url)
    await no_refresh.register(grant_types=["authorization_code"])

    response = await no_refresh.refresh(refresh_token)

    assert_refused(response, "unauthorized_client")
    assert (await flow.refresh(refresh_token)).status_code == 200


# --- request framing ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("parameter", ["grant_type", "code", "code_verifier", "redirect_uri", "resource", "client_id"])
async def test_repeated_parameter_is_refused_without_burning_the_code(flow: Flow, parameter: str) -> None:
    code = await flow.code_via_login(USER)
    form: dict[str, Any] = {"client_id": flow.client_id, **redemption(flow, code)}
    form[parameter] = [form[parameter], form[parameter]]

    response = await flow.http.post("/token", data=form)

    assert_refused(response, "invalid_request")
    assert (await flow.redeem(code)).status_code == 200


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda form: {"json": form}, id="json"),
        pytest.param(lambda form: {"files": {"x": ("x", b"x")}, "data": form}, id="multipart"),
        pytest.param(lambda form: {"content": json.dumps(form), "headers": {"content-type": "text/plain"}}, id="text"),
    ],
)
async def test_body_that_is_not_a_form_is_refused_without_burning_the_code(
    flow: Flow, encode: Callable[[dict[str, str]], dict[str, Any]]
) -> None:
    code = await flow.code_via_login(USER)
    form = {"client_id": flow.client_id, **redemption(flow, code)}

    response = await flow.http.post("/token", **encode(form))

    assert_refused(response, "invalid_request")
    assert (await flow.redeem(code)).status_code == 200


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_body_over_the_size_limit_is_refused_with_413(
    live_server_factory: Callable[..., LiveServer], chunked: bool
) -> None:
    server = live_server_factory(server={"max_body_bytes": 2048})
    await add_user(server.settings, server.clock, USER)
    async with server.client() as http:
        flow = Flow(http, server.settings.resource_url)
        await flow.register()
        code = await flow.code_via_login(USER)
        form = {"client_id": flow.client_id, **redemption(flow, code), "padding": "x" * 4096}
        body = httpx.QueryParams(form).__str__().encode()

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 512):
                yield body[start : start + 512]

        response = await http.post(
            "/token",
            content=chunks() if chunked else body,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )

        assert response.status_code == 413
        assert "access_token" not in response.text
        assert (await flow.redeem(code)).status_code == 200


# --- client authentication ---------------------------------------------------------------------------------------


@pytest.fixture
async def confidential(live_server: LiveServer, http: httpx.AsyncClient, user_id: str) -> Flow:
    flow = Flow(http, live_server.settings.resource_url)
    await flow.register(token_endpoint_auth_method="client_secret_basic", grant_types=WITH_REFRESH)
    return flow


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


CLIENT_AUTH_FAILURES: list[Any] = [
    pytest.param(
        lambda c: ({"client_id": "no-such-client"}, {}),
        401,
        "invalid_client",
        "Basic",
        id="unknown-client-id-in-body",
    ),
    pytest.param(
        lambda c: ({}, {"authorization": _basic("no-such-client", "secret")}),
        401,
        "invalid_client",
        'Basic realm="drawbridge"',
        id="unknown-client-id-in-basic",
    ),
    pytest.param(
        lambda c: ({}, {"authorization": _basic(c.client_id, "wrong-secret")}),
        401,
        "invalid_client",
        'Basic realm="drawbridge"',
        id="wrong-secret-basic",
    ),
    pytest.param(
        lambda c: ({}, {"authorization": _basic(c.client_id, "")}),
        401,
        "invalid_client",
        'Basic realm="drawbridge"',
        id="empty-secret-basic",
    ),
    pytest.param(
        lambda c: ({"client_id": c.client_id}, {}),
        401,
        "invalid_client",
        "Basic",
        id="confidential-client-sends-no-secret",
    ),
    pytest.param(
        lambda c: ({"client_id": c.client_id, "client_secret": c.client_secret}, {}),
        401,
        "invalid_client",
        "Basic",
        id="right-secret-but-not-the-registered-method",
    ),
    pytest.param(
        lambda c: ({}, {"authorization": "Bearer " + (c.client_secret or "")}),
        401,
        "invalid_client",
        'Basic realm="drawbridge"',
        id="not-basic-scheme",
    ),
    pytest.param(
        lambda c: ({}, {"authorization": "Basic !!!not-base64"}),
        401,
        "invalid_client",
        'Basic realm="drawbridge"',
        id="malformed-basic",
    ),
    pytest.param(
        lambda c: ({}, {}),
        401,
        "invalid_client",
        "Basic",
        id="no-client-identification-at-all",
    ),
    pytest.param(
        lambda c: (
            {"client_secret": c.client_secret},
            {"authorization": _basic(c.client_id, c.client_secret or "")},
        ),
        400,
        "invalid_request",
        None,
        id="basic-and-client-secret-in-body",
    ),
    pytest.param(
        lambda c: (
            {"client_id": "someone-else"},
            {"authorization": _basic(c.client_id, c.client_secret or "")},
        ),
        400,
        "invalid_request",
        None,
        id="basic-and-a-different-client-id-in-body",
    ),
]


@pytest.mark.parametrize(("credentials", "status", "error", "challenge"), CLIENT_AUTH_FAILURES)
async def test_client_authentication_failure_is_refused_and_does_not_burn_the_code(
    confidential: Flow,
    credentials: Callable[[Flow], tuple[dict[str, Any], dict[str, str]]],
    status: int,
    error: str,
    challenge: str | None,
) -> None:
    code = await confidential.code_via_login(USER)
    form, headers = credentials(confidential)

    response = await confidential.http.post("/token", data={**redemption(confidential, code), **form}, headers=headers)

    assert_refused(response, error, status)
    if challenge is None:
        assert "www-authenticate" not in response.headers
    else:
        assert response.headers["www-authenticate"] == challenge
    assert (await confidential.redeem(code)).status_code == 200


async def test_public_client_sending_a_secret_is_refused(flow: Flow) -> None:
    code = await flow.code_via_login(USER)

    response = await flow.token(**redemption(flow, code), client_secret="made-up")

    assert_refused(response, "invalid_client", 401)
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_public_client_sending_basic_credentials_is_refused(flow: Flow) -> None:
    code = await flow.code_via_login(USER)

    response = await flow.http.post(
        "/token", data=redemption(flow, code), headers={"authorization": _basic(flow.client_id, "made-up")}
    )

    assert_refused(response, "invalid_client", 401)
    assert response.headers["www-authenticate"] == 'Basic realm="drawbridge"'


# --- robustness --------------------------------------------------------------------------------------------------

FORM = {"content-type": "application/x-www-form-urlencoded"}

ODD_REQUESTS: list[Any] = [
    pytest.param(b"grant_type=authorization_code&code=\xff\xfe&client_id=\xc3", FORM, id="non-utf8-bytes"),
    pytest.param(b"grant_type=authorization_code&code=%ff%fe&client_id=%c3", FORM, id="non-utf8-escapes"),
    pytest.param(b"grant_type=authorization_code&client_id=%00abc&code=x", FORM, id="nul-in-client-id"),
    pytest.param(b"grant_type=refresh_token&client_id=abc&refresh_token=%00", FORM, id="nul-in-refresh-token"),
    pytest.param(b"&&&===&=&", FORM, id="empty-pairs"),
    pytest.param(b"client_id=" + b"a" * 5000 + b"&grant_type=authorization_code", FORM, id="long-client-id"),
    pytest.param(b"&".join(b"p%d=1" % i for i in range(40)), FORM, id="many-fields"),
    pytest.param(
        b"grant_type=authorization_code",
        {"content-type": "application/x-www-form-urlencoded; charset=bogus"},
        id="bogus-charset",
    ),
    pytest.param(b"{", {"content-type": "application/json"}, id="broken-json"),
    pytest.param(b"", {}, id="no-body-no-type"),
    pytest.param(b"--x\r\n", {"content-type": "multipart/form-data; boundary=x"}, id="broken-multipart"),
    pytest.param(
        b"client_id=abc",
        {**FORM, "authorization": "Basic " + base64.b64encode(b"\xff:\xfe").decode()},
        id="non-utf8-basic",
    ),
    pytest.param(b"client_id=abc", {**FORM, "authorization": "Basic"}, id="empty-basic"),
]


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
@pytest.mark.parametrize(("content", "headers"), ODD_REQUESTS)
async def test_malformed_requests_get_an_oauth_error_never_a_server_error(
    live_server: LiveServer, http: httpx.AsyncClient, path: str, content: bytes, headers: dict[str, str]
) -> None:
    response = await http.post(path, content=content, headers=headers)

    assert (await http.get("/healthz")).status_code == 200  # still serving (and done logging any crash)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json", response.text
    assert response.json()["error"] in {"invalid_request", "invalid_client", "invalid_grant"}
    assert "access_token" not in response.text


def _claims(token: str) -> dict[str, Any]:
    """The (unverified) claims of a JWT, for checks where the signature was verified elsewhere."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims
