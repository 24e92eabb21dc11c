"""The whole flow for a client identified by a Client ID Metadata Document, served by the test on loopback.

The server runs with ``--dev``, which is what lets it fetch an http loopback URL; outside dev only https URLs
that resolve to public addresses are fetched (tests/test_ssrf.py covers those refusals without any traffic).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.auth_server.oauth_flow import Flow, add_user, query_of
from tests.conftest import LiveServer
from tests.live_server import bind_loopback, serve_in_thread


class DocumentHost:
    """A loopback web server publishing client metadata documents the test controls."""

    def __init__(self) -> None:
        self.documents: dict[str, Any] = {}
        self.fetches = 0
        self.base_url = ""

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    async def _serve(self, request: Request) -> Response:
        self.fetches += 1
        document = self.documents.get(request.path_params["name"])
        if document is None:
            return Response(status_code=404)
        if isinstance(document, bytes):
            return Response(document, media_type="application/json")
        return JSONResponse(document, headers={"Cache-Control": "max-age=300"})


@pytest.fixture
def documents() -> Iterator[DocumentHost]:
    host = DocumentHost()
    app = Starlette(routes=[Route("/{name}", host._serve)])
    sock = bind_loopback()
    host.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with serve_in_thread(app, sock):
        yield host


def _publish(documents: DocumentHost, name: str, **overrides: Any) -> str:
    url = documents.url(name)
    documents.documents[name] = {
        "client_id": url,
        "client_name": "Example Agent",
        "redirect_uris": ["http://127.0.0.1:9999/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **overrides,
    }
    return url


async def test_cimd_client_completes_the_flow_and_is_shown_as_verified(
    live_server: LiveServer, documents: DocumentHost
) -> None:
    await add_user(live_server.settings, live_server.clock, "carol", ("support",))
    async with live_server.client() as http:
        flow = Flow(http, live_server.settings.resource_url, client_id=_publish(documents, "agent.json"))
        response = await flow.authorize()
        assert response.status_code == 303
        response = await flow.login(response.headers["location"], "carol")
        consent_page = await http.get(response.headers["location"])
        assert consent_page.status_code == 200
        assert "verified by <strong>127.0.0.1</strong>" in consent_page.text
        assert "Example Agent" in consent_page.text
        response = await flow.consent(response.headers["location"])
        code = query_of(response.headers["location"])["code"]
        tokens = await flow.redeem(code)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "Bearer"
    assert "refresh_token" in body
    assert documents.fetches == 1  # cached per Cache-Control for the rest of the flow


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"client_id": "http://127.0.0.1:1/someone-else.json"}, id="client_id-differs-from-url"),
        pytest.param({"redirect_uris": ["http://127.0.0.1:9999/other"]}, id="redirect-uri-not-listed"),
        pytest.param({"token_endpoint_auth_method": "client_secret_basic"}, id="shared-secret-method"),
        pytest.param({"client_name": None}, id="no-client-name"),
    ],
)
async def test_unusable_metadata_document_gets_an_error_page_not_a_redirect(
    live_server: LiveServer, documents: DocumentHost, overrides: dict[str, Any]
) -> None:
    client_id = _publish(documents, "bad.json", **overrides)
    async with live_server.client() as http:
        response = await Flow(http, live_server.settings.resource_url, client_id=client_id).authorize()
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


async def test_oversized_metadata_document_is_refused(live_server: LiveServer, documents: DocumentHost) -> None:
    url = documents.url("huge.json")
    padding = "x" * (live_server.settings.auth.client_metadata.max_bytes + 1)
    documents.documents["huge.json"] = json.dumps(
        {"client_id": url, "client_name": padding, "redirect_uris": ["http://127.0.0.1:9999/callback"]}
    ).encode()
    async with live_server.client() as http:
        response = await Flow(http, live_server.settings.resource_url, client_id=url).authorize()
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_missing_metadata_document_is_refused(live_server: LiveServer, documents: DocumentHost) -> None:
    async with live_server.client() as http:
        flow = Flow(http, live_server.settings.resource_url, client_id=documents.url("absent.json"))
        response = await flow.authorize()
    assert response.status_code == 400


async def test_denied_client_url_pattern_is_refused_without_fetching(
    live_server_factory: Any, documents: DocumentHost
) -> None:
    server = live_server_factory(auth={"client_metadata": {"deny": ["http://127.0.0.1:*/blocked*"]}})
    client_id = _publish(documents, "blocked.json")
    async with server.client() as http:
        response = await Flow(http, server.settings.resource_url, client_id=client_id).authorize()
    assert response.status_code == 400
    assert documents.fetches == 0


async def test_cimd_client_cannot_use_a_redirect_uri_its_document_does_not_list(
    live_server: LiveServer, documents: DocumentHost
) -> None:
    client_id = _publish(documents, "agent.json")
    async with live_server.client() as http:
        flow = Flow(http, live_server.settings.resource_url, client_id=client_id)
        response = await flow.authorize(redirect_uri="http://127.0.0.1:9999/callback-evil")
    assert response.status_code == 400
    assert "location" not in response.headers
