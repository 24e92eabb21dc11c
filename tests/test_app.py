"""The running server: health, readiness and the published JWKS, over real HTTP."""

import gc
import socket
from collections.abc import Callable

import httpx
from starlette.applications import Starlette

from drawbridge.app import build_app
from tests.conftest import LiveServer, SettingsFactory
from tests.live_server import bind_loopback, serve_in_thread


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


def test_a_started_server_freezes_its_start_up_heap_and_thaws_it_on_shutdown(make_settings: SettingsFactory) -> None:
    sock = bind_loopback()
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(server={"port": port, "public_url": url, "freeze_startup_heap": True})
    assert gc.get_freeze_count() == 0
    with serve_in_thread(build_app(settings), sock):
        frozen = gc.get_freeze_count()
        assert httpx.get(f"{url}/healthz").status_code == 200

    assert frozen > 10_000  # the start-up heap: modules, models, schemas
    assert gc.get_freeze_count() == 0  # given back to the collector


def test_the_heap_stays_frozen_until_the_last_freezing_server_stops(make_settings: SettingsFactory) -> None:
    first, second = _freezing_app(make_settings), _freezing_app(make_settings)
    with serve_in_thread(*first):
        with serve_in_thread(*second):
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() > 0  # the first server still runs: its heap stays frozen
    assert gc.get_freeze_count() == 0


def test_a_host_that_froze_its_own_heap_keeps_it_frozen(make_settings: SettingsFactory) -> None:
    gc.freeze()
    try:
        with serve_in_thread(*_freezing_app(make_settings)):
            pass
        assert gc.get_freeze_count() > 0  # not ours to thaw
    finally:
        gc.unfreeze()


def _freezing_app(make_settings: SettingsFactory) -> tuple[Starlette, socket.socket]:
    sock = bind_loopback()
    port = sock.getsockname()[1]
    settings = make_settings(
        server={"port": port, "public_url": f"http://127.0.0.1:{port}", "freeze_startup_heap": True}
    )
    return build_app(settings), sock


async def test_servers_under_test_leave_the_collector_alone(live_server: LiveServer) -> None:
    async with live_server.client() as http:
        assert (await http.get("/healthz")).status_code == 200
    assert not live_server.settings.server.freeze_startup_heap
    assert gc.get_freeze_count() == 0
