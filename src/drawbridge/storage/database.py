"""Engine construction and health checks for the SQL backends (SQLite via aiosqlite, PostgreSQL via asyncpg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from drawbridge.errors import ConfigError


def create_engine(url: str, *, schema: str | None = None) -> AsyncEngine:
    """Create an async engine for ``url``; for SQLite, create the file's directory and enforce foreign keys.

    Raises:
        ConfigError: the URL names a backend Drawbridge does not support.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    elif backend == "postgresql":
        if schema is not None:
            connect_args["server_settings"] = {"search_path": schema}
    else:
        raise ConfigError(f"unsupported database backend {backend!r}: use sqlite+aiosqlite or postgresql+asyncpg")
    # SQLite: every aiosqlite connection is a thread; with the default pool (5 + 10 overflow) a burst opens and closes
    # overflow connections, and their threads, per request. Keeping more connections open avoids that churn.
    pool = {"pool_size": 20, "max_overflow": 10} if backend == "sqlite" else {}
    engine = create_async_engine(parsed, connect_args=connect_args, pool_pre_ping=backend == "postgresql", **pool)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def sqlite_sync_engine(engine: AsyncEngine) -> Engine | None:
    """A synchronous twin of a SQLite engine (same file and pragmas), or None for other backends.

    For work that makes several statements in one transaction on the hot path (audit appends): through aiosqlite
    each statement is a hop to the driver's thread and back; on a sync connection run in one worker thread the
    whole transaction is a single hop.
    """
    if engine.url.get_backend_name() != "sqlite":
        return None
    sync = create_sync_engine(
        engine.url.set(drivername="sqlite"), connect_args={"check_same_thread": False}, pool_size=1, max_overflow=4
    )
    event.listen(sync, "connect", _sqlite_pragmas)
    return sync


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers don't block the single writer
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


async def ping(engine: AsyncEngine) -> bool:
    """True when the database answers a trivial query."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        return False
    return True
