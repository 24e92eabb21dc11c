"""Retention: delete old audit rows without making the chain unverifiable.

A purge deletes a *prefix* of each stream (rows up to the last one that, like every row before it, occurred before
the cut-off) and records an anchor: the last deleted row's seq and hash, which the first remaining row's
``prev_hash`` must equal. Verification then starts from the anchor instead of the genesis hash. Because
``occurred_at`` is only roughly ordered along ``seq`` (replicas' clocks, group commits), a late-stamped row can hold
back the cut; the next purge catches up.

The rows about to be deleted are verified first: a purge must never destroy the evidence of tampering, so a broken
chain stops it (:class:`~drawbridge.audit.verify.ChainBroken`). It works in chunks, each in its own short
transaction with its own anchor, so appends (which need the same head lock) are never held up for long.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from drawbridge.audit.transactions import lock_head, snapshot, unavailable_on_failure, write_transaction
from drawbridge.audit.verify import ChainBreak, ChainBroken, newest_anchor, walk
from drawbridge.storage.tables import audit_anchors, audit_events, audit_heads

DEFAULT_CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a purge cut a stream: rows up to ``seq`` are gone; ``hash`` was the hash of row ``seq``."""

    stream: str
    seq: int
    hash: str
    purged_at: float
    older_than: float
    purged_rows: int


async def purge(engine: AsyncEngine, *, older_than: float, now: float, chunk: int = DEFAULT_CHUNK) -> list[Anchor]:
    """Delete every stream's rows that occurred before ``older_than``, anchoring the chain; return the anchors made.

    Raises:
        ChainBroken: a row about to be deleted does not verify; nothing of that stream from there on was deleted.
        AuditUnavailable: the database could not be read or written.
    """
    with unavailable_on_failure("purge"):
        async with engine.connect() as conn:
            streams = sorted(str(name) for name in (await conn.execute(select(audit_heads.c.stream))).scalars())
        return [anchor for stream in streams for anchor in await _purge_stream(engine, stream, older_than, now, chunk)]


async def _purge_stream(engine: AsyncEngine, stream: str, older_than: float, now: float, chunk: int) -> list[Anchor]:
    anchors: list[Anchor] = []
    while True:
        async with snapshot(engine) as conn:
            after = await newest_anchor(conn, stream)
            cut = await _cut(conn, stream, after[0], older_than=older_than, chunk=chunk)
            if cut <= after[0]:
                return anchors
            checked = await walk(conn, stream, after=after, until=cut)
        if checked.broken is not None:
            raise ChainBroken(checked.broken)
        if checked.last_seq != cut:
            missing = checked.last_seq + 1
            raise ChainBroken(ChainBreak(stream, missing, "seq_gap", f"row {missing} is missing (deleted)"))
        made = Anchor(stream, cut, checked.last_hash, now, older_than, purged_rows=0)
        deleted = await _delete_and_anchor(engine, made, after=after)
        if deleted is not None:  # None: a concurrent purge moved the anchor first; look again
            anchors.append(replace(made, purged_rows=deleted))


async def _delete_and_anchor(engine: AsyncEngine, anchor: Anchor, *, after: tuple[int, str]) -> int | None:
    stream = anchor.stream
    async with write_transaction(engine) as conn:
        await lock_head(conn, stream)
        if await newest_anchor(conn, stream) != after:
            return None
        deleted = await conn.execute(
            delete(audit_events).where(
                audit_events.c.stream == stream, audit_events.c.seq > after[0], audit_events.c.seq <= anchor.seq
            )
        )
        await conn.execute(
            insert(audit_anchors).values(
                stream=stream,
                seq=anchor.seq,
                hash=anchor.hash,
                purged_at=anchor.purged_at,
                older_than=anchor.older_than,
                purged_rows=deleted.rowcount,
            )
        )
        return int(deleted.rowcount)


async def _cut(conn: AsyncConnection, stream: str, after: int, *, older_than: float, chunk: int) -> int:
    """The last seq of this chunk that can go: every row up to it occurred before ``older_than``."""
    in_chunk = (audit_events.c.stream == stream, audit_events.c.seq > after, audit_events.c.seq <= after + chunk)
    first_kept = (
        await conn.execute(
            select(audit_events.c.seq)
            .where(*in_chunk, audit_events.c.occurred_at >= older_than)
            .order_by(audit_events.c.seq)
            .limit(1)
        )
    ).scalar()
    if first_kept is not None:
        return int(first_kept) - 1
    last = (await conn.execute(select(func.max(audit_events.c.seq)).where(*in_chunk))).scalar()
    return after if last is None else int(last)
