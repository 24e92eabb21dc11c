"""Client ID Metadata Documents: resolving an https client_id into a validated, cached registration.

Network rule: ``app.example`` is only ever resolved by a static fake and answered by a ``MockTransport``; the
end-to-end test serves its document from a real app on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from drawbridge.auth_server.client_metadata import (
    ClientMetadataDocument,
    ClientMetadataError,
    ClientMetadataResolver,
    build_client_metadata_resolver,
    check_redirect_uri,
    is_client_id_url,
)
from drawbridge.settings import ClientMetadataSettings
from drawbridge.ssrf import GuardedFetcher, SsrfError
from drawbridge.testing import FrozenClock
from tests.live_server import bind_loopback, serve_in_thread

CLIENT_ID = "https://app.example/oauth/client.json"
PUBLIC_IP = "93.184.216.34"


def valid_document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_name": "Example App",
        "redirect_uris": ["https://app.example/callback"],
    }
    document.update(changes)
    return document


class StaticResolver:
    async def resolve(self, host: str, port: int) -> list[str]:
        return {"app.example": [PUBLIC_IP], "internal.example": ["10.0.0.7"]}.get(host, [])


class DocumentServer(httpx.MockTransport):
    """Answers every request with one document (or raw body) and counts the requests."""

    def __init__(self, body: bytes | dict[str, Any], headers: dict[str, str] | None = None, status: int = 200) -> None:
        self.requests: list[httpx.Request] = []
        self.body = json.dumps(body).encode() if isinstance(body, dict) else body
        self.headers = {"content-type": "application/json", **(headers or {})}
        self.status = status
        super().__init__(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, content=self.body, headers=self.headers)


ResolverFactory = Callable[..., ClientMetadataResolver]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def make_resolver(clock: FrozenClock) -> ResolverFactory:
    def factory(
        server: DocumentServer, *, dev: bool = False, max_entries: int = 1024, **settings: Any
    ) -> ClientMetadataResolver:
        section = ClientMetadataSettings(**settings)
        fetcher = GuardedFetcher(
            resolver=StaticResolver(),
            timeout=section.timeout_seconds,
            max_bytes=section.max_bytes,
            allow_loopback=dev,
            transport=server,
        )
        return ClientMetadataResolver(section, fetcher, clock, dev=dev, max_entries=max_entries)

    return factory


async def test_a_document_served_on_loopback_resolves_end_to_end_in_dev_mode(clock: FrozenClock) -> None:
    sock = bind_loopback()
    port = sock.getsockname()[1]
    client_id = f"http://127.0.0.1:{port}/oauth/client.json"

    async def client_json(request: Request) -> JSONResponse:
        document = {
            "client_id": client_id,
            "client_name": "Loopback Tool",
            "redirect_uris": ["http://127.0.0.1:33418/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "application_type": "native",
            "software_statement": "ignored member",
        }
        return JSONResponse(document, headers={"cache-control": "max-age=300"})

    app = Starlette(routes=[Route("/oauth/client.json", client_json)])
    resolver = build_client_metadata_resolver(ClientMetadataSettings(), clock, dev=True)
    with serve_in_thread(app, sock):
        document = await resolver.resolve(client_id)

    assert document == ClientMetadataDocument(
        client_id=client_id,
        client_name="Loopback Tool",
        redirect_uris=["http://127.0.0.1:33418/callback"],
        grant_types=["authorization_code", "refresh_token"],
        application_type="native",
    )
    assert document.response_types == ["code"]
    assert document.token_endpoint_auth_method == "none"
    assert check_redirect_uri(document, "http://127.0.0.1:33418/callback")


async def test_a_valid_document_resolves_with_defaults(make_resolver: ResolverFactory) -> None:
    server = DocumentServer(valid_document())
    document = await make_resolver(server).resolve(CLIENT_ID)
    assert document.client_name == "Example App"
    assert document.grant_types == ["authorization_code"]
    assert document.response_types == ["code"]
    assert document.token_endpoint_auth_method == "none"
    (request,) = server.requests
    assert request.url.host == PUBLIC_IP
    assert request.headers["host"] == "app.example"


async def test_a_document_naming_another_client_is_refused(make_resolver: ResolverFactory) -> None:
    server = DocumentServer(valid_document(client_id="https://app.example/oauth/other.json"))
    with pytest.raises(ClientMetadataError) as raised:
        await make_resolver(server).resolve(CLIENT_ID)
    assert raised.value.reason == "client_id_mismatch"


async def test_client_id_comparison_is_exact_string_equality(make_resolver: ResolverFactory) -> None:
    server = DocumentServer(valid_document(client_id="https://APP.example/oauth/client.json"))
    with pytest.raises(ClientMetadataError) as raised:
        await make_resolver(server).resolve(CLIENT_ID)
    assert raised.value.reason == "client_id_mismatch"


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://app.example/callback/",
        "https://app.example/callback?x=1",
        "https://app.example/callbac",
        "https://evil.example/callback",
        "HTTPS://app.example/callback",
    ],
)
async def test_only_listed_redirect_uris_match_exactly(make_resolver: ResolverFactory, redirect_uri: str) -> None:
    document = await make_resolver(DocumentServer(valid_document())).resolve(CLIENT_ID)
    assert check_redirect_uri(document, "https://app.example/callback")
    assert not check_redirect_uri(document, redirect_uri)


async def test_an_oversized_document_is_refused(make_resolver: ResolverFactory) -> None:
    server = DocumentServer(valid_document(client_name="x" * 200, padding="y" * 200))
    with pytest.raises(ClientMetadataError) as raised:
        await make_resolver(server, max_bytes=256).resolve(CLIENT_ID)
    assert raised.value.reason == "fetch_failed"
    assert isinstance(raised.value.__cause__, SsrfError)
    assert raised.value.__cause__.reason == "too_large"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'"a string"',
        b"[" * 3000 + b"]" * 3000,
        json.dumps(valid_document(client_name=None)).encode(),
        json.dumps({k: v for k, v in valid_document().items() if k != "client_name"}).encode(),
        json.dumps(valid_document(client_name="")).encode(),
        json.dumps(valid_document(client_name="x" * 201)).encode(),
        json.dumps(valid_document(client_name=42)).encode(),
        json.dumps({k: v for k, v in valid_document().items() if k != "redirect_uris"}).encode(),
        json.dumps(valid_document(redirect_uris="https://app.example/callback")).encode(),
        json.dumps(valid_document(redirect_uris=[])).encode(),
        json.dumps(valid_document(redirect_uris=["http://app.example/callback"])).encode(),
        json.dumps(valid_document(redirect_uris=["https://app.example/callback#frag"])).encode(),
        json.dumps(valid_document(redirect_uris=["/callback"])).encode(),
        json.dumps(valid_document(redirect_uris=["https://user@app.example/callback"])).encode(),
        json.dumps(valid_document(redirect_uris=["com.example.app:/callback"])).encode(),
        json.dumps(valid_document(grant_types=["client_credentials"])).encode(),
        json.dumps(valid_document(grant_types=["authorization_code", "implicit"])).encode(),
        json.dumps(valid_document(response_types=["token"])).encode(),
        json.dumps(valid_document(token_endpoint_auth_method="client_secret_basic")).encode(),
        json.dumps(valid_document(token_endpoint_auth_method="client_secret_post")).encode(),
        json.dumps(valid_document(token_endpoint_auth_method="private_key_jwt")).encode(),
        json.dumps(valid_document(client_secret="s3cret")).encode(),
        json.dumps(valid_document(application_type="service")).encode(),
        json.dumps(valid_document(logo_uri="javascript:alert(1)")).encode(),
    ],
)
async def test_invalid_documents_are_refused(make_resolver: ResolverFactory, body: bytes) -> None:
    with pytest.raises(ClientMetadataError) as raised:
        await make_resolver(DocumentServer(body), max_bytes=16384).resolve(CLIENT_ID)
    assert raised.value.reason == "invalid_document"


@pytest.mark.parametrize(
    "redirect_uri", ["http://127.0.0.1:8400/cb", "http://[::1]/cb", "http://localhost:3000/cb", "https://x.example/"]
)
async def test_https_and_loopback_http_redirect_uris_are_accepted(
    make_resolver: ResolverFactory, redirect_uri: str
) -> None:
    document = await make_resolver(DocumentServer(valid_document(redirect_uris=[redirect_uri]))).resolve(CLIENT_ID)
    assert document.redirect_uris == [redirect_uri]


@pytest.mark.parametrize(
    "client_id",
    [
        "http://app.example/oauth/client.json",
        "http://127.0.0.1:8000/oauth/client.json",
        "https://app.example",
        "https://app.example/",
        "https://app.example/oauth/client.json#frag",
        "https://app.example/oauth/client.json#",
        "https://user@app.example/oauth/client.json",
        "https://user:pass@app.example/oauth/client.json",
        "https://app.example/oauth/../client.json",
        "https://app.example/oauth/./client.json",
        "https://app.example/oauth/%2e%2e/client.json",
        "https://app.example:99999/oauth/client.json",
        "https://app.example/oauth/client json",
        "https:///oauth/client.json",
        "ftp://app.example/oauth/client.json",
    ],
)
async def test_malformed_client_id_urls_are_refused_without_fetching(
    make_resolver: ResolverFactory, client_id: str
) -> None:
    server = DocumentServer(valid_document(client_id=client_id))
    with pytest.raises(ClientMetadataError) as raised:
        await make_resolver(server).resolve(client_id)
    assert raised.value.reason == "invalid_client_id_url"
    assert server.requests == []


async def test_dev_mode_refuses_http_client_ids_off_loopback(make_resolver: ResolverFactory) -> None:
    client_id = "http://app.example/oauth/client.json"
    server = DocumentServer(valid_document(client_id=client_id))
    with pytest.raises(ClientMetadataError) as raised:
        await make_resolver(server, dev=True).resolve(client_id)
    assert raised.value.reason == "invalid_client_id_url"
    assert server.requests == []


async def test_a_denied_pattern_refuses_without_fetching(make_resolver: ResolverFactory) -> None:
    server = DocumentServer(valid_document())
    resolver = make_resolver(server, allow=("https://app.example/*",), deny=("https://app.example/oauth/*",))
    with pytest.raises(ClientMetadataError) as raised:
        await resolver.resolve(CLIENT_ID)
    assert raised.value.reason == "not_allowed"
    assert server.requests == []


async def test_a_client_id_outside_the_allow_list_is_refused(make_resolver: ResolverFactory) -> None:
    server = DocumentServer(valid_document())
    with pytest.raises(ClientMetadataError) as raised:
        await make_resolver(server, allow=("https://trusted.example/*",)).resolve(CLIENT_ID)
    assert raised.value.reason == "not_allowed"
    assert server.requests == []


async def test_a_client_id_in_the_allow_list_resolves(make_resolver: ResolverFactory) -> None:
    resolver = make_resolver(DocumentServer(valid_document()), allow=("https://trusted.example/*", "https://app.*"))
    assert (await resolver.resolve(CLIENT_ID)).client_id == CLIENT_ID


async def test_disabled_metadata_documents_are_refused(make_resolver: ResolverFactory) -> None:
    server = DocumentServer(valid_document())
    with pytest.raises(ClientMetadataError) as raised:
        await make_resolver(server, enabled=False).resolve(CLIENT_ID)
    assert raised.value.reason == "disabled"
    assert server.requests == []


async def test_a_client_id_resolving_to_an_internal_address_fails_to_fetch(make_resolver: ResolverFactory) -> None:
    client_id = "https://internal.example/client.json"
    server = DocumentServer(valid_document(client_id=client_id))
    with pytest.raises(ClientMetadataError) as raised:
        await make_resolver(server).resolve(client_id)
    assert raised.value.reason == "fetch_failed"
    assert isinstance(raised.value.__cause__, SsrfError)
    assert raised.value.__cause__.reason == "blocked_address"
    assert server.requests == []


async def test_a_document_is_reused_within_its_max_age_and_refetched_after(
    make_resolver: ResolverFactory, clock: FrozenClock
) -> None:
    server = DocumentServer(valid_document(), headers={"cache-control": "public, max-age=600"})
    resolver = make_resolver(server)
    first = await resolver.resolve(CLIENT_ID)
    clock.advance(599)
    assert await resolver.resolve(CLIENT_ID) is first
    assert len(server.requests) == 1
    clock.advance(1)
    await resolver.resolve(CLIENT_ID)
    assert len(server.requests) == 2


async def test_a_max_age_above_the_maximum_is_clamped(make_resolver: ResolverFactory, clock: FrozenClock) -> None:
    server = DocumentServer(valid_document(), headers={"cache-control": "max-age=31536000"})
    resolver = make_resolver(server, max_cache_seconds=3600)
    await resolver.resolve(CLIENT_ID)
    clock.advance(3599)
    await resolver.resolve(CLIENT_ID)
    assert len(server.requests) == 1
    clock.advance(1)
    await resolver.resolve(CLIENT_ID)
    assert len(server.requests) == 2


@pytest.mark.parametrize("cache_control", ["no-store", "no-cache, max-age=600", "max-age=5", "", "max-age=oops"])
async def test_short_or_absent_lifetimes_are_raised_to_the_minimum(
    make_resolver: ResolverFactory, clock: FrozenClock, cache_control: str
) -> None:
    server = DocumentServer(valid_document(), headers={"cache-control": cache_control})
    resolver = make_resolver(server, min_cache_seconds=60)
    await resolver.resolve(CLIENT_ID)
    clock.advance(59)
    await resolver.resolve(CLIENT_ID)
    assert len(server.requests) == 1
    clock.advance(1)
    await resolver.resolve(CLIENT_ID)
    assert len(server.requests) == 2


async def test_failures_are_not_cached(make_resolver: ResolverFactory) -> None:
    server = DocumentServer(valid_document(), status=503)
    resolver = make_resolver(server)
    with pytest.raises(ClientMetadataError) as raised:
        await resolver.resolve(CLIENT_ID)
    assert raised.value.reason == "fetch_failed"
    server.status = 200
    assert (await resolver.resolve(CLIENT_ID)).client_id == CLIENT_ID
    assert len(server.requests) == 2


async def test_the_cache_evicts_its_oldest_entry_beyond_its_size(make_resolver: ResolverFactory) -> None:
    def path_echo(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        client_id = f"https://app.example{request.url.path}"
        return httpx.Response(200, json=valid_document(client_id=client_id), headers={"cache-control": "max-age=600"})

    seen: list[str] = []
    section = ClientMetadataSettings()
    fetcher = GuardedFetcher(
        resolver=StaticResolver(), timeout=5, max_bytes=section.max_bytes, transport=httpx.MockTransport(path_echo)
    )
    resolver = ClientMetadataResolver(section, fetcher, FrozenClock(), max_entries=2)
    for name in ("a", "b", "c", "b", "a"):
        await resolver.resolve(f"https://app.example/{name}.json")
    assert seen == ["/a.json", "/b.json", "/c.json", "/a.json"]


@pytest.mark.parametrize(
    ("client_id", "expected"),
    [
        (CLIENT_ID, True),
        ("http://127.0.0.1:8000/client.json", True),
        ("my-registered-client", False),
        ("urn:example:client", False),
        ("HTTPS-ish", False),
    ],
)
def test_url_client_ids_are_told_apart_from_registered_ones(client_id: str, expected: bool) -> None:
    assert is_client_id_url(client_id) is expected
