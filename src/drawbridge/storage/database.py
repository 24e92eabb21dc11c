"""Engine construction and health checks for the SQL backends (SQLite via aiosqlite, PostgreSQL via asyncpg)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Executable, NullPool, Row, event, text
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
    on_file = backend == "sqlite" and parsed.database not in (None, "", ":memory:")  # :memory: has one static pool
    pool = {"pool_size": 20, "max_overflow": 10} if on_file else {}
    engine = create_async_engine(parsed, connect_args=connect_args, pool_pre_ping=backend == "postgresql", **pool)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def sqlite_sync_engine(engine: AsyncEngine, **pool: Any) -> Engine | None:
    """A synchronous twin of a SQLite engine (same file and pragmas), or None for other backends.

    For work that makes several statements in one transaction on the hot path (audit appends): through aiosqlite
    each statement is a hop to the driver's thread and back; on a sync connection run in one worker thread the
    whole transaction is a single hop. ``pool`` replaces the default pool options (one connection, four overflow).
    """
    if engine.url.get_backend_name() != "sqlite":
        return None
    pool = pool or {"pool_size": 1, "max_overflow": 4}
    sync = create_sync_engine(engine.url.set(drivername="sqlite"), connect_args={"check_same_thread": False}, **pool)
    event.listen(sync, "connect", _sqlite_pragmas)
    return sync


READ_BUSY_MS = 100
"""How long a :class:`Reader` read on SQLite waits for a lock before failing (it blocks the event loop meanwhile)."""


class Reader:
    """Runs short read-only queries (primary-key and small indexed lookups) at the least cost per statement.

    On SQLite a statement through SQLAlchemy-asyncio is several hops to aiosqlite's thread and back: about 700 µs
    of CPU per primary-key read on this project's machines, most of it waking threads and fighting for the GIL.
    Here SQLite reads run on a synchronous twin of the engine, on the calling thread, over one autocommit
    connection per thread (no pool checkout, and every statement sees the latest commit): about 45 µs with a
    prebuilt statement (docs/decisions/0013). That blocks the event loop while the read runs, so only short reads
    belong here. It is safe only in WAL mode, where a reader never waits for the writer: a database that is not in
    WAL mode (``:memory:``, a filesystem without shared memory) is read through the async engine instead, and a
    read that still meets a lock (WAL recovery) gives up after :data:`READ_BUSY_MS` rather than stall the loop.
    Other backends (asyncpg) always use the async engine.

    Args:
        engine: the database to read; its owner disposes it, and this reader with :meth:`dispose`.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sync = sqlite_sync_engine(engine, poolclass=NullPool)  # connections are held per thread instead
        self._local = threading.local()
        self._held: list[Connection] = []
        self._lock = threading.Lock()
        self._disposed = False

    async def first(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Row[Any] | None:
        """The first row ``statement`` returns, or None."""
        conn = self._connection()
        if conn is not None:
            return conn.execute(statement, params).first()
        async with self._engine.connect() as aconn:
            return (await aconn.execute(statement, params)).first()

    async def all(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Sequence[Row[Any]]:
        """Every row ``statement`` returns."""
        conn = self._connection()
        if conn is not None:
            return conn.execute(statement, params).all()
        async with self._engine.connect() as aconn:
            return (await aconn.execute(statement, params)).all()

    def on_calling_thread(self) -> bool:
        """True while reads run synchronously on the calling thread (SQLite in WAL mode)."""
        self._connection()  # the first connection finds out the journal mode
        return self._sync is not None

    def dispose(self) -> None:
        """Close the synchronous connections (the async engine is its owner's to dispose); reads then fail."""
        with self._lock:
            self._disposed = True
            held, self._held = self._held, []
        for conn in held:
            conn.close()
        if self._sync is not None:
            self._sync.dispose()

    def _connection(self) -> Connection | None:
        """This thread's synchronous connection, or None when reads go through the async engine."""
        if self._disposed:
            raise RuntimeError("this Reader has been disposed")
        sync = self._sync
        if sync is None:
            return None
        conn: Connection | None = getattr(self._local, "connection", None)
        if conn is None or conn.closed:
            # Autocommit: no transaction stays open between reads, so none pins an old snapshot of the WAL.
            conn = sync.connect().execution_options(isolation_level="AUTOCOMMIT")
            if str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower() != "wal":
                conn.close()
                self._sync = None  # readers could wait for the writer: use the async engine from now on
                sync.dispose()
                return None
            conn.exec_driver_sql(f"PRAGMA busy_timeout={READ_BUSY_MS}")
            self._local.connection = conn
            with self._lock:
                self._held.append(conn)
        return conn


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
