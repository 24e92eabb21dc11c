"""RFC 8414 authorization server metadata, and CORS on the endpoints browser-based MCP clients call."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.auth_server.oauth_flow import REDIRECT_URI
from tests.conftest import LiveServer

WELL_KNOWN = ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]
ORIGIN = "https://inspector.example"


@pytest.mark.parametrize("path", WELL_KNOWN)
async def test_metadata_names_the_issuer_and_every_endpoint(live_server: LiveServer, path: str) -> None:
    async with live_server.client() as http:
        response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    base = live_server.base_url
    assert document["issuer"] == base
    assert document["authorization_endpoint"] == f"{base}/authorize"
    assert document["token_endpoint"] == f"{base}/token"
    assert document["registration_endpoint"] == f"{base}/register"
    assert document["revocation_endpoint"] == f"{base}/revoke"
    assert document["introspection_endpoint"] == f"{base}/introspect"
    assert document["jwks_uri"] == f"{base}/jwks"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["client_id_metadata_document_supported"] is True
    assert document["authorization_response_iss_parameter_supported"] is True
    assert document["response_types_supported"] == ["code"]
    assert set(document["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    }
    assert "none" in document["token_endpoint_auth_methods_supported"]
    assert document["scopes_supported"] == list(live_server.settings.auth.scopes)


async def test_both_well_known_documents_are_the_same(live_server: LiveServer) -> None:
    async with live_server.client() as http:
        documents = [(await http.get(path)).json() for path in WELL_KNOWN]
    assert documents[0] == documents[1]


async def test_every_advertised_endpoint_is_served(live_server: LiveServer) -> None:
    async with live_server.client() as http:
        document = (await http.get(WELL_KNOWN[0])).json()
        base = live_server.base_url
        assert (await http.get(document["jwks_uri"].removeprefix(base))).status_code == 200
        authorize = await http.get(document["authorization_endpoint"].removeprefix(base))
        assert authorize.status_code == 400  # our error page: no client_id
        for name in ("token_endpoint", "revocation_endpoint", "introspection_endpoint", "registration_endpoint"):
            response = await http.post(document[name].removeprefix(base), data={})
            assert response.status_code not in (404, 405), name
            assert response.status_code < 500, name


async def test_disabled_registration_is_neither_advertised_nor_served(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(auth={"registration": {"enabled": False}})
    async with server.client() as http:
        for path in WELL_KNOWN:
            assert "registration_endpoint" not in (await http.get(path)).json()
        response = await http.post("/register", json={"redirect_uris": [REDIRECT_URI]})
    assert response.status_code in (404, 405)


async def test_disabled_client_metadata_documents_are_advertised_as_unsupported(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(auth={"client_metadata": {"enabled": False}})
    async with server.client() as http:
        document = (await http.get(WELL_KNOWN[0])).json()
    assert document["client_id_metadata_document_supported"] is False


@pytest.mark.parametrize("path", WELL_KNOWN)
async def test_metadata_is_readable_from_any_origin(live_server: LiveServer, path: str) -> None:
    async with live_server.client() as http:
        response = await http.get(path, headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/token", "POST"),
        ("/register", "POST"),
        ("/revoke", "POST"),
        ("/introspect", "POST"),
        ("/.well-known/oauth-authorization-server", "GET"),
    ],
)
async def test_preflight_of_back_channel_endpoints_is_answered(live_server: LiveServer, path: str, method: str) -> None:
    headers = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with live_server.client() as http:
        response = await http.options(path, headers=headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert method in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers


@pytest.mark.parametrize("path", ["/authorize?client_id=x", "/login?request=x", "/consent?request=x"])
async def test_interactive_pages_are_not_cors_enabled(live_server: LiveServer, path: str) -> None:
    async with live_server.client() as http:
        response = await http.get(path, headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers
