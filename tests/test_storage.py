"""The storage layer on each backend: migrations run both ways, health checks tell the truth."""

import pytest
from sqlalchemy import bindparam, insert, inspect, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.errors import ConfigError
from drawbridge.settings import Settings
from drawbridge.storage import migrate
from drawbridge.storage.database import Reader, create_engine, ping
from drawbridge.storage.tables import metadata, users


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


async def test_reader_sees_what_the_engine_just_committed_and_reads_nothing_for_no_match(
    engine: AsyncEngine, reader: Reader
) -> None:
    by_name = select(users.c.username, users.c.roles).where(users.c.username == bindparam("name"))
    assert await reader.first(by_name, {"name": "reader-test"}) is None

    async with engine.begin() as conn:  # written through the async engine, read through the reader
        await conn.execute(insert(users), [_user("reader-test"), _user("reader-test-2")])

    row = await reader.first(by_name, {"name": "reader-test"})
    assert row is not None
    assert row.username == "reader-test"
    rows = await reader.all(select(users.c.username).where(users.c.username.like("reader-test%")).order_by("username"))
    assert [r.username for r in rows] == ["reader-test", "reader-test-2"]


async def test_reader_reads_on_the_calling_thread_only_for_sqlite_in_wal_mode(
    engine: AsyncEngine, reader: Reader
) -> None:
    assert reader.on_calling_thread() == (engine.url.get_backend_name() == "sqlite")


async def test_reader_falls_back_to_the_engine_when_sqlite_is_not_in_wal_mode() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")  # journal_mode=memory: a reader could wait for a writer
    reader = Reader(engine)
    try:
        assert not reader.on_calling_thread()
        assert (await reader.first(select(literal(7).label("n")))) == (7,)
    finally:
        reader.dispose()
        await engine.dispose()


async def test_a_disposed_reader_refuses_to_read(engine: AsyncEngine) -> None:
    reader = Reader(engine)
    assert await reader.first(select(literal(1))) == (1,)

    reader.dispose()

    with pytest.raises(RuntimeError, match="disposed"):
        await reader.first(select(literal(1)))


def _user(name: str) -> dict[str, object]:
    return {"id": name, "username": name, "password_hash": "x", "roles": [], "disabled": False, "created_at": 0.0}
