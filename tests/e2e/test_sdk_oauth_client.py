"""End to end with the official MCP SDK client and its OAuth provider, driven headlessly.

The test plays the user's browser (login and consent forms over real HTTP); everything else is the SDK client
doing what Claude, Cursor or the Inspector do: discovery, registration (DCR, or a Client ID Metadata Document
served over https by the test with a CA the server is configured to trust), PKCE, tokens, step-up on 403.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from drawbridge.storage.database import create_engine
from tests.conftest import LiveServer
from tests.e2e.tls import LoopbackPki, make_pki
from tests.live_server import bind_loopback, serve_in_thread

REDIRECT_URI = "http://127.0.0.1:53682/callback"  # nothing listens: the browser stops at the redirect
DEMO = {"mcp": {"toolset": "drawbridge.demo:toolset"}}


class MemoryStorage(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Browser:
    """The user agent: follows redirects, signs in, answers consent, and stops at the client's redirect URI."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password
        self.approve = True
        self.consent_pages: list[str] = []
        self.result: AuthorizationCodeResult | None = None
        self._http = httpx.AsyncClient(follow_redirects=False, timeout=10)  # keeps the session cookie

    async def redirect_handler(self, authorization_url: str) -> None:
        self.result = None
        response = await self._http.get(authorization_url)
        for _ in range(10):
            location = response.headers.get("location")
            if location and location.startswith(REDIRECT_URI):
                query = parse_qs(urlsplit(location).query)
                if "error" in query:
                    raise PermissionError(query["error"][0])
                self.result = AuthorizationCodeResult(
                    code=query["code"][0], state=query["state"][0], iss=query.get("iss", [None])[0]
                )
                return
            if location:
                response = await self._http.get(urljoin(str(response.url), location))
                continue
            response = await self._http.post(
                urljoin(str(response.url), _action(response.text)), data=self._form(response.text)
            )
        raise AssertionError("never reached the redirect URI")

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result

    def _form(self, page: str) -> dict[str, Any]:
        fields: dict[str, Any] = {
            m[1]: html.unescape(m[2]) for m in re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
        }
        if 'name="password"' in page:
            return {**fields, "username": self.username, "password": self.password}
        self.consent_pages.append(page)
        scopes = re.findall(r'name="scope" value="([^"]+)"', page)
        return {**fields, "scope": scopes, "action": "approve" if self.approve else "deny"}

    async def aclose(self) -> None:
        await self._http.aclose()


def _action(page: str) -> str:
    found = re.search(r'<form method="post" action="([^"]+)"', page)
    assert found, page
    return html.unescape(found[1])


def _provider(server: LiveServer, browser: Browser, client_metadata_url: str | None = None) -> OAuthClientProvider:
    return OAuthClientProvider(
        server_url=server.settings.resource_url,
        client_metadata=OAuthClientMetadata(
            client_name="SDK e2e client",
            redirect_uris=[AnyUrl(REDIRECT_URI)],
            token_endpoint_auth_method="none",
        ),
        storage=MemoryStorage(),
        redirect_handler=browser.redirect_handler,
        callback_handler=browser.callback_handler,
        client_metadata_url=client_metadata_url,
    )


async def _session(server: LiveServer, provider: OAuthClientProvider, mode: str) -> Any:
    http = httpx2.AsyncClient(auth=provider, timeout=20)
    return http, Client(streamable_http_client(server.settings.resource_url, http_client=http), mode=mode)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_dcr_client_lists_reads_steps_up_and_is_refused_the_refund_by_policy(
    live_server_factory: Callable[..., LiveServer], mode: str
) -> None:
    """A self-registered (unverified) client: bob may request refunds, but not through a client nobody vouches for."""
    server = live_server_factory(**DEMO)
    browser = Browser("bob", "bob-demo-password")
    provider = _provider(server, browser)
    try:
        http, client = await _session(server, provider, mode)
        async with http, client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert tools == {"check_order_status", "summarise_customer_orders"}  # no refund tool without its scope
            status = await client.call_tool("check_order_status", {"order_id": 2})
            assert status.is_error is False
            assert status.structured_content is not None
            assert status.structured_content["order_id"] == 2

        browser.approve = False  # the user refuses the wider scope: the refund is refused, nothing is written
        http, client = await _session(server, provider, mode)
        with pytest.raises(BaseException) as refused:  # noqa: PT011 - the SDK wraps the refusal in task groups
            async with http, client:
                await client.call_tool("request_refund", {"order_id": 2, "reason": "damaged"})
        assert "access_denied" in repr(
            refused.value.exceptions if isinstance(refused.value, BaseExceptionGroup) else refused.value
        )
        assert await _refund_count(server) == 0

        browser.approve = True  # asked again, the user consents to orders:refund; the policy still says no
        http, client = await _session(server, provider, mode)
        async with http, client:
            refund = await client.call_tool("request_refund", {"order_id": 2, "reason": "damaged"})
            listed = {tool.name for tool in (await client.list_tools()).tools}
        assert "orders:refund" in browser.consent_pages[-1]
        assert refund.is_error is True
        assert "not permitted" in refund.content[0].text  # type: ignore[union-attr]
        assert "unverified" not in refund.content[0].text  # type: ignore[union-attr]  # no policy internals
        assert "request_refund" not in listed
        assert await _refund_count(server) == 0
    finally:
        await browser.aclose()


