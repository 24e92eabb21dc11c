"""Appending to and reading from the audit store, on each backend."""

from __future__ import annotations

import math

from drawbridge.audit import GENESIS_HASH, AuditEvent, AuditQuery, AuditRecord, AuditStore, digest
from drawbridge.testing import FrozenClock
from tests.audit.factory import tool_call

EVERY_FIELD = AuditEvent(
    kind="mcp.tools_call",
    occurred_at=1_800_000_000.123456,
    user_id="3f2a9c",
    username="dana",
    client_id="https://client.example/meta.json",
    client_kind="cimd",
    session_id="a1b2c3",
    target="refund_order",
    arguments={"order_id": "2026-000123", "amount": 12.5, "lines": [1, 2], "note": None, "express": False},
    decision="deny",
    reason="policy0",
    outcome="denied",
    result_digest=digest(b"{}"),
    result_size=2,
    latency_ms=3.25,
    trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
    detail={"scopes": ["orders:read"], "jti": "j-1"},
)


async def test_every_field_reads_back_as_written(store: AuditStore) -> None:
    (appended,) = await store.append([EVERY_FIELD])

    (found,) = await store.search(AuditQuery())
    assert found == appended
    assert found.event == EVERY_FIELD
    assert (found.stream, found.seq, found.prev_hash) == ("main", 1, GENESIS_HASH)
    assert found.as_dict()["hash"] == found.hash
    assert (await store.verify()).ok


async def test_rows_chain_each_to_the_previous_one(store: AuditStore, clock: FrozenClock) -> None:
    first = await store.append([tool_call(clock, 1), tool_call(clock, 2)])
    second = await store.append([tool_call(clock, 3)])

    records = [*first, *second]
    assert [r.seq for r in records] == [1, 2, 3]
    assert [r.prev_hash for r in records] == [GENESIS_HASH, records[0].hash, records[1].hash]
    assert len({r.hash for r in records}) == 3


async def test_streams_are_separate_chains(store: AuditStore, clock: FrozenClock) -> None:
    await store.append([tool_call(clock, 1), tool_call(clock, 2)], stream="main")
    (other,) = await store.append([tool_call(clock, 3)], stream="replica-2")

    assert (other.seq, other.prev_hash) == (1, GENESIS_HASH)
    verification = await store.verify()
    assert verification.ok
    assert {s.stream: s.head_seq for s in verification.streams} == {"main": 2, "replica-2": 1}


async def test_values_a_database_cannot_hold_are_stored_in_a_form_that_still_verifies(
    store: AuditStore, clock: FrozenClock
) -> None:
    long_client = "https://client.example/" + "c" * 600
    event = tool_call(
        clock,
        client_id=long_client,
        reason="nul\x00and lone \ud800 surrogate",
        arguments={1: ("a", "nul\x00"), "ratio": math.nan, "at": clock},
        latency_ms=2,
    )

    (record,) = await store.append([event])

    stored = record.event
    assert stored.client_id is not None
    assert len(stored.client_id) <= 512
    assert stored.client_id.endswith("sha256:" + digest(long_client))
    assert stored.reason == "nul\ufffdand lone ? surrogate"
    assert stored.arguments == {"1": ["a", "nul\ufffd"], "ratio": "nan", "at": str(clock)}
    assert (await store.search(AuditQuery()))[0] == record
    assert (await store.verify()).ok


async def test_search_filters_combine(store: AuditStore, clock: FrozenClock) -> None:
    await store.append([tool_call(clock, 1)])
    clock.advance(60)
    await store.append(
        [
            tool_call(clock, 2, user_id="u-2", username="erin"),
            tool_call(clock, 3, target="refund_order"),
            tool_call(clock, 4, client_id="other-client", kind="mcp.resources_read"),
        ]
    )
    start = clock.now() - 60

    def orders(records: list[AuditRecord]) -> list[str]:
        return [r.event.arguments["order_id"][-1] for r in records]

    assert orders(await store.search(AuditQuery(user="u-2"))) == ["2"]
    assert orders(await store.search(AuditQuery(user="erin"))) == ["2"]
    assert orders(await store.search(AuditQuery(target="refund_order"))) == ["3"]
    assert orders(await store.search(AuditQuery(client_id="other-client"))) == ["4"]
    assert orders(await store.search(AuditQuery(kind="mcp.resources_read"))) == ["4"]
    assert orders(await store.search(AuditQuery(until=start + 1))) == ["1"]
    assert orders(await store.search(AuditQuery(since=start + 1, user="u-1"))) == ["3", "4"]
    assert orders(await store.search(AuditQuery(stream="elsewhere"))) == []


async def test_limit_and_tail_keep_the_newest_oldest_first(store: AuditStore, clock: FrozenClock) -> None:
    for n in range(5):
        await store.append([tool_call(clock, n)])
        clock.advance(1)

    assert [r.seq for r in await store.tail(2)] == [4, 5]
    assert [r.seq for r in await store.search(AuditQuery(limit=3))] == [3, 4, 5]
    assert [r.seq for r in await store.search(AuditQuery(limit=None))] == [1, 2, 3, 4, 5]


async def test_appending_nothing_writes_nothing(store: AuditStore) -> None:
    assert await store.append([]) == []
    assert (await store.verify()).streams == ()
