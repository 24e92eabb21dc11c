"""The audit writer: group commit, one unbroken chain under concurrency, and failing closed."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from structlog.testing import capture_logs

from drawbridge.audit import AuditQuery, AuditRecord, AuditStore, AuditUnavailable, AuditWriter, JsonlSink
from drawbridge.settings import Settings
from drawbridge.storage.database import create_engine
from drawbridge.storage.tables import audit_heads
from drawbridge.testing import FrozenClock
from tests.audit.factory import tool_call


class BatchRecorder:
    """A record sink that remembers each batch it was given (the seam for extra copies)."""

    def __init__(self) -> None:
        self.batches: list[list[AuditRecord]] = []

    async def write(self, records: Sequence[AuditRecord]) -> None:
        self.batches.append(list(records))


@pytest.fixture
async def writer(store: AuditStore) -> AsyncIterator[AuditWriter]:
    writer = AuditWriter(store, max_batch=50)
    await writer.start()
    yield writer
    await writer.stop()


async def _seqs(store: AuditStore) -> list[int]:
    return sorted(r.seq for r in await store.search(AuditQuery(limit=None)))


async def test_concurrent_records_form_one_unbroken_chain_in_few_transactions(
    store: AuditStore, clock: FrozenClock
) -> None:
    batches = BatchRecorder()
    writer = AuditWriter(store, max_batch=50, sinks=[batches])
    await writer.start()
    try:
        async with asyncio.timeout(30):
            await asyncio.gather(*(writer.record(tool_call(clock, n)) for n in range(200)))
    finally:
        await writer.stop()

    assert await _seqs(store) == list(range(1, 201))
    assert (await store.verify()).ok
    sizes = [len(batch) for batch in batches.batches]
    assert sum(sizes) == 200
    assert max(sizes) <= 50
    assert len(sizes) < 200  # callers waiting together were committed together


async def test_writers_on_separate_connections_share_one_stream_without_forking_it(
    store: AuditStore, settings: Settings, clock: FrozenClock
) -> None:
    # Two engines stand for two processes: only the database's locking keeps their appends in one line.
    other_engine = create_engine(settings.database_url, schema=settings.storage.schema_name)
    writers = [AuditWriter(store, max_batch=7), AuditWriter(AuditStore(other_engine, clock=clock), max_batch=5)]
    try:
        for writer in writers:
            await writer.start()
        async with asyncio.timeout(30):
            await asyncio.gather(*(writers[n % 2].record(tool_call(clock, n)) for n in range(100)))
    finally:
        for writer in writers:
            await writer.stop()
        await other_engine.dispose()

    assert await _seqs(store) == list(range(1, 101))
    assert (await store.verify()).ok


async def test_record_raises_unavailable_when_the_table_is_gone(
    writer: AuditWriter, engine: AsyncEngine, clock: FrozenClock
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE audit_events"))

    with pytest.raises(AuditUnavailable):
        await writer.record(tool_call(clock))


async def test_record_raises_unavailable_when_the_database_is_unreachable(clock: FrozenClock) -> None:
    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:9/none")  # nothing listens on port 9
    writer = AuditWriter(AuditStore(engine, clock=clock))
    await writer.start()
    try:
        with pytest.raises(AuditUnavailable):
            await writer.record(tool_call(clock))
    finally:
        await writer.stop()
        await engine.dispose()


async def _freeze_heads(conn: AsyncConnection) -> None:
    if conn.dialect.name == "sqlite":
        await conn.execute(
            text("CREATE TRIGGER frozen BEFORE UPDATE ON audit_heads BEGIN SELECT RAISE(ABORT, 'frozen'); END")
        )
        return
    await conn.execute(
        text("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'frozen'; END $$")
    )
    await conn.execute(
        text("CREATE TRIGGER frozen BEFORE UPDATE ON audit_heads FOR EACH ROW EXECUTE FUNCTION refuse()")
    )


async def test_a_failed_batch_writes_nothing_and_every_caller_is_refused(
    writer: AuditWriter, store: AuditStore, engine: AsyncEngine, clock: FrozenClock
) -> None:
    await writer.record(tool_call(clock, 1))
    async with engine.begin() as conn:
        await _freeze_heads(conn)  # the head update, the batch's last statement, fails

    results = await asyncio.gather(*(writer.record(tool_call(clock, n)) for n in range(2, 12)), return_exceptions=True)

    assert all(isinstance(result, AuditUnavailable) for result in results)
    assert await _seqs(store) == [1]
    async with engine.begin() as conn:
        await conn.execute(text("DROP TRIGGER frozen" + ("" if conn.dialect.name == "sqlite" else " ON audit_heads")))
    await writer.record(tool_call(clock, 12))
    assert await _seqs(store) == [1, 2]
    assert (await store.verify()).ok


async def _hold_head_lock(conn: AsyncConnection) -> None:
    if conn.dialect.name == "sqlite":
        await conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        await conn.execute(select(audit_heads).with_for_update())


async def test_a_write_that_waits_too_long_is_refused(
    store: AuditStore, engine: AsyncEngine, clock: FrozenClock
) -> None:
    """On SQLite the driver's thread goes on waiting out busy_timeout; the caller is refused on time regardless."""
    writer = AuditWriter(store, write_timeout=0.2)
    await writer.start()
    try:
        await writer.record(tool_call(clock, 1))
        async with engine.connect() as holder, holder.begin():
            await _hold_head_lock(holder)
            with pytest.raises(AuditUnavailable):
                await writer.record(tool_call(clock, 2))
        await writer.record(tool_call(clock, 3))
    finally:
        await writer.stop()

    assert (await store.verify()).ok


