"""The audit store: appends events to a hash-chained, append-only table and reads them back.

Nothing here updates or deletes an event row; only :mod:`drawbridge.audit.retention` deletes, and only a verified
prefix, leaving an anchor. Appends are serialised per stream by locking the stream's head
(:mod:`drawbridge.audit.transactions`), so several processes can share one stream on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Update, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.audit.chain import link, stored_fields
from drawbridge.audit.events import AuditEvent
from drawbridge.audit.retention import Anchor, purge
from drawbridge.audit.transactions import lock_head, lock_head_sync, unavailable_on_failure, write_transaction
from drawbridge.audit.verify import Verification, verify
from drawbridge.clock import Clock
from drawbridge.storage.database import sqlite_sync_engine
from drawbridge.storage.tables import audit_events, audit_heads

DEFAULT_STREAM = "main"
_EVENT_FIELDS = tuple(field.name for field in dataclasses.fields(AuditEvent))
_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A stored event: its place in its stream's chain and the event as stored (normalised, clipped)."""

    stream: str
    seq: int
    event: AuditEvent
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        """Every stored column by name, JSON-able (the form of ``audit search --json`` and the JSON-lines sink)."""
        return {
            "stream": self.stream,
            "seq": self.seq,
            **{name: getattr(self.event, name) for name in _EVENT_FIELDS},
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which events to read: every given filter must match. ``since`` is inclusive, ``until`` exclusive.

    ``user`` matches the user id or, for users no longer (or never) in the directory, the recorded username.
    ``limit`` keeps the newest matches (None: all of them).
    """

    user: str | None = None
    client_id: str | None = None
    target: str | None = None
    kind: str | None = None
    stream: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int | None = 100


class AuditStore:
    """Appends, reads, verifies and purges the audit trail in the application's database.

    Args:
        engine: the application's engine (its schema migrated to at least revision 0005).
        clock: time source for purges.
        retention_days: how long events are kept when :meth:`purge` is given no cut-off.
    """

    def __init__(self, engine: AsyncEngine, *, clock: Clock, retention_days: int = 365) -> None:
        self._engine = engine
        self._sync_engine = sqlite_sync_engine(engine)
        self._clock = clock
        self._retention_days = retention_days

    async def append(self, events: Sequence[AuditEvent], *, stream: str = DEFAULT_STREAM) -> list[AuditRecord]:
        """Append events to ``stream`` in one transaction, in order; return them as stored once committed.

        Raises:
            AuditUnavailable: nothing was written.
        """
        if not events:
            return []
        if self._sync_engine is not None:
            return await asyncio.to_thread(self._append_sqlite, self._sync_engine, events, stream)
        with unavailable_on_failure("append"):
            async with write_transaction(self._engine) as conn:
                rows = _linked(events, stream, *await lock_head(conn, stream))
                await conn.execute(insert(audit_events), rows)
                await conn.execute(_move_head(stream, rows[-1]))
        return [_record(row) for row in rows]

    @staticmethod
    def _append_sqlite(engine: Engine, events: Sequence[AuditEvent], stream: str) -> list[AuditRecord]:
        """The same transaction on SQLite, in one worker thread: one hop instead of one per statement."""
        with unavailable_on_failure("append"), engine.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock first, so no other writer reads this head
            try:
                rows = _linked(events, stream, *lock_head_sync(conn, stream))
                conn.execute(insert(audit_events), rows)
                conn.execute(_move_head(stream, rows[-1]))
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        return [_record(row) for row in rows]

    def dispose(self) -> None:
        """Close the SQLite worker connections (the async engine is the application's to dispose)."""
        if self._sync_engine is not None:
            self._sync_engine.dispose()

    async def search(self, query: AuditQuery) -> list[AuditRecord]:
        """The events matching ``query``, oldest first.

        Raises:
            AuditUnavailable: the database could not be read.
        """
        table = audit_events
        conditions = [
            column == value
            for column, value in (
                (table.c.client_id, query.client_id),
                (table.c.target, query.target),
                (table.c.kind, query.kind),
                (table.c.stream, query.stream),
            )
            if value is not None
        ]
        if query.user is not None:
            conditions.append(or_(table.c.user_id == query.user, table.c.username == query.user))
        if query.since is not None:
            conditions.append(table.c.occurred_at >= query.since)
        if query.until is not None:
            conditions.append(table.c.occurred_at < query.until)
        statement = select(table).where(*conditions).order_by(table.c.occurred_at.desc(), table.c.seq.desc())
        if query.limit is not None:
            statement = statement.limit(query.limit)
        with unavailable_on_failure("search"):
            async with self._engine.connect() as conn:
                rows = (await conn.execute(statement)).mappings().all()
        return [_record(dict(row)) for row in reversed(rows)]

    async def tail(self, n: int = 20, *, stream: str | None = None) -> list[AuditRecord]:
        """The newest ``n`` events, oldest first."""
        return await self.search(AuditQuery(stream=stream, limit=n))

    async def verify(self, stream: str | None = None) -> Verification:
        """Verify one stream's chain, or every stream's (:func:`drawbridge.audit.verify.verify`)."""
        return await verify(self._engine, stream)

    async def purge(self, older_than: float | None = None) -> list[Anchor]:
        """Delete events that occurred before ``older_than`` (default: ``retention_days`` ago), keeping the chains
        verifiable (:func:`drawbridge.audit.retention.purge`); return the anchors made."""
        now = self._clock.now()
        cut_off = older_than if older_than is not None else now - self._retention_days * _DAY
        return await purge(self._engine, older_than=cut_off, now=now)


def _linked(events: Sequence[AuditEvent], stream: str, seq: int, prev_hash: str) -> list[dict[str, Any]]:
    """The rows for ``events`` appended after ``(seq, prev_hash)``, each hashed over its predecessor's hash."""
    rows = []
    for event in events:
        seq += 1
        rows.append(link(stored_fields(event), stream=stream, seq=seq, prev_hash=prev_hash))
        prev_hash = rows[-1]["hash"]
    return rows


def _move_head(stream: str, last: dict[str, Any]) -> Update:
    return update(audit_heads).where(audit_heads.c.stream == stream).values(seq=last["seq"], hash=last["hash"])


def _record(row: dict[str, Any]) -> AuditRecord:
    event = AuditEvent(**{name: row[name] for name in _EVENT_FIELDS})
    return AuditRecord(
        stream=str(row["stream"]),
        seq=int(row["seq"]),
        event=event,
        prev_hash=str(row["prev_hash"]),
        hash=str(row["hash"]),
    )
