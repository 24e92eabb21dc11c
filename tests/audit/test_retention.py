"""Purging old audit rows keeps the chain verifiable, and never purges evidence of tampering."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.audit import AuditQuery, AuditStore, ChainBroken
from drawbridge.audit.retention import purge
from drawbridge.storage.tables import audit_anchors
from drawbridge.testing import FrozenClock
from tests.audit.factory import delete_row, edit_row, tool_call

DAY = 86400.0


async def _days_of_events(store: AuditStore, clock: FrozenClock, days: int) -> None:
    for n in range(days):
        await store.append([tool_call(clock, n)])
        clock.advance(DAY)


async def _seqs(store: AuditStore) -> list[int]:
    return sorted(r.seq for r in await store.search(AuditQuery(limit=None)))


async def test_purge_deletes_old_rows_and_the_rest_still_verifies(store: AuditStore, clock: FrozenClock) -> None:
    await _days_of_events(store, clock, 5)  # occurred at day 0..4; now is day 5

    (anchor,) = await store.purge(older_than=clock.now() - 2.5 * DAY)

    assert (anchor.stream, anchor.seq, anchor.purged_rows, anchor.purged_at) == ("main", 3, 3, clock.now())
    assert await _seqs(store) == [4, 5]
    verification = await store.verify()
    assert verification.ok
    assert verification.streams[0].anchor_seq == 3


async def test_appends_after_a_purge_chain_on(store: AuditStore, clock: FrozenClock) -> None:
    await _days_of_events(store, clock, 3)
    await store.purge(older_than=clock.now())  # every row

    assert await _seqs(store) == []
    assert (await store.verify()).ok
    (record,) = await store.append([tool_call(clock, 9)])
    assert record.seq == 4
    assert (await store.verify()).ok


async def test_purge_without_a_date_keeps_retention_days(store: AuditStore, clock: FrozenClock) -> None:
    await _days_of_events(store, clock, 40)  # the store keeps 30 days

    await store.purge()

    remaining = await store.search(AuditQuery(limit=None))
    assert min(r.event.occurred_at for r in remaining) >= clock.now() - 30 * DAY
    assert len(remaining) == 30
    assert (await store.verify()).ok


async def test_a_late_stamped_row_holds_the_cut_back(store: AuditStore, clock: FrozenClock) -> None:
    # Seq order is commit order; a row stamped later than the one after it keeps that one until the next purge.
    start = clock.now()
    await store.append([tool_call(clock, 1, occurred_at=start), tool_call(clock, 2, occurred_at=start + 10)])
    await store.append([tool_call(clock, 3, occurred_at=start + 1), tool_call(clock, 4, occurred_at=start + 20)])

    await store.purge(older_than=start + 5)

    assert await _seqs(store) == [2, 3, 4]
    assert (await store.verify()).ok


async def test_a_large_purge_goes_in_chunks_each_anchored(
    engine: AsyncEngine, store: AuditStore, clock: FrozenClock
) -> None:
    await _days_of_events(store, clock, 7)

    anchors = await purge(engine, older_than=clock.now(), now=clock.now(), chunk=3)

    assert [(a.seq, a.purged_rows) for a in anchors] == [(3, 3), (6, 3), (7, 1)]
    assert (await store.verify()).ok


async def test_purge_refuses_to_delete_an_edited_row(
    store: AuditStore, engine: AsyncEngine, clock: FrozenClock
) -> None:
    await _days_of_events(store, clock, 5)
    await edit_row(engine, 2, reason="covered up")

    with pytest.raises(ChainBroken) as raised:
        await store.purge(older_than=clock.now())

    assert (raised.value.broken.seq, raised.value.broken.problem) == (2, "hash_mismatch")
    assert await _seqs(store) == [1, 2, 3, 4, 5]


async def test_purge_refuses_when_a_row_to_delete_is_missing(
    store: AuditStore, engine: AsyncEngine, clock: FrozenClock
) -> None:
    await _days_of_events(store, clock, 5)
    await delete_row(engine, 3)

    with pytest.raises(ChainBroken) as raised:
        await store.purge(older_than=clock.now() - 1.5 * DAY)  # rows 1-3 are due

    assert (raised.value.broken.seq, raised.value.broken.problem) == (3, "seq_gap")


async def test_tampering_after_a_purge_is_still_detected(
    store: AuditStore, engine: AsyncEngine, clock: FrozenClock
) -> None:
    await _days_of_events(store, clock, 5)
    await store.purge(older_than=clock.now() - 2.5 * DAY)
    await delete_row(engine, 4)  # the first row after the anchor

    (broken,) = (await store.verify()).breaks
    assert (broken.seq, broken.problem) == (4, "seq_gap")


async def test_an_edited_anchor_breaks_the_link_to_the_first_remaining_row(
    store: AuditStore, engine: AsyncEngine, clock: FrozenClock
) -> None:
    await _days_of_events(store, clock, 5)
    await store.purge(older_than=clock.now() - 2.5 * DAY)
    async with engine.begin() as conn:
        await conn.execute(update(audit_anchors).values(hash="e" * 64))
        assert (await conn.execute(select(audit_anchors.c.seq))).scalars().all() == [3]

    (broken,) = (await store.verify()).breaks
    assert (broken.seq, broken.problem) == (4, "link_mismatch")


async def test_nothing_to_purge_makes_no_anchor(store: AuditStore, clock: FrozenClock) -> None:
    await _days_of_events(store, clock, 2)

    assert await store.purge(older_than=clock.now() - 10 * DAY) == []
    assert await store.purge(older_than=clock.now()) != []
    assert await store.purge(older_than=clock.now()) == []