async def test_stop_commits_everything_already_accepted_then_refuses_until_restarted(
    store: AuditStore, clock: FrozenClock
) -> None:
    writer = AuditWriter(store, max_batch=3)
    await writer.start()
    pending = [asyncio.create_task(writer.record(tool_call(clock, n))) for n in range(10)]
    await asyncio.sleep(0)  # let them queue

    await writer.stop()

    await asyncio.gather(*pending)
    assert await _seqs(store) == list(range(1, 11))
    with pytest.raises(AuditUnavailable):
        await writer.record(tool_call(clock))
    await writer.start()  # as a restarted lifespan does
    await writer.record(tool_call(clock, 11))
    await writer.stop()
    assert await _seqs(store) == list(range(1, 12))


async def test_a_writer_that_was_never_started_refuses(store: AuditStore, clock: FrozenClock) -> None:
    with pytest.raises(AuditUnavailable):
        await AuditWriter(store).record(tool_call(clock))


async def test_fail_open_logs_loudly_and_lets_the_caller_go_on(
    store: AuditStore, engine: AsyncEngine, clock: FrozenClock
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE audit_events"))
    writer = AuditWriter(store, fail_closed=False)

    with capture_logs() as logs:
        await writer.start()
        await writer.record(tool_call(clock))
        await writer.stop()

    events = [entry["event"] for entry in logs]
    assert events[0] == "audit_fail_open"
    assert "audit_event_dropped" in events


async def test_jsonl_sink_gets_every_committed_record_in_an_owner_only_file(
    store: AuditStore, tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "audit" / "events.jsonl"
    writer = AuditWriter(store, sinks=[JsonlSink(path)])
    await writer.start()
    try:
        await asyncio.gather(*(writer.record(tool_call(clock, n)) for n in range(5)))
        await writer.record(tool_call(clock, 5))
    finally:
        await writer.stop()

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [record.as_dict() for record in await store.search(AuditQuery(limit=None))]
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_a_failing_file_sink_does_not_fail_the_committed_record(
    store: AuditStore, tmp_path: Path, clock: FrozenClock
) -> None:
    writer = AuditWriter(store, sinks=[JsonlSink(tmp_path)])  # a directory: cannot be opened for writing
    await writer.start()
    with capture_logs() as logs:
        await writer.record(tool_call(clock))
        await writer.stop()

    assert await _seqs(store) == [1]
    assert [entry["event"] for entry in logs] == ["audit_sink_failed"]
