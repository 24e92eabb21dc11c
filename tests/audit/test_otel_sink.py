"""The OpenTelemetry log export: one log record per committed audit record, joined to its trace, never fatal."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext
from structlog.testing import capture_logs

from drawbridge.audit import AuditQuery, AuditRecord, AuditStore, AuditWriter
from drawbridge.audit.otel import OtelLogSink, otlp_log_sink
from drawbridge.masking import Masker, MaskingRules
from drawbridge.testing import FrozenClock
from tests.audit.factory import tool_call

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def exporter() -> InMemoryLogRecordExporter:
    return InMemoryLogRecordExporter()


@pytest.fixture
def provider(exporter: InMemoryLogRecordExporter) -> Iterator[LoggerProvider]:
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
async def writer(store: AuditStore, provider: LoggerProvider) -> AsyncIterator[AuditWriter]:
    writer = AuditWriter(store, sinks=[OtelLogSink(provider)])
    await writer.start()
    yield writer
    await writer.stop()


def _record(clock: FrozenClock, *, seq: int = 1, **changes: Any) -> AuditRecord:
    return AuditRecord(stream="main", seq=seq, event=tool_call(clock, **changes), prev_hash="0" * 64, hash="a" * 64)


def _logs(exporter: InMemoryLogRecordExporter) -> list[ReadableLogRecord]:
    return list(exporter.get_finished_logs())


def _attributes(log: ReadableLogRecord) -> dict[str, Any]:
    return dict(log.log_record.attributes or {})


async def test_each_committed_record_becomes_one_log_record_with_every_column(
    writer: AuditWriter, store: AuditStore, exporter: InMemoryLogRecordExporter, clock: FrozenClock
) -> None:
    clock.advance(0.123456)
    arguments, report = Masker(MaskingRules()).mask_json(
        {"order_id": 7, "contact": "jane.doe@example.com", "tags": ["gift", 2]}
    )
    assert report.total == 1
    await writer.record(
        tool_call(
            clock,
            target="check_order_status",
            arguments=arguments,
            session_id="s-1",
            reason="policy.read_orders",
            result_digest="b" * 64,
            result_size=42,
            latency_ms=12.5,
            trace_id=TRACE_ID,
            detail={"masked": {"email": 1}, "scopes": ["orders:read"]},
        )
    )
    [stored] = await store.search(AuditQuery())

    [exported] = _logs(exporter)
    log_record = exported.log_record
    assert log_record.body == "mcp.tools_call check_order_status ok"
    assert log_record.event_name == "mcp.tools_call"
    assert log_record.severity_number == SeverityNumber.INFO
    assert log_record.severity_text == "INFO"
    assert log_record.timestamp == 1_800_000_000_123_456_000
    assert log_record.trace_id == int(TRACE_ID, 16)
    assert log_record.span_id == 0  # unknown: the event records only the trace
    attributes = _attributes(exported)
    assert attributes == {
        "event.name": "mcp.tools_call",
        "drawbridge.audit.stream": "main",
        "drawbridge.audit.seq": 1,
        "drawbridge.audit.kind": "mcp.tools_call",
        "drawbridge.audit.occurred_at": 1_800_000_000.123456,
        "drawbridge.audit.user_id": "u-1",
        "drawbridge.audit.username": "dana",
        "drawbridge.audit.client_id": "https://client.example/meta.json",
        "drawbridge.audit.client_kind": "cimd",
        "drawbridge.audit.session_id": "s-1",
        "drawbridge.audit.target": "check_order_status",
        "drawbridge.audit.arguments": '{"contact":"j***@example.com","order_id":7,"tags":["gift",2]}',
        "drawbridge.audit.decision": "allow",
        "drawbridge.audit.reason": "policy.read_orders",
        "drawbridge.audit.outcome": "ok",
        "drawbridge.audit.result_digest": "b" * 64,
        "drawbridge.audit.result_size": 42,
        "drawbridge.audit.latency_ms": 12.5,
        "drawbridge.audit.trace_id": TRACE_ID,
        "drawbridge.audit.detail": '{"masked":{"email":1},"scopes":["orders:read"]}',
        "drawbridge.audit.prev_hash": stored.prev_hash,
        "drawbridge.audit.hash": stored.hash,
    }
    assert json.loads(attributes["drawbridge.audit.arguments"]) == arguments
    assert not any("jane.doe" in str(value) for value in [log_record.body, *attributes.values()])
    [resource_logs] = encode_logs([exported]).resource_logs
    [wire] = resource_logs.scope_logs[0].log_records
    assert (wire.trace_id, wire.span_id, wire.event_name) == (bytes.fromhex(TRACE_ID), b"", "mcp.tools_call")


async def test_absent_columns_are_left_out_and_no_attribute_is_a_mapping_on_the_wire(
    provider: LoggerProvider, exporter: InMemoryLogRecordExporter, clock: FrozenClock
) -> None:
    failed_login = _record(
        clock, seq=1, kind="auth.login_failed", user_id=None, target=None, arguments=None, outcome="denied"
    )
    nested = _record(clock, seq=2, arguments={"order": {"id": 7, "lines": [{"sku": "A"}]}}, detail={"n": [1, 2]})

    await OtelLogSink(provider).write([failed_login, nested])

    exported = _logs(exporter)
    assert exported[0].log_record.body == "auth.login_failed denied"
    assert {"drawbridge.audit.user_id", "drawbridge.audit.target", "drawbridge.audit.arguments"}.isdisjoint(
        _attributes(exported[0])
    )
    assert _attributes(exported[0])["drawbridge.audit.detail"] == "{}"
    assert _attributes(exported[1])["drawbridge.audit.arguments"] == '{"order":{"id":7,"lines":[{"sku":"A"}]}}'
    [resource_logs] = encode_logs(exported).resource_logs
    [scope_logs] = resource_logs.scope_logs
    kinds = {kv.value.WhichOneof("value") for wire in scope_logs.log_records for kv in wire.attributes}
    assert kinds <= {"string_value", "int_value", "double_value", "bool_value"}


@pytest.mark.parametrize(
    ("event", "severity"),
    [
        ({"kind": "mcp.tools_call", "outcome": "ok"}, SeverityNumber.INFO),
        ({"kind": "mcp.tools_call", "outcome": "denied"}, SeverityNumber.WARN),
        ({"kind": "mcp.tools_call", "outcome": "error"}, SeverityNumber.WARN),
        ({"kind": "auth.login_failed", "outcome": "denied"}, SeverityNumber.WARN),
        ({"kind": "token.issued", "outcome": "ok"}, SeverityNumber.INFO),
        ({"kind": "token.refresh_reuse", "outcome": "ok"}, SeverityNumber.WARN),
    ],
)
async def test_denials_errors_and_refresh_token_reuse_are_warnings(
    provider: LoggerProvider,
    exporter: InMemoryLogRecordExporter,
    clock: FrozenClock,
    event: dict[str, Any],
    severity: SeverityNumber,
) -> None:
    await OtelLogSink(provider).write([_record(clock, **event)])

    [exported] = _logs(exporter)
    assert exported.log_record.severity_number == severity
    assert exported.log_record.severity_text == severity.name


async def test_log_records_carry_their_events_trace_not_the_writers(
    provider: LoggerProvider, exporter: InMemoryLogRecordExporter, clock: FrozenClock
) -> None:
    records = [
        _record(clock, seq=1, trace_id=TRACE_ID),
        _record(clock, seq=2, trace_id=None),
        _record(clock, seq=3, trace_id="not-a-w3c-trace-id"),
        _record(clock, seq=4, trace_id="0" * 32),
    ]
    writers_span = NonRecordingSpan(SpanContext(trace_id=0x1234, span_id=0x5678, is_remote=False))

    with trace.use_span(writers_span):
        await OtelLogSink(provider).write(records)

    exported = _logs(exporter)
    assert [log.log_record.trace_id for log in exported] == [int(TRACE_ID, 16), 0, 0, 0]
    assert [log.log_record.span_id for log in exported] == [0, 0, 0, 0]
    assert _attributes(exported[2])["drawbridge.audit.trace_id"] == "not-a-w3c-trace-id"


class FailingExporter(LogRecordExporter):
    """An exporter whose collector is unreachable."""

    def __init__(self) -> None:
        self.attempts = 0

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.attempts += 1
        raise ConnectionRefusedError("collector unreachable")

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class FailOnce(LogRecordProcessor):
    """A processor that raises on the first record it is given, as a buggy third-party processor might."""

    def __init__(self) -> None:
        self.failed = False

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("processor bug")

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


async def test_an_unreachable_collector_does_not_fail_the_write(clock: FrozenClock) -> None:
    exporter = FailingExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    try:
        await OtelLogSink(provider).write([_record(clock, seq=1), _record(clock, seq=2)])
    finally:
        provider.shutdown()
    assert exporter.attempts == 2


async def test_a_failing_processor_is_logged_and_later_records_still_go_out(
    store: AuditStore, exporter: InMemoryLogRecordExporter, clock: FrozenClock
) -> None:
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(FailOnce())
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    writer = AuditWriter(store, sinks=[OtelLogSink(provider)])
    await writer.start()
    try:
        with capture_logs() as logs:
            await writer.record(tool_call(clock, 1))
            await writer.record(tool_call(clock, 2))
    finally:
        await writer.stop()
        provider.shutdown()

    assert [r.seq for r in await store.search(AuditQuery())] == [1, 2]
    assert [_attributes(log)["drawbridge.audit.seq"] for log in _logs(exporter)] == [2]
    failures = [entry for entry in logs if entry["event"] == "audit_sink_failed"]
    assert failures == [
        {
            "event": "audit_sink_failed",
            "log_level": "error",
            "sink": "OtelLogSink",
            "stream": "main",
            "seq": 1,
            "error": "RuntimeError",
        }
    ]


async def test_otlp_log_sink_names_the_service_and_shuts_down_cleanly() -> None:
    sink, provider = otlp_log_sink("http://127.0.0.1:4318/", "drawbridge-test")
    try:
        assert isinstance(sink, OtelLogSink)
        assert provider.resource.attributes["service.name"] == "drawbridge-test"
    finally:
        provider.shutdown()
