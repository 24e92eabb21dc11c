"""The running server: health, readiness and the published JWKS, over real HTTP."""

from collections.abc import Callable

from tests.conftest import LiveServer


async def test_healthz_answers_ok(live_server: LiveServer) -> None:
    async with live_server.client() as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_the_database(live_server: LiveServer) -> None:
    async with live_server.client() as http:
        response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


async def test_jwks_publishes_the_generated_signing_key(live_server_factory: Callable[..., LiveServer]) -> None:
    server = live_server_factory(keys={"algorithm": "RS256"})
    async with server.client() as http:
        response = await http.get("/jwks")
    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert key["alg"] == "RS256"
    assert "d" not in key
