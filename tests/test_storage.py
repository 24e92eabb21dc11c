"""The storage layer on each backend: migrations run both ways, health checks tell the truth."""

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.errors import ConfigError
from drawbridge.settings import Settings
from drawbridge.storage import migrate
from drawbridge.storage.database import create_engine, ping
from drawbridge.storage.tables import metadata


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_migrations_create_every_table_and_downgrade_removes_them(settings: Settings) -> None:
    engine = create_engine(settings.database_url, schema=settings.storage.schema_name)
    try:
        await migrate.upgrade(engine)
        assert set(metadata.tables) <= await _tables(engine)
        await migrate.upgrade(engine)  # idempotent
        await migrate.downgrade(engine, "base")
        assert not set(metadata.tables) & await _tables(engine)
    finally:
        await engine.dispose()


async def test_ping_answers_for_a_live_database(engine: AsyncEngine) -> None:
    assert await ping(engine)


async def test_ping_is_false_when_nothing_listens() -> None:
    # Port 9 (discard) on loopback: nothing of ours listens there, and the connection is refused locally.
    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:9/none")
    try:
        assert not await ping(engine)
    finally:
        await engine.dispose()


def test_unsupported_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        create_engine("mysql+aiomysql://root@127.0.0.1/test")
