"""The audit writer: durable appends with group commit, so recording every request costs one commit per batch.

``await writer.record(event)`` returns only after the event's transaction has committed; that is what lets the
request path fail closed (an action whose record did not commit is refused). Committing each event on its own would
put a commit, and a head-lock round trip, on every request; instead one background task drains a queue and commits
whatever is waiting, up to ``max_batch`` events, in one transaction. Callers that arrive while a batch commits form
the next one, so under load batches grow and the commit cost per event falls; alone, an event commits at once.

If a batch fails, every caller in it gets :class:`~drawbridge.audit.errors.AuditUnavailable` and nothing of the
batch is written (one transaction). A batch that times out may still have committed: its callers are refused all
the same, which errs on the side of not acting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from drawbridge.audit.config import AuditSettings
from drawbridge.audit.errors import AuditUnavailable
from drawbridge.audit.events import AuditEvent
from drawbridge.audit.sinks import JsonlSink, RecordSink
from drawbridge.audit.store import DEFAULT_STREAM, AuditStore

log = structlog.get_logger(__name__)

_Pending = tuple[AuditEvent, "asyncio.Future[None]"]
_STOP = None


class AuditWriter:
    """Records events in ``store`` with group commit; an :class:`~drawbridge.audit.sinks.AuditSink`.

    Args:
        store: where events are committed.
        stream: the chain to append to.
        max_batch: the most events one transaction commits.
        write_timeout: seconds a batch may take before its callers are told the store is unavailable.
        fail_closed: when False, a failed write is logged and :meth:`record` returns as if it had succeeded.
        sinks: extra copies, written after each commit, in order (e.g. :class:`~drawbridge.audit.sinks.JsonlSink`).
    """

    def __init__(
        self,
        store: AuditStore,
        *,
        stream: str = DEFAULT_STREAM,
        max_batch: int = 100,
        write_timeout: float = 5.0,
        fail_closed: bool = True,
        sinks: Sequence[RecordSink] = (),
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._store = store
        self._stream = stream
        self._max_batch = max_batch
        self._write_timeout = write_timeout
        self._fail_closed = fail_closed
        self._sinks = tuple(sinks)
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._accepting = False

    @classmethod
    def from_settings(
        cls, store: AuditStore, settings: AuditSettings, *, extra_sinks: Sequence[RecordSink] = ()
    ) -> AuditWriter:
        """A writer configured by the ``[audit]`` section, plus sinks built elsewhere (OpenTelemetry logs)."""
        sinks = [*([JsonlSink(settings.jsonl_path)] if settings.jsonl_path is not None else []), *extra_sinks]
        return cls(
            store,
            stream=settings.stream,
            max_batch=settings.max_batch,
            write_timeout=settings.write_timeout_seconds,
            fail_closed=settings.fail_closed,
            sinks=sinks,
        )

    async def start(self) -> None:
        """Start committing (call from the application's lifespan, on its event loop; again after :meth:`stop`)."""
        if self._task is not None and not self._task.done():
            raise RuntimeError("the audit writer was already started")
        if not self._fail_closed:
            log.warning("audit_fail_open", detail="requests run even when their audit event cannot be written")
        self._task = asyncio.create_task(self._drain(), name="audit-writer")
        self._task.add_done_callback(self._drained)
        self._accepting = True

    async def stop(self) -> None:
        """Stop accepting events, commit every event already accepted, then end."""
        self._accepting = False
        if self._task is None:
            return
        self._queue.put_nowait(_STOP)
        await asyncio.wait([self._task])
        self._task = None

    def dispose(self) -> None:
        """Release the store's own connections (after :meth:`stop`)."""
        self._store.dispose()

    async def record(self, event: AuditEvent) -> None:
        """Return once ``event`` is committed.

        Raises:
            AuditUnavailable: it was not committed (store down, timed out, writer not running) and the writer
                fails closed.
        """
        if not self._accepting or self._task is None or self._task.done():
            self._failed(AuditUnavailable("audit writer is not running"), events=1)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((event, future))
        try:
            await future
        except AuditUnavailable as exc:
            if self._fail_closed:
                raise
            log.error("audit_event_dropped", kind=event.kind, error=str(exc))

    def _failed(self, exc: AuditUnavailable, *, events: int) -> None:
        if self._fail_closed:
            raise exc
        log.error("audit_event_dropped", events=events, error=str(exc))

    async def _drain(self) -> None:
        while (first := await self._queue.get()) is not _STOP:
            batch = [first]
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is _STOP:
                    await self._commit(batch)
                    return
                batch.append(item)
            await self._commit(batch)

    def _drained(self, task: asyncio.Task[None]) -> None:
        # The drain task only ends early through a bug; then nothing accepted may wait forever for it.
        self._accepting = False
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("audit_writer_crashed", exc_info=exc)
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not _STOP:
                _refuse(item[1], self._stream)

    async def _commit(self, batch: list[_Pending]) -> None:
        futures = [future for _, future in batch]
        events = [event for event, _ in batch]
        append = asyncio.create_task(self._store.append(events, stream=self._stream))
        records = []
        try:
            # Not asyncio.timeout: a database driver blocked in its own thread (SQLite waiting out busy_timeout)
            # cannot be cancelled, and cancelling would make the callers wait for it anyway. They are refused on
            # time instead; the append finishes (or fails) in the background before the next batch starts.
            done, _ = await asyncio.wait({append}, timeout=self._write_timeout)
            if not done:
                log.error("audit_write_failed", stream=self._stream, events=len(batch), error="TimeoutError")
                for future in futures:
                    _refuse(future, self._stream)
                await asyncio.wait({append})
            try:
                records = append.result()
            except AuditUnavailable as exc:
                log.error("audit_write_failed", stream=self._stream, events=len(batch), error=type(exc).__name__)
            else:
                for future in futures:
                    if not future.done():
                        future.set_result(None)
        finally:
            # Whatever happened (even a bug), no caller waits forever: unless committed, it is refused.
            for future in futures:
                _refuse(future, self._stream)
        for sink in self._sinks if records else ():
            try:
                await sink.write(records)
            except OSError as exc:
                log.error("audit_sink_failed", sink=type(sink).__name__, error=type(exc).__name__)


def _refuse(future: asyncio.Future[None], stream: str) -> None:
    if not future.done():
        future.set_exception(AuditUnavailable(f"audit store unavailable: stream {stream!r}"))
