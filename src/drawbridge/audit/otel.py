"""OpenTelemetry log export: a copy of each committed audit record, as one OTel log record, for a log backend.

The copy is for search and correlation next to the request's trace (the log record carries the event's trace id),
and, since it holds every column with both hashes, it is also a witness kept outside the database, like the
JSON-lines sink. It holds what the audit row holds: user ids and arguments that were masked before the event was
recorded, never raw values. It is best effort: a failed export is logged and never refuses a request (the
database row is the record of truth, and it has already committed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry._logs import LoggerProvider as APILoggerProvider
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import INVALID_SPAN, INVALID_SPAN_ID, NonRecordingSpan, SpanContext
from opentelemetry.util.types import AttributeValue

from drawbridge.audit.store import AuditRecord

log = structlog.get_logger(__name__)

ATTRIBUTE_PREFIX = "drawbridge.audit."
"""Each column of the record becomes the attribute ``drawbridge.audit.<column>`` (names as in ``as_dict()``)."""

_JSON_COLUMNS = frozenset({"arguments", "detail"})
_WARN_OUTCOMES = frozenset({"denied", "error"})
_WARN_KINDS = frozenset({"token.refresh_reuse"})
_TRACE_ID = re.compile(r"[0-9a-f]{32}")


class OtelLogSink:
    """A :class:`~drawbridge.audit.sinks.RecordSink` emitting one OpenTelemetry log record per committed record.

    Each log record has the body ``"<kind> [<target>] <outcome>"``, the event name (and attribute ``event.name``)
    ``kind``, every column as an attribute (see :data:`ATTRIBUTE_PREFIX`; ``arguments`` and ``detail`` as compact
    JSON strings, absent values left out), severity WARN for denied or failed outcomes and refresh-token reuse and
    INFO otherwise, the event's time as its timestamp, and the event's trace id, so backends join it to the trace.

    Args:
        provider: where log records go. It is not installed globally, and the caller shuts it down.
    """

    def __init__(self, provider: APILoggerProvider) -> None:
        self._logger = provider.get_logger("drawbridge.audit")

    async def write(self, records: Sequence[AuditRecord]) -> None:
        for record in records:
            # Processors are third-party code and may raise anything. The writer runs sinks on its drain task and
            # tolerates only OSError; anything else would end that task, and a fail-closed writer would then refuse
            # every request because a best-effort copy failed. So: log, and go on with the next record.
            try:
                self._emit(record)
            except Exception as exc:  # noqa: BLE001 - see above: the writer must outlive a failed export
                log.error(
                    "audit_sink_failed",
                    sink=type(self).__name__,
                    stream=record.stream,
                    seq=record.seq,
                    error=type(exc).__name__,
                )

    def _emit(self, record: AuditRecord) -> None:
        event = record.event
        warn = event.outcome in _WARN_OUTCOMES or event.kind in _WARN_KINDS
        self._logger.emit(
            timestamp=_nanoseconds(event.occurred_at),
            context=_trace_context(event.trace_id),
            severity_number=SeverityNumber.WARN if warn else SeverityNumber.INFO,
            severity_text="WARN" if warn else "INFO",
            body=" ".join(part for part in (event.kind, event.target, event.outcome) if part),
            attributes=_attributes(record),
            event_name=event.kind,
        )


def _attributes(record: AuditRecord) -> dict[str, AttributeValue]:
    """The OTel attributes for ``record``: ``event.name`` and each column that has a value, as described above."""
    result: dict[str, AttributeValue] = {"event.name": record.event.kind}
    for name, value in record.as_dict().items():
        if value is not None:
            result[ATTRIBUTE_PREFIX + name] = _attribute_value(name, value)
    return result


def otlp_log_sink(endpoint: str, service_name: str) -> tuple[OtelLogSink, LoggerProvider]:
    """A sink exporting over OTLP/HTTP to ``<endpoint>/v1/logs`` in batches, and its provider.

    The caller shuts the provider down after the writer has stopped: that flushes the records still queued.

    Args:
        endpoint: the collector's base URL, e.g. ``http://otel-collector:4318`` (``[telemetry] otlp_endpoint``).
        service_name: the ``service.name`` resource attribute.
    """
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    provider = LoggerProvider(resource=Resource.create({"service.name": service_name}), shutdown_on_exit=False)
    exporter = OTLPLogExporter(endpoint=endpoint.rstrip("/") + "/v1/logs")
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    return OtelLogSink(provider), provider


def _attribute_value(name: str, value: Any) -> AttributeValue:
    # Each attribute keeps one type across records (backends with typed fields reject a key that changes type),
    # so the free-form JSON columns are always strings, whatever value they hold.
    if name in _JSON_COLUMNS:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    if isinstance(value, str | bool | int | float):
        return value
    return str(value)


def _nanoseconds(seconds: float) -> int:
    # Whole microseconds: a float of Unix seconds resolves about a quarter of one, so finer digits would be noise.
    return round(seconds * 1_000_000) * 1_000


def _trace_context(trace_id: str | None) -> Context:
    # Always a context holding a span, even an invalid one: given none (or an empty one) the SDK takes the current
    # span's trace, which is the writer task's, not the event's request. The span id is unknown (the event records
    # only the trace), so it stays invalid.
    span = INVALID_SPAN
    if trace_id is not None and _TRACE_ID.fullmatch(trace_id) and int(trace_id, 16):
        span = NonRecordingSpan(SpanContext(trace_id=int(trace_id, 16), span_id=INVALID_SPAN_ID, is_remote=True))
    return trace.set_span_in_context(span, Context())
