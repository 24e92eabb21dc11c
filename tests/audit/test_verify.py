"""Tampering with stored audit rows directly in the database is detected and located by verify."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.audit import AuditStore
from drawbridge.audit.chain import row_hash
from drawbridge.storage.tables import audit_events, audit_heads
from drawbridge.testing import FrozenClock
from tests.audit.factory import delete_row, edit_row, tool_call


@pytest.fixture
async def five(store: AuditStore, clock: FrozenClock) -> AuditStore:
    """A store with rows 1-5 in stream "main" and an untouched stream "other"."""
    for n in range(1, 6):
        await store.append([tool_call(clock, n)])
        clock.advance(1)
    await store.append([tool_call(clock, 9)], stream="other")
    return store


async def test_an_intact_chain_verifies(five: AuditStore) -> None:
    verification = await five.verify()

    assert verification.ok
    assert verification.breaks == ()
    main = next(s for s in verification.streams if s.stream == "main")
    assert (main.checked, main.anchor_seq, main.head_seq) == (5, 0, 5)


@pytest.mark.parametrize(
    "values",
    [
        {"arguments": {"order_id": "2026-999999"}},
        {"decision": "allow", "outcome": "denied"},
        {"occurred_at": 1_800_000_002.000001},
        {"user_id": None},
        {"detail": {"note": "added later"}},
    ],
)
async def test_editing_any_column_of_a_row_is_reported_at_that_row(
    five: AuditStore, engine: AsyncEngine, values: dict[str, Any]
) -> None:
    await edit_row(engine, 3, **values)

    (broken,) = (await five.verify()).breaks
    assert (broken.stream, broken.seq, broken.problem) == ("main", 3, "hash_mismatch")


async def test_rewriting_a_row_with_a_recomputed_hash_breaks_the_next_link(
    five: AuditStore, engine: AsyncEngine
) -> None:
    (row,) = [r for r in await five.tail(10, stream="main") if r.seq == 3]
    forged = {**row.as_dict(), "reason": "nothing to see"}
    await edit_row(engine, 3, reason="nothing to see", hash=row_hash(forged))

    (broken,) = (await five.verify()).breaks
    assert (broken.seq, broken.problem) == (4, "link_mismatch")


@pytest.mark.parametrize(("seq", "problem"), [(1, "seq_gap"), (3, "seq_gap"), (5, "tail_missing")])
async def test_deleting_a_row_is_reported_at_the_missing_seq(
    five: AuditStore, engine: AsyncEngine, seq: int, problem: str
) -> None:
    await delete_row(engine, seq)

    verification = await five.verify()
    (broken,) = verification.breaks
    assert (broken.stream, broken.seq, broken.problem) == ("main", seq, problem)
    assert [s.stream for s in verification.streams if s.broken is None] == ["other"]


async def test_deleting_several_newest_rows_is_reported_from_the_first_missing(
    five: AuditStore, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(audit_events).where(audit_events.c.stream == "main", audit_events.c.seq >= 4))

    (broken,) = (await five.verify("main")).breaks
    assert (broken.seq, broken.problem) == (4, "tail_missing")


async def test_a_head_that_does_not_match_the_last_row_is_reported(five: AuditStore, engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(audit_heads).where(audit_heads.c.stream == "main").values(hash="f" * 64))

    (broken,) = (await five.verify()).breaks
    assert (broken.seq, broken.problem) == (5, "head_mismatch")


async def test_a_deleted_head_is_reported(five: AuditStore, engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(audit_heads).where(audit_heads.c.stream == "main"))

    (broken,) = (await five.verify()).breaks
    assert (broken.stream, broken.problem) == ("main", "head_missing")


async def test_verify_can_check_one_stream(five: AuditStore, engine: AsyncEngine) -> None:
    await delete_row(engine, 2)

    assert (await five.verify("other")).ok
    assert not (await five.verify("main")).ok