async def _refund_count(server: LiveServer) -> int:
    engine = create_engine(server.settings.database_url, schema=server.settings.storage.schema_name)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM demo_refunds"))).scalar_one())
    finally:
        await engine.dispose()


@pytest.fixture
def pki(tmp_path: Path) -> LoopbackPki:
    return make_pki(tmp_path)


@pytest.fixture
def cimd_host(pki: LoopbackPki) -> Iterator[str]:
    """An https server on loopback publishing the client's metadata document; yields the document URL."""
    sock = bind_loopback()
    url = f"https://127.0.0.1:{sock.getsockname()[1]}/clients/e2e.json"

    async def document(_request: Any) -> JSONResponse:
        return JSONResponse(
            {
                "client_id": url,
                "client_name": "SDK e2e client (CIMD)",
                "redirect_uris": [REDIRECT_URI],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            }
        )

    app = Starlette(routes=[Route("/clients/e2e.json", document)])
    with serve_in_thread(app, sock, ssl_certfile=str(pki.cert_file), ssl_keyfile=str(pki.key_file)):
        yield url


async def test_cimd_client_is_identified_by_its_https_document(
    live_server_factory: Callable[..., LiveServer], pki: LoopbackPki, cimd_host: str
) -> None:
    server = live_server_factory(auth={"client_metadata": {"ca_bundle": str(pki.ca_file)}}, **DEMO)
    browser = Browser("alice", "alice-demo-password")
    provider = _provider(server, browser, client_metadata_url=cimd_host)
    http, client = await _session(server, provider, "auto")
    try:
        async with http, client:
            result = await client.call_tool("check_order_status", {"order_id": 1})
            assert result.is_error is False
        assert "verified by <strong>127.0.0.1</strong>" in browser.consent_pages[0]
        stored = provider.context.storage
        assert isinstance(stored, MemoryStorage)
        assert stored.tokens is not None
        claims = server.components.auth_server.verifier.verify(stored.tokens.access_token, audience=None)
        assert claims.client_id == cimd_host  # no registration happened: the URL is the client_id
    finally:
        await browser.aclose()


async def test_cimd_client_refunds_role_path_and_pii_masked_for_the_agent(
    live_server_factory: Callable[..., LiveServer], pki: LoopbackPki, cimd_host: str
) -> None:
    """The demo's acceptance path: a verified client; bob (refunds) steps up and requests a refund within the
    policy's limit, is refused above it; what alice's agent sees of a customer has the email and NI number masked,
    while bob's sees the email (the refunds team may) and still not the NI number."""
    server = live_server_factory(auth={"client_metadata": {"ca_bundle": str(pki.ca_file)}}, **DEMO)
    bob, alice = Browser("bob", "bob-demo-password"), Browser("alice", "alice-demo-password")
    try:
        http, client = await _session(server, _provider(server, bob, client_metadata_url=cimd_host), "auto")
        async with http, client:
            refund = await client.call_tool("request_refund", {"order_id": 2, "reason": "damaged"})  # £84.98
            too_big = await client.call_tool("request_refund", {"order_id": 6, "reason": "damaged"})  # £307.95
            listed = {tool.name for tool in (await client.list_tools()).tools}
            bobs_view = await client.call_tool("summarise_customer_orders", {"customer_id": 1, "period": "all_time"})
        assert refund.is_error is False, refund.content
        assert refund.structured_content is not None
        assert (refund.structured_content["order_id"], refund.structured_content["amount"]) == (2, "£84.98")
        assert too_big.is_error is True
        assert "not permitted" in too_big.content[0].text  # type: ignore[union-attr]
        assert "request_refund" in listed
        assert await _refund_count(server) == 1

        http, client = await _session(server, _provider(server, alice, client_metadata_url=cimd_host), "auto")
        async with http, client:
            alices_view = await client.call_tool("summarise_customer_orders", {"customer_id": 1, "period": "all_time"})
            alice_listed = {tool.name for tool in (await client.list_tools()).tools}
        assert "request_refund" not in alice_listed
        for view in (alices_view, bobs_view):
            assert view.is_error is False, view.content
            text = view.content[0].text  # type: ignore[union-attr]
            assert "XK 98 76 44 A" not in text  # customer 1's NI number, in their latest message
            assert view.structured_content is not None
            assert "National Insurance number is [ni_number]" in view.structured_content["last_message"]
        assert alices_view.structured_content is not None
        assert bobs_view.structured_content is not None
        assert alices_view.structured_content["email"] == "m***@example.co.uk"
        assert "mohammed.smith1@example.co.uk" not in alices_view.content[0].text  # type: ignore[union-attr]
        assert bobs_view.structured_content["email"] == "mohammed.smith1@example.co.uk"
    finally:
        await bob.aclose()
        await alice.aclose()
