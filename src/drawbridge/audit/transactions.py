"""How audit writes are serialised per stream, and reads see one snapshot, on SQLite and on PostgreSQL alike.

A chain only stays a chain if two appends to one stream never both read the same head. On PostgreSQL several
processes (replicas, a CLI purge) write at once, so an append locks its stream's ``audit_heads`` row with
``SELECT … FOR UPDATE`` before reading it. SQLite ignores ``FOR UPDATE``, and its Python driver opens a *deferred*
transaction only at the first write, after the head has been read; so on SQLite the transaction starts with
``BEGIN IMMEDIATE``, which takes the database's single write lock up front (waiting up to ``busy_timeout``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from sqlalchemy import Connection, Executable, Select, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from drawbridge.audit.chain import GENESIS_HASH
from drawbridge.audit.errors import AuditUnavailable
from drawbridge.storage.tables import audit_heads


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that may lock stream heads: committed on exit, rolled back on error."""
    async with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


@asynccontextmanager
async def snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read-only transaction that sees one consistent state, however many queries it makes.

    Verification reads the anchor, every row and the head in separate queries; a purge or append landing between
    them must not look like tampering.
    """
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            if conn.dialect.name == "sqlite":
                await conn.exec_driver_sql("BEGIN")  # deferred: the snapshot is taken at the first read
            yield conn


async def lock_head(conn: AsyncConnection, stream: str) -> tuple[int, str]:
    """Lock ``stream``'s head for the rest of the transaction and return its ``(seq, hash)``.

    A stream's first append creates the head at ``(0, GENESIS_HASH)``; when two processes race to create it, the
    loser's insert does nothing and its ``SELECT … FOR UPDATE`` waits for the winner's commit.
    """
    row = (await conn.execute(_head(stream))).first()
    if row is None:
        await conn.execute(_create_head(conn.dialect.name, stream))
        row = (await conn.execute(_head(stream))).one()
    return int(row.seq), str(row.hash)


def lock_head_sync(conn: Connection, stream: str) -> tuple[int, str]:
    """:func:`lock_head` on a synchronous connection (SQLite appends, run in a worker thread)."""
    row = conn.execute(_head(stream)).first()
    if row is None:
        conn.execute(_create_head(conn.dialect.name, stream))
        row = conn.execute(_head(stream)).one()
    return int(row.seq), str(row.hash)


def _head(stream: str) -> Select[tuple[int, str]]:
    return select(audit_heads.c.seq, audit_heads.c.hash).where(audit_heads.c.stream == stream).with_for_update()


def _create_head(dialect_name: str, stream: str) -> Executable:
    values = {"stream": stream, "seq": 0, "hash": GENESIS_HASH}
    if dialect_name == "postgresql":
        return postgresql.insert(audit_heads).values(values).on_conflict_do_nothing(index_elements=["stream"])
    return sqlite.insert(audit_heads).values(values).on_conflict_do_nothing(index_elements=["stream"])


@contextmanager
def unavailable_on_failure(action: str) -> Iterator[None]:
    """Translate database and network failures into :class:`AuditUnavailable` (the boundary of the audit store)."""
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        raise AuditUnavailable(f"audit store unavailable: {action} failed ({type(exc).__name__})") from exc
