"""Verification of the audit chains: recompute every hash and follow every link, report the first broken one.

A stream is walked from its newest retention anchor (or the genesis hash) to its head, inside one snapshot, so
appends and purges running at the same time are never mistaken for tampering. What each problem means:

* ``seq_gap``: a row is missing (deleted); ``seq`` is the first missing one.
* ``hash_mismatch``: the row's columns do not hash to its stored hash (edited).
* ``link_mismatch``: the row's ``prev_hash`` is not the previous row's hash (one of the two was rewritten with a
  recomputed hash, or the anchor was edited).
* ``tail_missing``: the head says the stream goes further than its rows do (newest rows deleted); ``seq`` is the
  first missing one.
* ``head_mismatch`` / ``head_missing``: the head does not match the last row, or there is none.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from sqlalchemy import select, union
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from drawbridge.audit.chain import GENESIS_HASH, row_hash
from drawbridge.audit.errors import AuditError
from drawbridge.audit.transactions import snapshot, unavailable_on_failure
from drawbridge.storage.tables import audit_anchors, audit_events, audit_heads

Problem = Literal["seq_gap", "hash_mismatch", "link_mismatch", "tail_missing", "head_mismatch", "head_missing"]

_PAGE = 1000


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first broken link of a stream: where, and what is wrong (``problem`` is the code to act on)."""

    stream: str
    seq: int
    problem: Problem
    detail: str


@dataclass(frozen=True, slots=True)
class StreamVerification:
    """One stream's result: rows checked from ``anchor_seq`` (0 without a purge) to the head."""

    stream: str
    checked: int
    anchor_seq: int
    head_seq: int | None
    head_hash: str | None
    broken: ChainBreak | None = None


@dataclass(frozen=True, slots=True)
class Verification:
    """The result of verifying some streams."""

    streams: tuple[StreamVerification, ...]

    @property
    def ok(self) -> bool:
        """True when no stream is broken."""
        return all(stream.broken is None for stream in self.streams)

    @property
    def breaks(self) -> tuple[ChainBreak, ...]:
        """The first break of each broken stream."""
        return tuple(stream.broken for stream in self.streams if stream.broken is not None)


@dataclass(frozen=True, slots=True)
class Walk:
    """How far a walk got: rows checked, the last good row, and the break that stopped it (if any)."""

    checked: int
    last_seq: int
    last_hash: str
    broken: ChainBreak | None


async def verify(engine: AsyncEngine, stream: str | None = None) -> Verification:
    """Verify one stream, or every stream that has rows, a head or an anchor.

    Raises:
        AuditUnavailable: the database could not be read.
    """
    with unavailable_on_failure("verify"):
        async with snapshot(engine) as conn:
            names = [stream] if stream is not None else await _streams(conn)
            return Verification(tuple([await _verify_stream(conn, name) for name in names]))


async def walk(conn: AsyncConnection, stream: str, *, after: tuple[int, str], until: int | None = None) -> Walk:
    """Check the rows of ``stream`` after ``after = (seq, hash)`` up to ``until`` (inclusive; None: to the end)."""
    checked, (last_seq, last_hash) = 0, after
    while True:
        query = select(audit_events).where(audit_events.c.stream == stream, audit_events.c.seq > last_seq)
        if until is not None:
            query = query.where(audit_events.c.seq <= until)
        rows = (await conn.execute(query.order_by(audit_events.c.seq).limit(_PAGE))).mappings().all()
        for row in rows:
            broken = _check_row(stream, dict(row), last_seq, last_hash)
            if broken is not None:
                return Walk(checked, last_seq, last_hash, broken)
            checked, last_seq, last_hash = checked + 1, int(row["seq"]), str(row["hash"])
        if len(rows) < _PAGE:
            return Walk(checked, last_seq, last_hash, None)


def _check_row(stream: str, row: dict[str, Any], prev_seq: int, prev_hash: str) -> ChainBreak | None:
    """The break at ``row``, which should follow the row ``(prev_seq, prev_hash)``; None when it links up."""
    seq = int(row["seq"])
    if seq != prev_seq + 1:
        missing = f"{prev_seq + 1}" if seq == prev_seq + 2 else f"{prev_seq + 1}..{seq - 1}"
        return ChainBreak(stream, prev_seq + 1, "seq_gap", f"rows {missing} are missing (deleted)")
    if row_hash(row) != row["hash"]:
        return ChainBreak(stream, seq, "hash_mismatch", "the row's columns do not match its hash (edited)")
    if row["prev_hash"] != prev_hash:
        return ChainBreak(
            stream, seq, "link_mismatch", f"prev_hash is not the hash of row {prev_seq} (one of them was rewritten)"
        )
    return None


async def _streams(conn: AsyncConnection) -> list[str]:
    names = union(select(audit_heads.c.stream), select(audit_events.c.stream), select(audit_anchors.c.stream))
    return sorted(str(name) for name in (await conn.execute(names)).scalars())


async def newest_anchor(conn: AsyncConnection, stream: str) -> tuple[int, str]:
    """The ``(seq, hash)`` a stream's remaining rows chain from: its newest anchor, or ``(0, GENESIS_HASH)``."""
    query = (
        select(audit_anchors.c.seq, audit_anchors.c.hash)
        .where(audit_anchors.c.stream == stream)
        .order_by(audit_anchors.c.seq.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    return (int(row.seq), str(row.hash)) if row else (0, GENESIS_HASH)


async def _verify_stream(conn: AsyncConnection, stream: str) -> StreamVerification:
    anchor = await newest_anchor(conn, stream)
    head = (await conn.execute(select(audit_heads).where(audit_heads.c.stream == stream))).first()
    done = await walk(conn, stream, after=anchor)
    result = StreamVerification(
        stream,
        done.checked,
        anchor_seq=anchor[0],
        head_seq=None if head is None else int(head.seq),
        head_hash=None if head is None else str(head.hash),
        broken=done.broken,
    )
    if done.broken is None:
        return _with_head_checked(result, done)
    return result


def _with_head_checked(result: StreamVerification, done: Walk) -> StreamVerification:
    stream = result.stream
    if result.head_seq is None:
        broken = ChainBreak(stream, done.last_seq, "head_missing", "the stream has no head row")
    elif done.last_seq < result.head_seq:
        broken = ChainBreak(
            stream, done.last_seq + 1, "tail_missing", f"rows after {done.last_seq} up to {result.head_seq} are missing"
        )
    elif done.last_seq > result.head_seq or done.last_hash != result.head_hash:
        broken = ChainBreak(stream, result.head_seq, "head_mismatch", "the head does not match the last row")
    else:
        return result
    return replace(result, broken=broken)


class ChainBroken(AuditError):
    """An operation refused to go on because a chain is broken (purging would destroy the evidence)."""

    def __init__(self, broken: ChainBreak) -> None:
        super().__init__(f"audit chain {broken.stream!r} is broken at seq {broken.seq}: {broken.problem}")
        self.broken = broken
