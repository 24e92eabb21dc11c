"""Shared fixtures: settings on a temporary data dir, each storage backend, and a live server on loopback.

PostgreSQL runs when ``DRAWBRIDGE_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it); each test gets its own
schema, dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.app import Components, build_app
from drawbridge.settings import Settings, load_settings
from drawbridge.storage import migrate
from drawbridge.storage.database import Reader, create_engine
from drawbridge.testing import FrozenClock
from tests.live_server import bind_loopback, serve_in_thread

POSTGRES_URL = os.environ.get("DRAWBRIDGE_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", *(["postgres"] if POSTGRES_URL else [])]

SettingsFactory = Callable[..., Settings]


@pytest.fixture(params=BACKENDS)
def storage_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The ``storage`` settings section for one backend, on a fresh database or schema."""
    if request.param == "sqlite":
        yield {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"}
        return
    assert POSTGRES_URL is not None
    schema = f"t_{uuid.uuid4().hex[:16]}"
    _postgres_admin(f"CREATE SCHEMA {schema}")
    try:
        yield {"database_url": POSTGRES_URL, "schema_name": schema}
    finally:
        _postgres_admin(f"DROP SCHEMA {schema} CASCADE")


def _postgres_admin(statement: str) -> None:
    async def run() -> None:
        assert POSTGRES_URL is not None
        engine = create_engine(POSTGRES_URL)
        async with engine.begin() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(run())


@pytest.fixture
def make_settings(tmp_path: Path, storage_overrides: dict[str, Any]) -> SettingsFactory:
    """Settings on the test's data dir and backend, in dev mode, with nested overrides."""

    def factory(**sections: Any) -> Settings:
        overrides: dict[str, Any] = {
            "data_dir": str(tmp_path / "data"),
            "storage": dict(storage_overrides),
            # Freezing the heap costs a full collection per server start; one test turns it on (test_app.py).
            "server": {"dev": True, "freeze_startup_heap": False},
            "mcp": {"toolset": "tests.toolsets:basic"},
            # Cheaper, not weaker in kind: EC keys generate in ~1 ms where RSA takes ~100 ms, and argon2 at its
            # minimum cost. Tests of RS256 and of the production argon2 parameters set them explicitly.
            "keys": {"algorithm": "ES256"},
            # The test toolset needs orders:read and orders:refund; the other two are extra grantable scopes.
            "auth": {"scopes": ["orders:read", "customers:read", "orders:refund", "refunds:write"]},
            "identity": {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1},
        }
        for name, values in sections.items():
            if isinstance(values, dict):
                overrides.setdefault(name, {}).update(values)
            else:
                overrides[name] = values
        return load_settings(None, {}, overrides)

    return factory


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """A migrated engine on the test's backend."""
    engine = create_engine(settings.database_url, schema=settings.storage.schema_name)
    await migrate.upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def reader(engine: AsyncEngine) -> Iterator[Reader]:
    """Short reads on the test's database (on SQLite, through a synchronous twin of ``engine``)."""
    reader = Reader(engine)
    yield reader
    reader.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


class LiveServer:
    """A running Drawbridge: its base URL, settings and clock."""

    def __init__(self, base_url: str, settings: Settings, clock: FrozenClock, components: Components) -> None:
        self.base_url = base_url
        self.settings = settings
        self.clock = clock
        self.components = components

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=10, **kwargs)


@pytest.fixture
def live_server_factory(make_settings: SettingsFactory, clock: FrozenClock) -> Iterator[Callable[..., LiveServer]]:
    """Start real servers (uvicorn on 127.0.0.1, ephemeral port) with extra settings; stopped at teardown."""
    stack: list[Any] = []

    def start(**sections: Any) -> LiveServer:
        sock = bind_loopback()
        port = sock.getsockname()[1]
        server_section = {"host": "127.0.0.1", "port": port, "public_url": f"http://127.0.0.1:{port}"}
        server_section.update(sections.pop("server", {}))
        settings = make_settings(server=server_section, **sections)
        app = build_app(settings, clock=clock)
        context = serve_in_thread(app, sock)
        context.__enter__()
        stack.append(context)
        return LiveServer(settings.base_url, settings, clock, app.state.components)

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture
def live_server(live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    return live_server_factory()


@pytest.fixture
async def http(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the default live server (redirects are not followed)."""
    async with live_server.client() as client:
        yield client
